"""OpenAI-style evolution strategies on θ_d (Salimans et al. 2017), behind the ask/tell protocol.

Each generation samples ``popsize/2`` Gaussian directions ε and evaluates the mirrored pairs
θ ± σε. Fitness is replaced by centered ranks in [-0.5, 0.5]; the search gradient
``g = Σ_pairs (r⁺ - r⁻) ε / (popsize σ)`` feeds Adam (ascent) with L2 decay on θ.

Optional observation normalisation (``obs_norm``, for continuous control): observations are
standardised with running statistics that stay frozen during a generation and are updated with
the generation's observations afterwards; the final statistics are recorded in the trial info
(``obs_norm``), and a replay of the solution must apply them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd

from rlsub.agents.ask_tell import DirectSearch
from rlsub.agents.direct_search import direct_search, run_search
from rlsub.agents.gradient_common import check, check_fraction, make_config
from rlsub.errors import ConfigError
from rlsub.evaluation.population import PopulationEvaluator
from rlsub.evaluation.slot_envs import vector_env
from rlsub.utils.seeding import np_generator


@dataclass(frozen=True)
class ESConfig:
    """Hyper-parameters of OpenAI-ES (defaults suit CartPole-scale tasks in a subspace)."""

    popsize: int = 40
    """Candidates per generation (even: popsize/2 mirrored pairs)."""
    sigma: float | None = None
    """Noise standard deviation σ on θ_d (None: ``min(4, 8/sqrt(d))``, i.e. perturbations of norm ≈ 8
    in parameter space since P has unit, nearly orthogonal columns — the scale of Salimans et al.'s
    σ = 0.02 on ~10⁵-parameter networks). Measured on InvertedPendulum-v5 at d = 8 (2 seeds, 100k
    steps): σ = 0.71 reached 28% of the best return, σ = 3 solved both seeds; same lesson as CMA-ES."""
    lr: float | None = None
    """Adam step size (None: 0.3·σ)."""
    beta1: float = 0.9
    beta2: float = 0.999
    l2: float = 0.005
    """L2 decay coefficient on θ_d (added to the ascent direction as ``-l2·θ``)."""
    obs_norm: bool = False
    """Standardise observations with running statistics frozen per generation."""

    def __post_init__(self) -> None:
        check(isinstance(self.popsize, int) and self.popsize >= 2 and self.popsize % 2 == 0,
              "es", f"popsize must be an even integer >= 2 (mirrored pairs), got {self.popsize}")
        for n in ("sigma", "lr"):
            v = getattr(self, n)
            check(v is None or v > 0, "es", f"{n} must be > 0 (or None for the default), got {v}")
        check_fraction(self, "es", "beta1", "beta2", closed=False)
        check(self.l2 >= 0, "es", f"l2 must be >= 0, got {self.l2}")


def centered_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks of ``x`` scaled to [-0.5, 0.5] (ties broken by position, as in Salimans et al.)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[np.argsort(x, kind="stable")] = np.arange(len(x), dtype=np.float64)
    if len(x) == 1:
        return np.zeros(1)
    return ranks / (len(x) - 1) - 0.5


class ES(DirectSearch):
    """OpenAI-ES over θ_d (maximising). ``ask`` returns ``[θ+σε_1, θ-σε_1, θ+σε_2, ...]``."""

    name = "es"

    def __init__(self, d: int, seed: int, config: ESConfig | None = None) -> None:
        super().__init__(d, seed)
        self.config = config or ESConfig()
        self.sigma = self.config.sigma if self.config.sigma is not None else min(4.0, 8.0 / np.sqrt(d))
        self.lr = self.config.lr if self.config.lr is not None else 0.3 * self.sigma
        self._m = np.zeros(d)
        self._v = np.zeros(d)
        self._t = 0
        self._eps: np.ndarray | None = None
        self.generation = 0
        self.last_grad_norm = 0.0

    def ask(self) -> np.ndarray:
        c = self.config
        rng = np_generator(self.seed, "es", self.generation)
        eps = rng.standard_normal((c.popsize // 2, self.d))
        self._eps = eps
        X = np.empty((c.popsize, self.d))
        X[0::2] = self._mean + self.sigma * eps
        X[1::2] = self._mean - self.sigma * eps
        return X

    def gradient(self, fitness: np.ndarray) -> np.ndarray:
        """Search-gradient estimate from the last ``ask``'s fitness (centered-rank shaped)."""
        assert self._eps is not None, "tell() before ask()"
        r = centered_ranks(fitness)
        diff = r[0::2] - r[1::2]
        return diff @ self._eps / (len(r) * self.sigma)

    def tell(self, candidates: np.ndarray, fitness: np.ndarray) -> None:
        c = self.config
        fitness = np.asarray(fitness, dtype=np.float64)
        self._note_best(candidates, fitness)
        g = self.gradient(fitness) - c.l2 * self._mean
        self.last_grad_norm = float(np.linalg.norm(g))
        # Adam, ascent.
        self._t += 1
        self._m = c.beta1 * self._m + (1 - c.beta1) * g
        self._v = c.beta2 * self._v + (1 - c.beta2) * g * g
        a = self.lr * np.sqrt(1 - c.beta2**self._t) / (1 - c.beta1**self._t)
        self._mean = self._mean + a * self._m / (np.sqrt(self._v) + 1e-8)
        self.generation += 1

    def info(self) -> dict:
        return {"sigma": self.sigma, "lr": self.lr, "theta_norm": float(np.linalg.norm(self._mean))}


# ---------------------------------------------------------------------------------------------
# observation normalisation (frozen per generation)
# ---------------------------------------------------------------------------------------------
class _NormalizedVec:
    """Vector-env proxy: standardises observations with frozen stats and records the raw ones."""

    def __init__(self, env, owner: NormalizedEvaluator) -> None:
        self.env, self.owner = env, owner

    def _norm(self, obs: np.ndarray) -> np.ndarray:
        o = self.owner
        if o.recording:
            o.seen.append(np.array(obs, dtype=np.float64))
        return ((obs - o.frozen_mean) / o.frozen_std).astype(np.float32)

    def reset(self, **kw):
        obs, info = self.env.reset(**kw)
        return self._norm(obs), info

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        return self._norm(obs), r, term, trunc, info

    def close(self) -> None:
        self.env.close()


class NormalizedEvaluator(PopulationEvaluator):
    """A PopulationEvaluator whose envs see standardised observations (stats frozen until ``refresh``)."""

    def __init__(self, base: PopulationEvaluator, clip_std: float = 1e-2) -> None:
        super().__init__(base.task, base.subspace, base.spec, base.device)
        shape = tuple(base.spec.obs_shape)
        # Salimans et al.'s normaliser is the parallel (Chan et al.) update from a prior count of 1e-4:
        # gymnasium's RunningMeanStd (the same float64 arithmetic as rlsub's former own copy, bit for bit).
        self.stats = RunningMeanStd(epsilon=1e-4, shape=shape)
        self.clip_std = clip_std
        self.frozen_mean = np.zeros(shape)
        self.frozen_std = np.ones(shape)
        self.recording = True
        self.seen: list[np.ndarray] = []

    def _vec(self, num_envs: int, lane: int = 0):
        if (num_envs, lane) not in self._envs:
            # The proxy has no send/recv: these evaluations are never pipelined.
            self._envs[num_envs, lane] = _NormalizedVec(vector_env(self.task, num_envs), self)
        return self._envs[num_envs, lane]

    # Scheduled path (rlsub.evaluation.slot_rollout.SlotRollout): the rollout standardises and records.
    def _obs_norm(self) -> tuple[np.ndarray, np.ndarray]:
        return self.frozen_mean, self.frozen_std

    def _record_obs(self) -> bool:
        return self.recording

    def _observed(self, observations: np.ndarray) -> None:
        self.seen.append(observations)

    def refresh(self) -> None:
        """Fold the observations seen since the last refresh into the stats and freeze them."""
        for obs in self.seen:
            x = np.asarray(obs, dtype=np.float64).reshape(-1, *self.stats.mean.shape)
            if len(x):
                self.stats.update(x)
        self.seen = []
        self.frozen_mean = self.stats.mean.copy()
        self.frozen_std = np.sqrt(np.maximum(self.stats.var, self.clip_std**2))

    def state(self) -> dict:
        return {"mean": self.frozen_mean.ravel().tolist(), "std": self.frozen_std.ravel().tolist()}


class RefreshesObsNorm:
    """Mixin for an ask/tell search that evaluates through a ``NormalizedEvaluator``: its observation
    statistics are refreshed after every ``tell`` and recorded in ``info()`` (what ``rlsub replay`` restores)."""

    evaluator: NormalizedEvaluator

    def tell(self, candidates: np.ndarray, fitness: np.ndarray) -> None:
        super().tell(candidates, fitness)
        self.evaluator.refresh()

    def info(self) -> dict:
        return {**super().info(), "obs_norm": self.evaluator.state()}


class _ObsNormES(RefreshesObsNorm, ES):
    """ES that refreshes the evaluator's observation statistics after every generation."""

    def __init__(self, d: int, seed: int, config: ESConfig, evaluator: NormalizedEvaluator) -> None:
        super().__init__(d, seed, config)
        self.evaluator = evaluator


def search(ctx):
    """An ES trial as a [`rlsub.agents.direct_search.direct_search`][rlsub.agents.direct_search.direct_search] generator (run alone or in lockstep).

    With ``obs_norm`` every evaluation of the trial (training, checks, final test) goes through a
    ``NormalizedEvaluator``; after training its stats stay frozen: the final test must not move them.
    """
    cfg = make_config(ESConfig, ctx.params, "es")
    if not cfg.obs_norm:
        return direct_search(ctx, ES(ctx.policy.d, ctx.seed, cfg))
    if ctx.spec.family == "cnn":
        raise ConfigError("es: obs_norm is for low-dimensional state observations, not image frames "
                          f"({ctx.task.name} uses a CNN policy)")
    norm = NormalizedEvaluator(ctx.evaluator)
    ctx.evaluator.close()
    ctx.use_evaluator(norm)
    return direct_search(ctx, _ObsNormES(ctx.policy.d, ctx.seed, cfg, norm))


def run(ctx) -> object:
    """Run an ES trial alone (same evaluator, early stop and final test as every direct search)."""
    return run_search(ctx, search(ctx))
