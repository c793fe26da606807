"""The RL task kind: an env ([`rlsub.envs.EnvFactory`][rlsub.envs.EnvFactory]) made measurable.

``EnvTask`` adds to the env what a measurement needs: the policy network chosen for its spaces,
the methods that train it ([`rlsub.agents`][rlsub.agents]), direct-search trials run in lockstep
([`rlsub.tasks.lockstep`][rlsub.tasks.lockstep]), replay of stored solutions and the random-policy floor R_low.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from rlsub.agents import METHODS, get_method
from rlsub.agents.es import NormalizedEvaluator
from rlsub.envs import EnvFactory, check_spaces, resolve_env
from rlsub.envs.li2018 import attach_reference
from rlsub.errors import ConfigError, NonFiniteReturn, SolutionError
from rlsub.evaluation.population import EpisodeTally
from rlsub.policies.images import image_layout
from rlsub.policies.networks import NATURE_HIDDEN, ActionSpec, PolicySpec, cnn_spec, vbn_cnn_spec
from rlsub.tasks.base import EPISODE_RETURN, RANDOM_FLOOR, Normalisation
from rlsub.tasks.lockstep import lockstep_key, run_lockstep
from rlsub.trial import TrialConfig, TrialContext, TrialResult

#: Trials of one lockstep group that run at once (the others wait for a place).
LOCKSTEP_ACTIVE = 32


@dataclass
class EnvTask(EnvFactory):
    """An RL task ([`rlsub.tasks.base.Task`][rlsub.tasks.base.Task]): the env (``EnvFactory``: preset, ``make``, ``make_vec``) plus
    the policy and methods. Performance is the mean episode return of the greedy policy on fresh episodes."""

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

    def network_label(self, hidden: tuple[int, ...] | None = None, family: str | None = None,
                      init: str | None = None) -> str:
        return spec_label(self.policy_spec(hidden, family, init).to_dict())

    def run(self, config: TrialConfig, data_dir: str | None = None) -> TrialResult:
        ctx = TrialContext(config, self)
        try:
            return get_method(config.method).run(ctx)
        finally:
            ctx.close()

    def run_stream(self, configs: list[TrialConfig], data_dir: str | None = None
                   ) -> Iterator[tuple[TrialConfig, TrialResult | NonFiniteReturn]]:
        """Direct-search trials in lockstep (one batched rollout, [`rlsub.tasks.lockstep`][rlsub.tasks.lockstep]); others one by one."""
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

    def family(self, family: str | None = None) -> str:
        """The policy family: ``family`` if given, else the preset's, else from the observation space
        (``cnn`` for uint8 images HxW, HxWxC or CxHxW; ``mlp`` otherwise)."""
        if family or self.preset.family:
            return family or self.preset.family  # type: ignore[return-value]
        obs_space, act_space = self.spaces
        check_spaces(obs_space, act_space, self.name)
        return "cnn" if image_layout(obs_space.shape, obs_space.dtype) else "mlp"

    def policy_spec(self, hidden: tuple[int, ...] | None = None, family: str | None = None,
                    init: str | None = None) -> PolicySpec:
        """The policy architecture for this task (preset's, or chosen from the spaces).

        ``hidden``/``family``/``init`` override the preset (``init``: the MLP family's only). The preset's ``hidden``/``activation`` apply to the
        family it names (or to the MLP when it names none); an auto-chosen CNN uses the Nature head.
        """
        obs_space, act_space = self.spaces
        check_spaces(obs_space, act_space, self.name)
        fam = self.family(family)
        own = self.preset.family == fam or (self.preset.family is None and fam == "mlp")
        action = ActionSpec.from_space(act_space)
        if init is not None and fam != "mlp":
            raise ConfigError(f"init {init!r}: only the MLP family's θ_0 can be chosen ({self.name} uses {fam})")
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
        chosen = init or (self.preset.init if own else "torch")
        return PolicySpec(
            obs_shape=tuple(obs_space.shape),
            action=action,
            family=fam,
            hidden=tuple(hidden) if hidden is not None else (self.preset.hidden if own else (64, 64)),
            activation=self.preset.activation if own else "tanh",
            options={"init": chosen} if chosen != "torch" else {},
        )


def spec_label(spec: dict[str, Any]) -> str:
    """Short architecture name for tables, e.g. ``MLP 64-64``, ``MLP linear θ0=0`` or ``CNN nature``."""
    family = str(spec.get("family", "mlp"))
    if family == "mlp":
        zero = " θ0=0" if spec.get("options", {}).get("init") == "zeros" else ""
        return "MLP " + ("-".join(str(h) for h in spec.get("hidden", ())) or "linear") + zero
    hidden = "-".join(str(h) for h in spec.get("hidden", ()))
    return f"{family.upper()} {spec.get('options', {}).get('arch', '')} fc {hidden}".replace("  ", " ").strip()


def _apply_obs_norm(ctx: TrialContext, sol) -> None:
    """Standardise observations with the statistics frozen at the end of training (ES ``obs_norm``)."""
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


def env_task(name: str, validate: bool = True) -> EnvTask:
    """The RL task for a preset name, Gymnasium id or ``module.path:Class`` ([`rlsub.envs.resolve_env`][rlsub.envs.resolve_env])."""
    return resolve_env(name, validate, cls=EnvTask)


__all__ = ["LOCKSTEP_ACTIVE", "EnvTask", "env_task", "spec_label"]
