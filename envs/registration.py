"""Register envs described by TOML tables (``[[envs]]`` in a sweep file, or stored with a trial)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from rlsub.errors import ConfigError

from .plugin import _import_attr, resolve_wrapper
from .presets import PRESETS, EnvPreset
from .resolve import resolve_env

# -- TOML registration ---------------------------------------------------------------------
_PRESET_KEYS = {
    "family", "hidden", "activation", "max_episode_steps", "solved_threshold", "return_low",
    "return_best", "budget", "episodes", "description",
}
_KNOWN_KEYS = {"id", "entry_point", "base", "kwargs", "wrappers", "check"} | _PRESET_KEYS


def register_from_config(table: dict[str, Any]) -> str:
    """Register an env described by one TOML table; returns the name to pass as ``--env``.

    Schema (one ``[[envs]]`` array element, or any table the CLI hands over)::

        [[envs]]
        id = "PointMassSlow-v0"        # required: the new name (a Gymnasium id; no ':')
        # exactly one of:
        entry_point = "rlsub.envs.point_mass:PointMassEnv"   # a gym.Env class / factory
        base = "CartPole-v1"                                  # an existing id, preset or module:Class
        kwargs = { max_steps = 200 }   # passed to the constructor / gym.make
        wrappers = [                   # applied in order; name: gymnasium.wrappers name,
            { name = "ClipAction" },   #   'module:attr' or dotted path
            { name = "gymnasium.wrappers.TimeAwareObservation", kwargs = { flatten = true } },
        ]
        max_episode_steps = 200        # episode cap (default: the base's, else 10,000)
        family = "mlp"                 # optional: "mlp" or "cnn" (default: from the spaces)
        hidden = [64, 64]              # optional policy sizes / activation for that family
        activation = "tanh"
        return_low = -107.0            # optional d_int normalisation: worst return,
        return_best = -6.0             #   documented best return,
        solved_threshold = -15.0       #   and the early-stop threshold
        budget = 100000                # optional default env-step budget and
        episodes = 2                   #   training episodes per member
        check = true                   # run Gymnasium's env checker once (default true)
        description = "..."

    Re-registering the same id with the same table is a no-op; a different table is a ConfigError.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"env registration must be a table, got {type(table).__name__}")
    unknown = set(table) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(f"env registration: unknown keys {sorted(unknown)}; allowed: {sorted(_KNOWN_KEYS)}")
    env_name = table.get("id")
    if not isinstance(env_name, str) or not env_name or ":" in env_name:
        raise ConfigError(f"env registration needs an 'id' string without ':', got {env_name!r}")
    if ("entry_point" in table) == ("base" in table):
        raise ConfigError(f"env registration {env_name!r}: give exactly one of 'entry_point' or 'base'")
    kwargs = table.get("kwargs", {}) or {}
    if not isinstance(kwargs, dict):
        raise ConfigError(f"env registration {env_name!r}: 'kwargs' must be a table")
    wrappers = _parse_wrappers(env_name, table.get("wrappers", []))
    for name, _ in wrappers:
        resolve_wrapper(name)  # fail at registration, not at the first episode

    base_preset: EnvPreset | None = None
    if "entry_point" in table:
        entry = table["entry_point"]
        if not isinstance(entry, str):
            raise ConfigError(f"env registration {env_name!r}: 'entry_point' must be a 'module:Name' string")
        factory = _import_attr(entry, "entry_point")
        if not callable(factory):
            raise ConfigError(f"env registration {env_name!r}: entry point {entry!r} is not callable")
        env_id, make_kwargs = env_name, {}
    else:
        base_preset = resolve_env(str(table["base"]), validate=False).preset
        env_id, make_kwargs = base_preset.env_id, {**base_preset.make_kwargs, **kwargs}
        if base_preset.atari is not None and kwargs:
            raise ConfigError(f"env registration {env_name!r}: kwargs are not supported on Atari bases")

    fields: dict[str, Any] = {}
    if base_preset is not None:
        fields = {k: getattr(base_preset, k) for k in _PRESET_KEYS if k != "description"}
        fields.update(atari=base_preset.atari, wrappers=base_preset.wrappers, check=base_preset.check)
        wrappers = base_preset.wrappers + wrappers
    for k in _PRESET_KEYS:
        if k in table:
            fields[k] = tuple(table[k]) if k == "hidden" else table[k]
    fields["wrappers"] = wrappers
    fields["check"] = bool(table.get("check", True))
    if fields.get("family") not in (None, "mlp", "cnn"):
        raise ConfigError(f"env registration {env_name!r}: family must be 'mlp' or 'cnn', got {fields['family']!r}")
    try:
        preset = EnvPreset(name=env_name, env_id=env_id, make_kwargs=make_kwargs, **fields)
    except TypeError as e:
        raise ConfigError(f"env registration {env_name!r}: {e}") from None

    existing = PRESETS.get(env_name)
    if existing is None and env_name in gym.registry:
        raise ConfigError(f"env registration {env_name!r}: that id already names a Gymnasium env; pick a new id")
    if existing is not None:
        if existing == preset:
            return env_name
        raise ConfigError(f"env {env_name!r} is already registered with a different configuration")
    if "entry_point" in table:
        try:
            gym.register(id=env_name, entry_point=factory, kwargs=dict(kwargs),
                         max_episode_steps=table.get("max_episode_steps"))
        except gym.error.Error as e:
            raise ConfigError(f"env registration {env_name!r}: {e}") from None
    PRESETS[env_name] = preset
    return env_name


def _parse_wrappers(env_name: str, raw: Any) -> tuple[tuple[str, dict[str, Any]], ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"env registration {env_name!r}: 'wrappers' must be an array of tables")
    out = []
    for w in raw:
        if isinstance(w, str):
            w = {"name": w}
        if not isinstance(w, dict) or not isinstance(w.get("name"), str) or set(w) - {"name", "kwargs"}:
            raise ConfigError(
                f"env registration {env_name!r}: each wrapper is {{ name = '...', kwargs = {{...}} }}, got {w!r}"
            )
        out.append((w["name"], dict(w.get("kwargs", {}) or {})))
    return tuple(out)



__all__ = ["register_from_config"]
