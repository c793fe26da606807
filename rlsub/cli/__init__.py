"""The ``rlsub`` command line. Kept free of heavy imports: ``rlsub --help`` answers before torch loads."""
