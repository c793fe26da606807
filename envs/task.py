"""Resolve an ``--env`` string into an EnvTask: a preset name or any Gymnasium id."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import gymnasium as gym

from rlsub.errors import ConfigError
from rlsub.policies import ActionSpec, PolicySpec

from .presets import PRESETS, EnvPreset

#: Cap for envs that register no TimeLimit, so that an evaluation always ends.
DEFAULT_MAX_EPISODE_STEPS = 10_000


def _register_optional_envs() -> None:
    try:
        import ale_py

        gym.register_envs(ale_py)
    except ImportError:  # pragma: no cover - ale-py is a dependency, but keep going without it
        pass


@dataclass
class EnvTask:
    """A task to measure: the env factory plus the preset's metadata (defaults when no preset)."""

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

    def make(self, **kwargs: Any) -> gym.Env:
        """One environment instance (with the preset's episode cap)."""
        kw = {**self.preset.make_kwargs, **self.make_kwargs, **kwargs}
        return gym.make(self.env_id, max_episode_steps=self.max_episode_steps, **kw)

    def make_vec(self, num_envs: int) -> gym.vector.VectorEnv:
        """``num_envs`` copies stepped together (the env's own vectorised version when it has one)."""
        kw = {**self.preset.make_kwargs, **self.make_kwargs}
        spec = gym.spec(self.env_id)
        if spec.vector_entry_point is not None and not kw:
            return gym.make_vec(
                self.env_id,
                num_envs=num_envs,
                vectorization_mode="vector_entry_point",
                max_episode_steps=self.max_episode_steps,
            )
        return gym.make_vec(
            self.env_id,
            num_envs=num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP},
            max_episode_steps=self.max_episode_steps,
            **kw,
        )

    @cached_property
    def spaces(self) -> tuple[gym.Space, gym.Space]:
        env = self.make()
        try:
            return env.observation_space, env.action_space
        finally:
            env.close()

    def policy_spec(self, hidden: tuple[int, ...] | None = None) -> PolicySpec:
        """The policy architecture for this task (preset's, or chosen from the spaces)."""
        obs_space, act_space = self.spaces
        if not isinstance(obs_space, gym.spaces.Box):
            raise ConfigError(
                f"unsupported observation space {obs_space} of {self.name}: rlsub policies take Box "
                "observations; wrap Dict/Tuple spaces with gymnasium.wrappers.FlattenObservation"
            )
        return PolicySpec(
            obs_shape=tuple(obs_space.shape),
            action=ActionSpec.from_space(act_space),
            hidden=tuple(hidden) if hidden is not None else self.preset.hidden,
            activation=self.preset.activation,
        )


def resolve_env(name: str) -> EnvTask:
    """Turn a preset name or Gymnasium id into an EnvTask; unknown names raise ConfigError."""
    if name in PRESETS:
        return EnvTask(name, PRESETS[name])
    _register_optional_envs()
    try:
        gym.spec(name)
    except gym.error.Error as e:
        known = list(dict.fromkeys([*PRESETS, *gym.registry]))
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown environment {name!r}: {e}{hint}") from None
    return EnvTask(name, EnvPreset(name=name, env_id=name))
