"""Environments only: presets, wrappers, batched copies, Atari, plug-ins, and the resolver from
``--env`` strings to envs (``EnvFactory``).

``--env`` takes a preset name (``rlsub envs`` lists them), any registered Gymnasium id (ALE ids
get the standard Atari preprocessing), or ``module.path:ClassName``; ``register_from_config``
registers envs described in a TOML sweep config. Nothing here knows how an env is trained or
measured: that is [`rlsub.tasks.rl`][rlsub.tasks.rl] (imports point from the core down to this package, never back).
"""

from . import point_mass  # registers rlsub/PointMass-v0
from .atari import atari_preset, make_atari, make_atari_vec
from .plugin import FlattenAction, check_spaces, load_plugin
from .presets import ATARI_RETURN_RANGES, PRESETS, AtariSettings, EnvPreset
from .registration import register_from_config
from .resolve import DEFAULT_MAX_EPISODE_STEPS, EnvFactory, resolve_env

__all__ = [
    "ATARI_RETURN_RANGES", "DEFAULT_MAX_EPISODE_STEPS", "PRESETS", "AtariSettings", "EnvFactory", "EnvPreset", "FlattenAction",
    "atari_preset", "check_spaces", "load_plugin", "make_atari", "make_atari_vec", "point_mass",
    "register_from_config", "resolve_env",
]
