"""Environment presets and the resolver from ``--env`` strings to tasks."""

from .presets import PRESETS, EnvPreset
from .task import EnvTask, resolve_env

__all__ = ["PRESETS", "EnvPreset", "EnvTask", "resolve_env"]
