"""Resolve an ``--env`` string into an EnvTask: a preset, a Gymnasium id or ``module.path:Class``."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from functools import cached_property
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np

from rlsub.agents import METHODS, get_method
from rlsub.errors import ConfigError, NonFiniteReturn, SolutionError
from rlsub.evaluate import EpisodeTally
from rlsub.lockstep import lockstep_key, run_lockstep
from rlsub.networks import NATURE_HIDDEN, ActionSpec, PolicySpec, cnn_spec, image_layout, vbn_cnn_spec
from rlsub.task import EPISODE_RETURN, RANDOM_FLOOR, Normalisation
from rlsub.trial import TrialConfig, TrialContext, TrialResult

from .li2018 import attach_reference
from .cartpole_batch import CartPoleBatch
from .atari import atari_preset, is_atari, make_atari, make_atari_vec, register_ale
from .plugin import apply_wrappers, check_env_once, check_spaces, load_plugin, make_gym
from .presets import PRESETS, EnvPreset

#: Entry point of Gymnasium's CartPole (v0 and v1), whose copies ``CartPoleBatch`` steps with their own seeds.
_CARTPOLE = "gymnasium.envs.classic_control.cartpole:CartPoleEnv"

#: Trials of one lockstep group that run at once (the others wait for a place).
LOCKSTEP_ACTIVE = 32

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
class EnvTask:
    """An RL task (``rlsub.task.Task``): the env factory plus the preset's metadata (defaults when no
    preset). Performance is the mean episode return of the greedy policy on fresh episodes."""

    name: str
    preset: EnvPreset
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    kind: str = "rl"
    batches_seeds: bool = False

    # -- the Task protocol --------------------------------------------------------------------
    def normalisation(self) -> Normalisation:
        """The preset's return range; without one R_low is measured per trial (random policy) and the
        solved threshold is the Gymnasium spec's ``reward_threshold`` when it registers one."""
        p = self.preset
        solved = p.solved_threshold
        if solved is None:
            try:
                solved = gym.spec(self.env_id).reward_threshold
            except gym.error.Error:
                solved = None
        return Normalisation(
            measure=EPISODE_RETURN,
            low=p.return_low,
            low_source=f"registered for {p.name}" if p.return_low is not None else RANDOM_FLOOR,
            best=p.return_best,
            best_source=f"registered for {p.name}" if p.return_best is not None else "none registered",
            solved=solved,
        )

    def method_names(self) -> tuple[str, ...]:
        """Every method; the preset's protocol method (else CMA-ES) first, as the default."""
        first = self.preset.protocol_method or "cmaes"
        return (first, *(m for m in METHODS if m != first))

    def build_policy(self, spec: PolicySpec, seed: int):
        """The policy network with θ_0 from ``seed`` (and, for virtual batch norm, its reference batch
        of observations, drawn from the task with the same seed)."""
        net = spec.build(seed)
        attach_reference(net, self.make, seed)
        return net

    def method_params(self, method: str) -> type:
        return get_method(method).config_cls

    def is_population_method(self, method: str) -> bool:
        return get_method(method).family == "direct"

    def native_dimension(self, hidden: tuple[int, ...] | None = None, family: str | None = None) -> int:
        net = self.policy_spec(hidden, family).build(0)
        return sum(p.numel() for p in net.parameters())

    def network_label(self, hidden: tuple[int, ...] | None = None, family: str | None = None) -> str:
        return spec_label(self.policy_spec(hidden, family).to_dict())

    def run(self, config: TrialConfig, data_dir: str | None = None) -> TrialResult:
        ctx = TrialContext(config, self)
        try:
            return get_method(config.method).run(ctx)
        finally:
            ctx.close()

    def run_stream(self, configs: list[TrialConfig], data_dir: str | None = None
                   ) -> Iterator[tuple[TrialConfig, TrialResult | NonFiniteReturn]]:
        """Direct-search trials in lockstep (one batched rollout, ``rlsub.lockstep``); others one by one."""
        if len(configs) > 1 and all(lockstep_key(c) is not None for c in configs):
            # At most LOCKSTEP_ACTIVE trials hold a context (θ_0, P, optimizer) at once: enough to keep the
            # rollout's copies busy, and a sweep of thousands of trials per worker stays within memory.
            yield from run_lockstep(configs, lambda c: TrialContext(c, self), max_active=LOCKSTEP_ACTIVE)
            return
        for c in configs:
            try:
                yield c, self.run(c)
            except NonFiniteReturn as e:
                yield c, e

    def replay(self, config: TrialConfig, solution, episodes: int | None, seed: int,
               data_dir: str | None = None) -> list[float]:
        ctx = TrialContext(config, self)
        try:
            if ctx.policy.D != solution.D or ctx.policy.d != solution.d:
                raise SolutionError(
                    f"solution file {solution.path}: rebuilt network has D={ctx.policy.D}, d={ctx.policy.d} "
                    f"but the file says D={solution.D}, d={solution.d}"
                )
            if solution.extra and solution.extra.get("obs_norm"):
                _apply_obs_norm(ctx, solution)
            if episodes is None:
                return ctx.final_test(solution.theta_d)
            res = ctx.evaluate(solution.theta_d[None], episodes, "replay", seed)
            return [float(r) for r in res.returns[0]]
        finally:
            ctx.close()

    def random_returns(self, episodes: int, seed: int, action_seed: int) -> np.ndarray:
        """Returns of ``episodes`` episodes of uniformly random actions, copy i of a vector env reset
        with ``seed`` (the layout of a one-member evaluation: the same episode starts)."""
        env = self.make_vec(episodes)
        try:
            env.action_space.seed(int(action_seed) % 2**31)
            env.reset(seed=int(seed) % 2**31)
            tally = EpisodeTally(episodes, self.name)
            for _ in range(self.max_episode_steps + 1):
                tally.add(*env.step(env.action_space.sample())[1:4])
                if tally.finished:
                    break
            return tally.returns
        finally:
            env.close()

    # -- the env ------------------------------------------------------------------------------

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

    def family(self, family: str | None = None) -> str:
        """The policy family: ``family`` if given, else the preset's, else from the observation space
        (``cnn`` for uint8 images HxW, HxWxC or CxHxW; ``mlp`` otherwise)."""
        if family or self.preset.family:
            return family or self.preset.family  # type: ignore[return-value]
        obs_space, act_space = self.spaces
        check_spaces(obs_space, act_space, self.name)
        return "cnn" if image_layout(obs_space.shape, obs_space.dtype) else "mlp"

    def policy_spec(self, hidden: tuple[int, ...] | None = None, family: str | None = None) -> PolicySpec:
        """The policy architecture for this task (preset's, or chosen from the spaces).

        ``hidden``/``family`` override the preset. The preset's ``hidden``/``activation`` apply to the
        family it names (or to the MLP when it names none); an auto-chosen CNN uses the Nature head.
        """
        obs_space, act_space = self.spaces
        check_spaces(obs_space, act_space, self.name)
        fam = self.family(family)
        own = self.preset.family == fam or (self.preset.family is None and fam == "mlp")
        action = ActionSpec.from_space(act_space)
        if fam == "cnn":
            return cnn_spec(
                obs_space.shape,
                obs_space.dtype,
                action,
                hidden=tuple(hidden) if hidden is not None else (self.preset.hidden if own else NATURE_HIDDEN),
                activation=self.preset.activation if own else "relu",
            )
        if fam == "vbn_cnn":
            return vbn_cnn_spec(obs_space.shape, obs_space.dtype, action,
                                hidden=tuple(hidden) if hidden is not None else (self.preset.hidden if own else None),
                                activation=self.preset.activation if own else "relu")
        return PolicySpec(
            obs_shape=tuple(obs_space.shape),
            action=action,
            family=fam,
            hidden=tuple(hidden) if hidden is not None else (self.preset.hidden if own else (64, 64)),
            activation=self.preset.activation if own else "tanh",
            options={"init": self.preset.init} if own and self.preset.init != "torch" else {},
        )


def spec_label(spec: dict[str, Any]) -> str:
    """Short architecture name for tables, e.g. ``MLP 64-64`` or ``CNN nature``."""
    family = str(spec.get("family", "mlp"))
    if family == "mlp":
        return "MLP " + "-".join(str(h) for h in spec.get("hidden", ()))
    hidden = "-".join(str(h) for h in spec.get("hidden", ()))
    return f"{family.upper()} {spec.get('options', {}).get('arch', '')} fc {hidden}".replace("  ", " ").strip()


def _apply_obs_norm(ctx: TrialContext, sol) -> None:
    """Standardise observations with the statistics frozen at the end of training (ES ``obs_norm``)."""
    from rlsub.agents.es import NormalizedEvaluator

    stats = sol.extra["obs_norm"]
    shape = tuple(ctx.spec.obs_shape)
    try:
        mean = np.asarray(stats["mean"], dtype=np.float64).reshape(shape)
        std = np.asarray(stats["std"], dtype=np.float64).reshape(shape)
    except (KeyError, TypeError, ValueError) as e:
        raise SolutionError(f"solution file {sol.path}: malformed obs_norm statistics: {e}") from None
    norm = NormalizedEvaluator(ctx.evaluator)
    ctx.evaluator.close()
    norm.frozen_mean, norm.frozen_std = mean, std
    ctx.use_evaluator(norm)


def _needs_check(env_id: str) -> bool:
    try:
        entry = gym.spec(env_id).entry_point
    except gym.error.Error:
        return False
    if not isinstance(entry, str):
        return True
    return not entry.startswith(_TRUSTED_ENTRY_PREFIXES)


def resolve_env(name: str, validate: bool = True) -> EnvTask:
    """Turn a preset name, Gymnasium id or ``module.path:Class`` into an EnvTask.

    Unknown names, unimportable plug-ins, envs failing Gymnasium's checker and (``validate``)
    unsupported observation/action spaces of plugged-in envs raise ConfigError. ``validate=False``
    resolves a base that wrappers will fix (TOML registrations).
    """
    _register_optional_envs()
    if name in PRESETS:
        preset = PRESETS[name]
        task = EnvTask(name, preset)
        if preset.check:
            check_env_once(name, task.make)
            if validate:
                check_spaces(*task.spaces, name)
        return task
    try:
        gym.spec(name)
        known_id = ":" not in name
    except (gym.error.Error, ImportError) as e:
        known_id, err = False, e
    if known_id:
        if is_atari(name):
            return EnvTask(name, atari_preset(name))
        task = EnvTask(name, EnvPreset(name=name, env_id=name))
        if _needs_check(name):
            task = EnvTask(name, replace(task.preset, check=True))
            check_env_once(name, task.make)
            if validate:
                check_spaces(*task.spaces, name)
        return task
    if ":" in name:
        env_id = load_plugin(name)
        if is_atari(env_id):
            return EnvTask(name, atari_preset(env_id, name))
        task = EnvTask(name, EnvPreset(name=name, env_id=env_id, check=True))
        check_env_once(name, task.make)
        if validate:
            check_spaces(*task.spaces, name)
        return task
    known = list(dict.fromkeys([*PRESETS, *gym.registry]))
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ConfigError(f"unknown environment {name!r}: {err}{hint}") from None


__all__ = ["DEFAULT_MAX_EPISODE_STEPS", "EnvTask", "resolve_env", "spec_label"]
