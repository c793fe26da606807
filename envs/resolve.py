"""Resolve an ``--env`` string into an ``EnvFactory``: a preset, a Gymnasium id or ``module.path:Class``.

An ``EnvFactory`` is an environment only: the preset (id, episode cap, wrappers, Atari settings,
return range) and how to make one env or vectorised copies. What turns it into a measurable task
(policy choice, running a method, lockstep) is [`rlsub.tasks.rl.EnvTask`][rlsub.tasks.rl.EnvTask], which extends it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, TypeVar

import gymnasium as gym

from rlsub.errors import ConfigError

from .atari import atari_preset, is_atari, make_atari, make_atari_vec, register_ale
from .cartpole_batch import CartPoleBatch
from .plugin import apply_wrappers, check_env_once, check_spaces, load_plugin, make_gym
from .presets import PRESETS, EnvPreset

#: Entry point of Gymnasium's CartPole (v0 and v1), whose copies ``CartPoleBatch`` steps with their own seeds.
_CARTPOLE = "gymnasium.envs.classic_control.cartpole:CartPoleEnv"

#: Cap for envs that register no TimeLimit, so that an evaluation always ends.
DEFAULT_MAX_EPISODE_STEPS = 10_000

#: Entry points of envs that ship with Gymnasium / ale-py: trusted, never run through the checker.
_TRUSTED_ENTRY_PREFIXES = ("gymnasium.", "ale_py.", "shimmy.")


def _register_optional_envs() -> None:
    try:
        register_ale()
    except ConfigError:  # pragma: no cover - ale-py is a dependency, but keep going without it
        pass


@dataclass
class EnvFactory:
    """A resolved ``--env``: the preset's metadata (defaults when no preset) and how to make the env."""

    name: str
    preset: EnvPreset
    make_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def env_id(self) -> str:
        return self.preset.env_id

    @property
    def max_episode_steps(self) -> int:
        if self.preset.max_episode_steps:
            return self.preset.max_episode_steps
        spec = gym.spec(self.env_id)
        return spec.max_episode_steps or DEFAULT_MAX_EPISODE_STEPS

    @property
    def revision(self) -> int:
        """The preset's protocol revision (``EnvPreset.revision``)."""
        return self.preset.revision

    def settings(self) -> dict[str, Any]:
        """Everything that defines the game played (record it with a trial): id, episode cap,
        make kwargs, wrappers and, for Atari, preprocessing and sticky actions."""
        p = self.preset
        out: dict[str, Any] = {
            "env_id": p.env_id,
            "max_episode_steps": self.max_episode_steps,
            "make_kwargs": {**p.make_kwargs, **self.make_kwargs},
        }
        if p.wrappers:
            out["wrappers"] = [[n, dict(kw)] for n, kw in p.wrappers]
        if p.atari is not None:
            out["atari"] = p.atari.to_dict()
        return out

    def make(self, **kwargs: Any) -> gym.Env:
        """One environment instance (with the preset's episode cap and wrappers)."""
        kw = {**self.preset.make_kwargs, **self.make_kwargs, **kwargs}
        if self.preset.atari is not None:
            env = make_atari(self.env_id, self.preset.atari, self.max_episode_steps, **kw)
        else:
            env = make_gym(self.env_id, max_episode_steps=self.max_episode_steps, **kw)
        return apply_wrappers(env, self.preset.wrappers)

    def make_vec(self, num_envs: int) -> gym.vector.VectorEnv:
        """``num_envs`` copies stepped together, NEXT_STEP autoreset.

        Atari: one ``AtariVectorEnv`` (C++ threads) configured like ``make``. Otherwise the env's own
        vectorised version when it has one and nothing is customised, else a SyncVectorEnv.
        """
        kw = {**self.preset.make_kwargs, **self.make_kwargs}
        if self.preset.atari is not None and not self.preset.wrappers and not kw:
            return make_atari_vec(self.preset.atari, num_envs, self.max_episode_steps)
        spec = gym.spec(self.env_id)
        if spec.entry_point == _CARTPOLE and not kw and not self.preset.wrappers:
            # Gymnasium's CartPoleVectorEnv draws every copy's start from one shared RNG, so an episode
            # would depend on the batch around it; CartPoleBatch seeds copy i with seed + i.
            return CartPoleBatch(num_envs, self.max_episode_steps)
        if (spec.vector_entry_point is not None and not kw and not self.preset.wrappers
                and self.preset.atari is None):
            return gym.make_vec(
                self.env_id,
                num_envs=num_envs,
                vectorization_mode="vector_entry_point",
                max_episode_steps=self.max_episode_steps,
            )
        return gym.vector.SyncVectorEnv(
            [self.make for _ in range(num_envs)], autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP
        )

    @cached_property
    def spaces(self) -> tuple[gym.Space, gym.Space]:
        env = self.make()
        try:
            return env.observation_space, env.action_space
        finally:
            env.close()


def _needs_check(env_id: str) -> bool:
    try:
        entry = gym.spec(env_id).entry_point
    except gym.error.Error:
        return False
    if not isinstance(entry, str):
        return True
    return not entry.startswith(_TRUSTED_ENTRY_PREFIXES)


#: What ``resolve_env`` builds: ``EnvFactory`` or an extension of it (``rlsub.tasks.rl.EnvTask``).
EnvT = TypeVar("EnvT", bound=EnvFactory)


def resolve_env(name: str, validate: bool = True, cls: type[EnvT] = EnvFactory) -> EnvT:  # type: ignore[assignment]
    """Turn a preset name, Gymnasium id or ``module.path:Class`` into a ``cls`` (an EnvFactory).

    Unknown names, unimportable plug-ins, envs failing Gymnasium's checker and (``validate``)
    unsupported observation/action spaces of plugged-in envs raise ConfigError. ``validate=False``
    resolves a base that wrappers will fix (TOML registrations).
    """
    _register_optional_envs()
    if name in PRESETS:
        preset = PRESETS[name]
        env = cls(name, preset)
        if preset.check:
            check_env_once(name, env.make)
            if validate:
                check_spaces(*env.spaces, name)
        return env
    try:
        gym.spec(name)
        known_id = ":" not in name
    except (gym.error.Error, ImportError) as e:
        known_id, err = False, e
    if known_id:
        if is_atari(name):
            return cls(name, atari_preset(name))
        env = cls(name, EnvPreset(name=name, env_id=name))
        if _needs_check(name):
            env = cls(name, replace(env.preset, check=True))
            check_env_once(name, env.make)
            if validate:
                check_spaces(*env.spaces, name)
        return env
    if ":" in name:
        env_id = load_plugin(name)
        if is_atari(env_id):
            return cls(name, atari_preset(env_id, name))
        env = cls(name, EnvPreset(name=name, env_id=env_id, check=True))
        check_env_once(name, env.make)
        if validate:
            check_spaces(*env.spaces, name)
        return env
    known = list(dict.fromkeys([*PRESETS, *gym.registry]))
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ConfigError(f"unknown environment {name!r}: {err}{hint}") from None


__all__ = ["DEFAULT_MAX_EPISODE_STEPS", "EnvFactory", "resolve_env"]
