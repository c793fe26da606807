"""Augmented Random Search on θ_d (Mania, Guy & Recht 2018), behind the ask/tell protocol.

Each iteration samples ``N`` Gaussian directions δ_k and evaluates the mirrored pairs θ ± νδ_k
(one rollout each). The directions are ranked by ``max(r⁺_k, r⁻_k)``; the top ``b`` of them give
the step

    θ ← θ + α / (b σ_R) · Σ_{k ∈ top b} (r⁺_k − r⁻_k) δ_k,

with σ_R the standard deviation of the ``2b`` returns used. Four versions (the paper's Algorithm 1):

* ``v1``: raw observations, every direction used (b = N);
* ``v1-t``: raw observations, the top ``b`` directions;
* ``v2``: observations standardised by the running mean and standard deviation of every state met
  in training (statistics frozen during an iteration, then updated with its rollouts' states: the
  ``NormalizedEvaluator`` ES uses, and recorded the same way in the trial info, ``obs_norm``);
* ``v2-t``: both (the default).

Units: ν and α are the paper's, per *parameter* of θ_D. With ``per_parameter`` (default) they are
scaled by ``sqrt(D/d)`` in θ_d, so a perturbation Pνδ moves each of the D parameters by about ν
whatever d is (P's columns have unit norm); in the full space (d = D, identity) nothing changes.

``alive_bonus_offset`` (the paper's and the RL Zoo's -1 on Hopper, Walker2d and Ant): the *training*
returns the update sees are ``return + offset · episode length``, so standing still to collect the
survival bonus stops paying (a linear Hopper without it stalls at ~1000, atlas/pilots/). Validation,
the threshold check and the final test keep the env's own reward; the trial's curve records the
shaped training returns. It needs each episode's length: the scheduled rollout reports it.

The policy squashes its output with tanh into the action bounds (rlsub's Box head), where the
paper's linear policy is clipped by the env; θ_0 is torch's initialisation, not zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rlsub.agents.ask_tell import DirectSearch
from rlsub.agents.direct_search import direct_search, run_search
from rlsub.agents.es import NormalizedEvaluator, RefreshesObsNorm
from rlsub.agents.gradient_common import check, make_config
from rlsub.errors import ConfigError
from rlsub.evaluation.slot_request import EvalResult
from rlsub.utils.seeding import np_generator

VERSIONS = ("v1", "v1-t", "v2", "v2-t")


@dataclass(frozen=True)
class ARSConfig:
    """Hyper-parameters of ARS; defaults are the paper's (and the RL Zoo's) Hopper values."""

    n_directions: int = 8
    """N: directions per iteration (2N rollouts)."""
    top_b: int = 4
    """b: directions kept by the ``-t`` versions (must be <= N); v1/v2 use all N."""
    step_size: float = 0.01
    """α: step size (per parameter of θ_D, see ``per_parameter``)."""
    nu: float = 0.025
    """ν: exploration noise standard deviation (per parameter of θ_D)."""
    version: Literal["v1", "v1-t", "v2", "v2-t"] = "v2-t"
    """v1: raw observations; v2: standardised states; -t: step on the top b directions only."""
    per_parameter: bool = True
    """Scale ν and α by sqrt(D/d) so they mean the same per parameter of θ_D at every d."""
    alive_bonus_offset: float = 0.0
    """Added to the training reward at every step (the paper's survival-bonus removal: -1 on Hopper)."""

    def __post_init__(self) -> None:
        check(isinstance(self.n_directions, int) and self.n_directions >= 1, "ars",
              f"n_directions must be an integer >= 1, got {self.n_directions}")
        check(isinstance(self.top_b, int) and 1 <= self.top_b <= self.n_directions, "ars",
              f"top_b must be an integer in [1, n_directions={self.n_directions}], got {self.top_b}")
        for n in ("step_size", "nu"):
            check(getattr(self, n) > 0, "ars", f"{n} must be > 0, got {getattr(self, n)}")
        check(self.version in VERSIONS, "ars", f"version must be one of {', '.join(VERSIONS)}, got {self.version!r}")

    @property
    def b(self) -> int:
        """Directions used per step: ``top_b`` for the -t versions, else all N."""
        return self.top_b if self.version.endswith("-t") else self.n_directions

    @property
    def obs_norm(self) -> bool:
        return self.version.startswith("v2")


def top_directions(r_plus: np.ndarray, r_minus: np.ndarray, b: int) -> np.ndarray:
    """Indices of the ``b`` directions with the largest ``max(r⁺, r⁻)``, best first (ties: lower index)."""
    score = np.maximum(np.asarray(r_plus, dtype=np.float64), np.asarray(r_minus, dtype=np.float64))
    return np.argsort(-score, kind="stable")[:b]


def ars_step(deltas: np.ndarray, r_plus: np.ndarray, r_minus: np.ndarray, b: int, alpha: float) -> np.ndarray:
    """``α / (b σ_R) Σ_{top b} (r⁺ − r⁻) δ`` (σ_R over the 2b returns used; a zero step when they are all equal)."""
    idx = top_directions(r_plus, r_minus, b)
    rp, rm = np.asarray(r_plus, dtype=np.float64)[idx], np.asarray(r_minus, dtype=np.float64)[idx]
    sigma_r = float(np.std(np.concatenate([rp, rm])))
    if sigma_r == 0.0:
        return np.zeros(deltas.shape[1])
    return alpha / (b * sigma_r) * ((rp - rm) @ deltas[idx])


class ARS(DirectSearch):
    """ARS over θ_d (maximising). ``ask`` returns ``[θ+νδ_1, θ-νδ_1, θ+νδ_2, ...]``."""

    name = "ars"

    def __init__(self, d: int, seed: int, config: ARSConfig | None = None, D: int | None = None) -> None:
        super().__init__(d, seed)
        self.config = config or ARSConfig()
        scale = float(np.sqrt(D / d)) if self.config.per_parameter and D else 1.0
        self.nu = self.config.nu * scale
        self.alpha = self.config.step_size * scale
        self._deltas: np.ndarray | None = None
        self.generation = 0
        self.last_step_norm = 0.0

    def ask(self) -> np.ndarray:
        rng = np_generator(self.seed, "ars", self.generation)
        deltas = rng.standard_normal((self.config.n_directions, self.d))
        self._deltas = deltas
        X = np.empty((2 * len(deltas), self.d))
        X[0::2] = self._mean + self.nu * deltas
        X[1::2] = self._mean - self.nu * deltas
        return X

    def tell(self, candidates: np.ndarray, fitness: np.ndarray) -> None:
        assert self._deltas is not None, "tell() before ask()"
        fitness = np.asarray(fitness, dtype=np.float64)
        self._note_best(candidates, fitness)
        step = ars_step(self._deltas, fitness[0::2], fitness[1::2], self.config.b, self.alpha)
        self.last_step_norm = float(np.linalg.norm(step))
        self._mean = self._mean + step
        self.generation += 1

    def info(self) -> dict:
        return {"version": self.config.version, "nu": self.nu, "alpha": self.alpha,
                "theta_norm": float(np.linalg.norm(self._mean))}


class _ObsNormARS(RefreshesObsNorm, ARS):
    """ARS V2: refreshes the evaluator's state statistics after every iteration."""

    def __init__(self, d: int, seed: int, config: ARSConfig, D: int, evaluator: NormalizedEvaluator) -> None:
        super().__init__(d, seed, config, D)
        self.evaluator = evaluator


def shaped(search, offset: float):
    """``search`` with ``offset · episode length`` added to the returns of its training evaluations."""
    ev = next(search)
    while True:
        res = yield ev
        if ev.kind == "train" and offset:
            if res.lengths is None:
                raise ConfigError("ars: alive_bonus_offset needs episode lengths, which only the scheduled "
                                  "rollout (an MLP policy on a CPU) reports")
            res = EvalResult(res.returns + offset * res.lengths, res.steps, res.lengths)
        try:
            ev = search.send(res)
        except StopIteration as stop:
            return stop.value


def search(ctx):
    """An ARS trial as a ``direct_search`` generator (run alone or in lockstep)."""
    cfg = make_config(ARSConfig, ctx.params, "ars")
    d, D = ctx.policy.d, ctx.policy.D
    if not cfg.obs_norm:
        opt: ARS = ARS(d, ctx.seed, cfg, D)
    else:
        if ctx.spec.family == "cnn":
            raise ConfigError(f"ars: {cfg.version} normalises state observations, not image frames "
                              f"({ctx.task.name} uses a CNN policy); use version=v1 or v1-t")
        norm = NormalizedEvaluator(ctx.evaluator)
        ctx.evaluator.close()
        ctx.use_evaluator(norm)
        opt = _ObsNormARS(d, ctx.seed, cfg, D, norm)
    inner = direct_search(ctx, opt)
    return shaped(inner, cfg.alive_bonus_offset) if cfg.alive_bonus_offset else inner


def run(ctx) -> object:
    """Run an ARS trial alone (same evaluator, early stop and final test as every direct search)."""
    return run_search(ctx, search(ctx))
