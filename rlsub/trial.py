"""One trial: (env, method, projection, d, seed) → a trained θ_d and its final evaluation.

The final evaluation is always done on fresh episode seeds (never used in training) with
``eval_episodes`` episodes, so a lucky training score cannot masquerade as a solution.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from rlsub.errors import ConfigError
from rlsub.evaluation.population import EvalResult, PopulationEvaluator
from rlsub.policies.networks import PolicySpec
from rlsub.projections import PROJECTIONS
from rlsub.subspace import Subspace
from rlsub.utils.seeding import derive_seed

#: The current trial protocol (``TrialConfig.protocol``). 2: every row records its normalisation,
#: network and coordinates moved, and envs without a registered R_low measure a random-policy floor.
#: 3: on the CPU the scheduled evaluator projects (dense) and runs its MLPs in a fixed summation
#: order with rlsub's own tanh (``rlsub.kernels.mlp_forward``), the same bits on any CPU and BLAS; protocol-2
#: evaluations differ in their last bits, so their trials' trajectories differ.
PROTOCOL = 3


@dataclass(frozen=True)
class TrialConfig:
    """Everything that determines a trial's result (same config ⇒ same result on CPU)."""

    env: str
    method: str = "cmaes"
    dim: int | None = None
    """Subspace dimension d; None is the full-space baseline (identity projection, d = D)."""
    projection: str = "dense"
    seed: int = 0
    budget: int | None = None
    """Training env steps (None: the task preset's default); for supervised tasks, training examples."""
    episodes: int | None = None
    """Training episodes per population member and generation (None: preset default)."""
    eval_episodes: int = 20
    """Episodes of the final evaluation, on fresh seeds."""
    hidden: tuple[int, ...] | None = None
    """Policy hidden sizes (None: preset's)."""
    params: tuple[tuple[str, Any], ...] = ()
    """Method hyper-parameters as sorted (name, value) pairs."""
    family: str | None = None
    """Policy network family (``mlp``, ``cnn``); None: chosen from the observation space."""
    init: str | None = None
    """θ_0's initialisation (``torch``, ``he_normal``, ``zeros`` for the linear policy); None: the
    preset's (left out of the key, so trials stored before this field keep their keys)."""
    env_def: dict[str, Any] | None = None
    """A TOML env registration table (see [`rlsub.envs.register_from_config`][rlsub.envs.register_from_config]) that defines ``env``;
    kept in the config so that worker processes and replay can register it again."""
    device: str = "cpu"
    revision: int = 0
    """The task's protocol revision when the trial was planned (``Task.revision``; 0 is left out of
    the key, so trials of unrevised tasks keep the keys they were stored under)."""
    protocol: int = PROTOCOL
    """Version of rlsub's trial protocol (evaluation episodes, floors): results of different
    protocols are never pooled. Configs stored without one are protocol 1."""

    def __post_init__(self) -> None:
        if self.projection not in PROJECTIONS:
            raise ConfigError(f"unknown projection {self.projection!r}; choose one of {', '.join(PROJECTIONS)}")
        if self.dim is not None and (isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim <= 0):
            raise ConfigError(f"subspace dimension must be a positive integer, got {self.dim!r}")
        if self.budget is not None and self.budget <= 0:
            raise ConfigError(f"budget must be a positive number of env steps, got {self.budget}")
        if self.eval_episodes < 1:
            raise ConfigError(f"eval_episodes must be >= 1, got {self.eval_episodes}")
        if self.episodes is not None and self.episodes < 1:
            raise ConfigError(f"episodes must be >= 1, got {self.episodes}")

    @property
    def is_full(self) -> bool:
        return self.dim is None

    @property
    def projection_name(self) -> str:
        return "identity" if self.is_full else self.projection

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"] = dict(self.params)
        d["hidden"] = list(self.hidden) if self.hidden is not None else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialConfig:
        data = dict(data)
        data["params"] = tuple(sorted((data.get("params") or {}).items()))
        if data.get("hidden") is not None:
            data["hidden"] = tuple(data["hidden"])
        data.setdefault("protocol", 1)
        return cls(**data)

    def _identity(self) -> dict[str, Any]:
        """The config as it defines the result: no device, no words (an env's description)."""
        d = self.to_dict()
        d.pop("device")
        if self.is_full:
            d["projection"] = "identity"
        if d.get("env_def"):
            d["env_def"] = {k: v for k, v in d["env_def"].items() if k != "description"}
        if d["protocol"] == 1:  # keys of protocol-1 trials are the ones they were stored under
            d.pop("protocol")
        if not d["revision"]:
            d.pop("revision")
        if d.get("init") is None:
            d.pop("init", None)
        return d

    def key(self) -> str:
        """Stable identity of the trial (device and descriptions excluded: they do not change the result)."""
        return _digest(self._identity())

    def experiment(self) -> dict[str, Any]:
        """The experiment this trial belongs to: the whole config except d, seed and projection
        (the full-space baseline of a subspace sweep is the same experiment)."""
        d = self._identity()
        for k in ("dim", "seed", "projection"):
            d.pop(k)
        d["protocol"] = self.protocol
        return d

    def fingerprint(self) -> str:
        """Digest of ``experiment()``: trials with equal fingerprints differ only in d, seed and projection."""
        return _digest(self.experiment())


def _digest(d: dict[str, Any]) -> str:
    blob = json.dumps(d, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass
class TrialResult:
    """Outcome of a trial: final evaluation on fresh seeds, learning curve and θ_d."""

    final_returns: list[float]
    env_steps: int
    wall_time: float
    D: int
    d: int
    theta_d: np.ndarray
    curve: list[tuple[int, float, float]] = field(default_factory=list)
    """(env steps, mean training fitness, best training fitness) per generation/update."""
    info: dict[str, Any] = field(default_factory=dict)
    moved: int | None = None
    """Coordinates the optimizer moved (None: d). PPO's own-subspace value net and a learned log σ
    count: a method that trains 2d numbers has not been measured at d."""
    floor: float | None = None
    """R_low measured for this trial (mean return of a uniformly random policy on its own
    evaluation episodes) when the task registers none."""
    measure: str | None = None
    """What ``final_returns`` are when not the task's own measure (e.g. DQN's ``score=train100``:
    training episodes); None: the task's measure (a final test on fresh episodes)."""

    @property
    def final_mean(self) -> float:
        return float(np.mean(self.final_returns))

    @property
    def final_std(self) -> float:
        return float(np.std(self.final_returns))


# --- evaluator backend hook (rlsub.execution.ray_backend) ---------------------------------------------
#: When set, ``TrialContext`` asks it for the trial's evaluator (``factory(ctx)``; None keeps the
#: local ``PopulationEvaluator``). A process-wide option, never part of ``TrialConfig``: the backend
#: must not change a trial's key or result. Set by ``rlsub.execution.ray_backend.ray_populations``.
EVALUATOR_FACTORY: Callable[[TrialContext], PopulationEvaluator | None] | None = None
# --- end of hook ------------------------------------------------------------------------------


class TrialContext:
    """What a method needs to run a trial: task, policy spec, network in its subspace, evaluator."""

    def __init__(self, config: TrialConfig, task) -> None:
        self.config = config
        self.task = task
        """The trial's [`rlsub.tasks.rl.EnvTask`][rlsub.tasks.rl.EnvTask]."""
        self.spec: PolicySpec = self.task.policy_spec(config.hidden, config.family, config.init)
        self.device = torch.device(config.device)
        self.seed = config.seed
        self.budget = config.budget or self.task.preset.budget
        self.episodes = config.episodes or self.task.preset.episodes
        self.threshold = self.task.preset.solved_threshold
        # The preset's protocol settings (e.g. a published recipe) under the trial's own --param values.
        self.preset_params = dict(self.task.preset.method_params.get(config.method, {}))
        self.params = {**self.preset_params, **dict(config.params)}
        self._evaluator: PopulationEvaluator | None = None
        self.start = time.perf_counter()

    def subspace(self, module: torch.nn.Module | None = None, name: str = "policy") -> Subspace:
        """``module`` (default: the policy) in this trial's subspace, on the trial's device."""
        module = module if module is not None else self.task.build_policy(self.spec, self.seed)
        seed = self.seed if name == "policy" else derive_seed(self.seed, name)
        return Subspace(module, self.config.dim, self.config.projection_name, seed).to(self.device)

    @property
    def policy(self) -> Subspace:
        if self._evaluator is None:
            made = EVALUATOR_FACTORY(self) if EVALUATOR_FACTORY is not None else None  # backend hook
            self._evaluator = made or PopulationEvaluator(self.task, self.subspace(), self.spec, self.device)
        return self._evaluator.subspace

    @property
    def evaluator(self) -> PopulationEvaluator:
        self.policy  # noqa: B018 - builds the evaluator
        assert self._evaluator is not None
        return self._evaluator

    def use_evaluator(self, evaluator: PopulationEvaluator) -> None:
        """Route every later evaluation of this trial (training, checks, final test) through ``evaluator``."""
        self._evaluator = evaluator

    def evaluate(self, thetas: np.ndarray | torch.Tensor, episodes: int, *stream: object) -> EvalResult:
        """Evaluate candidates on episodes seeded from ``(trial seed, *stream)``."""
        return self.evaluator.evaluate(thetas, episodes, derive_seed(self.seed, *stream))

    def final_test(self, theta_d: np.ndarray | torch.Tensor) -> list[float]:
        """The trial's reported score: ``eval_episodes`` episodes on seeds never used in training."""
        res = self.evaluate(np.asarray(theta_d, dtype=np.float32)[None], self.config.eval_episodes, "test")
        return [float(r) for r in res.returns[0]]

    def random_floor(self) -> float:
        """Mean return of a uniformly random-action policy on the final test's episode seeds."""
        returns = self.task.random_returns(self.config.eval_episodes, derive_seed(self.seed, "test"),
                                           derive_seed(self.seed, "random-floor"))
        return float(np.mean(returns))

    def result(self, theta_d: np.ndarray, env_steps: int, curve, info: dict | None = None,
               moved: int | None = None, final_returns: list[float] | None = None,
               measure: str | None = None) -> TrialResult:
        """The trial's result; ``final_returns`` is its final test when the caller already ran it
        (a lockstep batch evaluates it with every other request), else ``final_test`` runs it here.
        ``measure`` names what ``final_returns`` are when they are not that test."""
        final = final_returns if final_returns is not None else self.final_test(theta_d)
        floor = self.random_floor() if self.task.normalisation().low is None else None
        return TrialResult(
            final_returns=final,
            env_steps=int(env_steps),
            wall_time=time.perf_counter() - self.start,
            D=self.policy.D,
            d=self.policy.d,
            theta_d=np.asarray(theta_d, dtype=np.float32),
            curve=list(curve),
            info={**(info or {}), "policy_spec": self.spec.to_dict(), "env_settings": self.task.settings(),
                  **({"preset_params": self.preset_params} if self.preset_params else {})},
            moved=moved,
            floor=floor,
            measure=measure,
        )

    def close(self) -> None:
        if self._evaluator is not None:
            self._evaluator.close()


__all__ = ["PROTOCOL", "TrialConfig", "TrialContext", "TrialResult"]
