"""Helpers that import nothing else of rlsub: seeds, console output, optional imports."""
