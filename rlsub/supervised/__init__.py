"""The machinery of supervised tasks: datasets, classifiers, the training recipe and its loop."""
