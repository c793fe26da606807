"""Bring your own environment: ``module.path:ClassName`` ids, TOML registrations, space checks.

``--env`` accepts, in this order: a preset name, a registered Gymnasium id, Gymnasium's own
``module:EnvId`` form (importing ``module`` registers ``EnvId``), or ``module.path:ClassName``
(any ``gym.Env`` subclass or factory, registered on the fly as ``rlsub-plugin/module.path.ClassName``).
Plugged-in envs go through Gymnasium's env checker once per process; problems become ConfigError.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from typing import Any
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from rlsub.errors import ConfigError

from .presets import PRESETS, EnvPreset

log = logging.getLogger(__name__)

PLUGIN_NAMESPACE = "rlsub-plugin"
_CHECKED: set[str] = set()


# -- module:Class --------------------------------------------------------------------------
def _import_attr(path: str, what: str) -> Any:
    """``module.path:attr`` or ``module.path.attr`` → the object (ConfigError when missing)."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"{what} {path!r}: expected 'module.path:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"{what} {path!r}: cannot import module {module_name!r} ({e})") from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            public = [n for n in dir(module) if not n.startswith("_")]
            raise ConfigError(
                f"{what} {path!r}: module {module_name!r} has no attribute {attr!r} "
                f"(it has: {', '.join(public[:20])})"
            ) from None
    return obj


def plugin_id(path: str) -> str:
    """The Gymnasium id under which ``module.path:ClassName`` is registered (no ':' allowed in ids)."""
    return f"{PLUGIN_NAMESPACE}/{path.replace(':', '.')}"


def load_plugin(path: str) -> str:
    """Resolve ``module:Name`` to a registered Gymnasium id, importing and registering as needed.

    ``Name`` may be an id that importing ``module`` registered (Gymnasium's convention), or a
    ``gym.Env`` subclass / factory in ``module`` that gets registered here.
    """
    module_name, _, attr = path.partition(":")
    env_id = plugin_id(path)
    if env_id in gym.registry:
        return env_id
    obj = None
    try:
        obj = _import_attr(path, "environment")
    except ConfigError:
        if attr in gym.registry:  # "module:EnvId": the import registered the id
            return attr
        raise
    if not callable(obj):
        raise ConfigError(f"environment {path!r} is a {type(obj).__name__}, not a gym.Env class or factory")
    gym.register(id=env_id, entry_point=obj)
    return env_id


# -- env checker ---------------------------------------------------------------------------
def check_env_once(key: str, make: Callable[[], gym.Env]) -> None:
    """Run ``gymnasium.utils.env_checker.check_env`` on a fresh env once per process.

    Failures raise ConfigError naming the env and the checker's message; checker warnings are
    logged (many are advisory, e.g. float64 observations).
    """
    if key in _CHECKED:
        return
    from gymnasium.utils.env_checker import check_env

    try:
        env = make()
    except Exception as e:
        raise ConfigError(f"environment {key!r} could not be created: {type(e).__name__}: {e}") from None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped, skip_render_check=True, skip_close_check=True)
    except Exception as e:
        raise ConfigError(
            f"environment {key!r} fails Gymnasium's env checker: {type(e).__name__}: {e}"
        ) from None
    finally:
        env.close()
    for w in caught:
        log.warning("env checker (%s): %s", key, w.message)
    _CHECKED.add(key)


# -- spaces --------------------------------------------------------------------------------
_OBS_WRAPPER = "gymnasium.wrappers.FlattenObservation"
_ACT_WRAPPER = "rlsub.envs.plugin:FlattenAction"


def check_spaces(obs_space: gym.Space, act_space: gym.Space, name: str) -> None:
    """ConfigError naming the space and the wrapper to use when rlsub cannot handle a space."""
    if not isinstance(obs_space, gym.spaces.Box):
        kind = type(obs_space).__name__
        raise ConfigError(
            f"{name}: unsupported observation space {kind} ({obs_space}); rlsub policies take Box "
            f"observations: add the wrapper {_OBS_WRAPPER} (one-hot for Discrete/MultiDiscrete, "
            "concatenation for Dict/Tuple)"
        )
    if not np.issubdtype(obs_space.dtype, np.number):
        raise ConfigError(f"{name}: observation Box has non-numeric dtype {obs_space.dtype}")
    if isinstance(act_space, gym.spaces.Discrete):
        return
    if isinstance(act_space, gym.spaces.Box):
        if not (np.all(np.isfinite(act_space.low)) and np.all(np.isfinite(act_space.high))):
            raise ConfigError(
                f"{name}: action space Box {act_space} is unbounded; the tanh head needs finite bounds: "
                "add the wrapper rlsub.envs.plugin:BoundAction (kwargs low, high)"
            )
        return
    kind = type(act_space).__name__
    raise ConfigError(
        f"{name}: unsupported action space {kind} ({act_space}); rlsub policies output Discrete or Box "
        f"actions: add the wrapper {_ACT_WRAPPER} (MultiBinary/MultiDiscrete → Discrete, "
        "Dict/Tuple of Boxes → Box)"
    )


class FlattenAction(gym.ActionWrapper):
    """Expose an action space rlsub supports.

    MultiBinary(n) / MultiDiscrete(nvec) → Discrete(∏ sizes) (every combination; at most
    ``max_actions``); Dict / Tuple whose leaves are all Box → one flat Box.
    """

    def __init__(self, env: gym.Env, max_actions: int = 4096) -> None:
        super().__init__(env)
        space = env.action_space
        self._kind: str
        if isinstance(space, (gym.spaces.MultiBinary, gym.spaces.MultiDiscrete)):
            nvec = np.full(int(np.prod(space.shape)), 2) if isinstance(space, gym.spaces.MultiBinary) else np.asarray(space.nvec).ravel()
            total = int(np.prod(nvec))
            if total > max_actions:
                raise ConfigError(
                    f"FlattenAction: {space} has {total} action combinations (> max_actions={max_actions})"
                )
            self._nvec = nvec
            self._kind = "combo"
            self.action_space = gym.spaces.Discrete(total)
        elif isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
            leaves = list(_leaves(space))
            if not all(isinstance(s, gym.spaces.Box) for s in leaves):
                raise ConfigError(
                    f"FlattenAction: {space} mixes discrete and continuous parts; write an ActionWrapper for it"
                )
            self._kind = "flat"
            self.action_space = gym.spaces.flatten_space(space)
        else:
            raise ConfigError(f"FlattenAction: nothing to flatten in {space}")

    def action(self, action: Any) -> Any:
        space = self.env.action_space
        if self._kind == "combo":
            digits = np.unravel_index(int(action), tuple(int(n) for n in self._nvec))
            out = np.asarray(digits, dtype=space.dtype).reshape(space.shape)
            return out
        return gym.spaces.unflatten(space, np.asarray(action, dtype=self.action_space.dtype))


class BoundAction(gym.ActionWrapper):
    """Declare finite bounds ``[low, high]`` on an unbounded Box action space (actions pass through).

    (``gymnasium.wrappers.ClipAction`` does the opposite: it widens the space to ±inf.)
    """

    def __init__(self, env: gym.Env, low: float = -1.0, high: float = 1.0) -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box):
            raise ConfigError(f"BoundAction: needs a Box action space, got {space}")
        if not low < high:
            raise ConfigError(f"BoundAction: need low < high, got {low}, {high}")
        self.action_space = gym.spaces.Box(float(low), float(high), space.shape, space.dtype)

    def action(self, action: Any) -> Any:
        return np.asarray(action, dtype=self.env.action_space.dtype)


def _leaves(space: gym.Space):
    if isinstance(space, gym.spaces.Dict):
        for s in space.spaces.values():
            yield from _leaves(s)
    elif isinstance(space, gym.spaces.Tuple):
        for s in space.spaces:
            yield from _leaves(s)
    else:
        yield space


# -- wrappers by name ----------------------------------------------------------------------
def resolve_wrapper(name: str) -> Callable[..., gym.Env]:
    """A wrapper class from ``gymnasium.wrappers`` (bare name), ``module:attr`` or a dotted path."""
    if ":" not in name and "." not in name:
        import gymnasium.wrappers as gw

        if not hasattr(gw, name):
            raise ConfigError(f"unknown wrapper {name!r}: not in gymnasium.wrappers; use 'module.path:Name'")
        return getattr(gw, name)
    obj = _import_attr(name, "wrapper")
    if not callable(obj):
        raise ConfigError(f"wrapper {name!r} is not callable")
    return obj


def apply_wrappers(env: gym.Env, wrappers: tuple[tuple[str, dict[str, Any]], ...]) -> gym.Env:
    """Apply ``(name, kwargs)`` wrappers in order."""
    for name, kwargs in wrappers:
        try:
            env = resolve_wrapper(name)(env, **kwargs)
        except ConfigError:
            raise
        except Exception as e:
            raise ConfigError(f"wrapper {name!r} with {kwargs} failed: {type(e).__name__}: {e}") from None
    return env


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
    from .task import resolve_env

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
        base_task = resolve_env(str(table["base"]), validate=False)
        base_preset = base_task.preset
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


__all__ = [
    "BoundAction", "FlattenAction", "apply_wrappers", "check_env_once", "check_spaces", "load_plugin", "plugin_id",
    "register_from_config", "resolve_wrapper",
]
