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
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from rlsub.errors import ConfigError
from rlsub.utils.console import plain

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


# -- optional dependencies -----------------------------------------------------------------
#: Gymnasium env families with optional dependencies: entry-point prefix → (what, how to install it).
_OPTIONAL_DEPENDENCIES = {
    "gymnasium.envs.box2d": ("Box2D", "pip install swig, then pip install 'gymnasium[box2d]'"),
    "gymnasium.envs.mujoco": ("MuJoCo", "pip install 'gymnasium[mujoco]'"),
}


def make_gym(env_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make``, with a missing optional dependency (Box2D, MuJoCo, ...) raised as one ConfigError
    naming what to install instead of an import traceback."""
    try:
        entry = gym.spec(env_id).entry_point
        if isinstance(entry, str) and entry.startswith("gymnasium.envs.mujoco"):
            _mujoco_warnings_once()
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as e:
        entry = gym.spec(env_id).entry_point
        for prefix, (what, how) in _OPTIONAL_DEPENDENCIES.items():
            if isinstance(entry, str) and entry.startswith(prefix):
                raise ConfigError(f"{env_id} needs {what}: {how}") from None
        raise ConfigError(f"{env_id} needs a package that is not installed: {plain(str(e))}") from None


def _mujoco_warnings_once() -> None:
    """Route MuJoCo's warnings through Python's ``warnings``, which show each once per process.

    MuJoCo prints a compiler warning on every model compile (Gymnasium's half_cheetah.xml: "'settotalmass' is
    deprecated"), and a sweep compiles one model per env copy: hundreds of identical lines. A handler someone
    else installed is left alone."""
    try:
        import mujoco
    except ImportError:  # make_gym's own error names what to install
        return
    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(lambda msg: warnings.warn(f"MuJoCo: {msg}", RuntimeWarning, stacklevel=1))


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
    except ConfigError:  # already says what is wrong (a missing dependency)
        raise
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
    for message in dict.fromkeys(plain(str(w.message)) for w in caught):
        if not any(a in message for a in _ADVISORY):
            log.warning("env checker (%s): %s", key, message)
    _CHECKED.add(key)


#: Checker remarks that do not change what a trial measures (not shown).
_ADVISORY = (
    "recommend using a symmetric and normalized",
    "render_mode",
    "render method",
    "`np.bool_`",
    "lower than float32",
)



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


__all__ = [
    "BoundAction", "FlattenAction", "apply_wrappers", "check_env_once", "check_spaces", "load_plugin", "plugin_id",
    "resolve_wrapper",
]
