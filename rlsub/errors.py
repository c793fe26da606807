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
    """An environment produced a NaN or infinite reward."""
