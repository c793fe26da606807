"""Errors that the CLI turns into one clear line and a non-zero exit."""


class RlsubError(Exception):
    """Base class: a problem with the user's input or files, reported without a traceback."""


class ConfigError(RlsubError):
    """Invalid configuration: unknown env/method/projection, bad dimension, malformed file."""


class StoreError(RlsubError):
    """The results database cannot be used (corrupted, not writable, wrong schema)."""


class SolutionError(RlsubError):
    """A solution file is missing, corrupted or inconsistent."""


class NonFiniteReturn(RlsubError):
    """An environment produced a NaN or infinite reward (or observation: see NonFiniteObservation)."""


class NonFiniteObservation(NonFiniteReturn):
    """An environment produced a NaN or infinite observation. A subclass of NonFiniteReturn so that every
    path that ends a trial on a non-finite reward ends it the same way on a non-finite observation."""
