"""CMA-ES over θ_d via pycma, with sep-CMA above a dimension threshold and optional IPOP restarts."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from rlsub.agents.ask_tell import DirectSearch
from rlsub.agents.direct_search import direct_search, run_search
from rlsub.agents.gradient_common import make_config
from rlsub.errors import ConfigError
from rlsub.utils.optional_imports import import_without
from rlsub.utils.seeding import derive_seed

log = logging.getLogger(__name__)


def import_pycma():
    """pycma, imported on first use, not with this module, and without the scipy.stats and matplotlib it
    would pull in (~1 s; used by its plots and surrogate models only): a sweep's driver process (planning,
    storing, analysis) never needs pycma, a worker never needs those."""
    return import_without("cma", ("matplotlib", "scipy.stats"))


@dataclass(frozen=True)
class CMAESConfig:
    """Hyper-parameters of the CMA-ES adapter."""

    sigma0: float | None = None
    """Initial step size per coordinate of θ_d. None: ``min(5, 10 / sqrt(d))``, so that a first
    sample moves θ by a norm of about 10 whatever d is (P has unit-norm, nearly orthogonal
    columns; ‖θ_0‖ of the presets' MLPs is about 5). Chosen on CartPole-v1 d=2..8, 4 seeds:
    σ0 = 5 gave mean normalised performance 0.82 at d=4 against 0.29 for σ0 = 0.5."""
    popsize: int | None = None
    """Population size (None: pycma's 4 + 3 ln d)."""
    diagonal_above: int = 1000
    """Use sep-CMA (diagonal covariance, linear cost) when d exceeds this."""
    restarts: int = 4
    """IPOP restarts allowed after pycma's own stop conditions fire (population doubles each time)."""

    def __post_init__(self) -> None:
        if self.sigma0 is not None and not self.sigma0 > 0:
            raise ConfigError(f"cmaes: sigma0 must be > 0, got {self.sigma0}")
        if self.popsize is not None and self.popsize < 2:
            raise ConfigError(f"cmaes: popsize must be >= 2, got {self.popsize}")
        if self.restarts < 0:
            raise ConfigError(f"cmaes: restarts must be >= 0, got {self.restarts}")


class CMAES(DirectSearch):
    """pycma's CMAEvolutionStrategy behind the ask/tell protocol (maximising)."""

    name = "cmaes"

    def __init__(self, d: int, seed: int, config: CMAESConfig | None = None) -> None:
        super().__init__(d, seed)
        self.config = config or CMAESConfig()
        self.diagonal = d > self.config.diagonal_above
        if self.diagonal:
            # INFO, not WARNING: a sweep runs many such trials, and ``rlsub sweep``/``run`` say it once up front
            log.info("d=%d > %d: using sep-CMA (diagonal covariance)", d, self.config.diagonal_above)
        self.sigma0 = self.config.sigma0 if self.config.sigma0 is not None else min(5.0, 10.0 / np.sqrt(d))
        self.restarts_done = 0
        self.stop_reasons: list[str] = []
        self._popsize = self.config.popsize
        self._finished = False
        self._start(np.zeros(d))

    def _start(self, x0: np.ndarray) -> None:
        cma = import_pycma()

        # pycma treats seed 0/None as "time": always a positive seed.
        seed = derive_seed(self.seed, "cmaes", self.restarts_done) % (2**31 - 2) + 1
        # pycma samples with opts["randn"], by default numpy's global RNG after np.random.seed(seed).
        # A private RandomState with that seed draws the same stream, and trials interleaved in one
        # process (rlsub.tasks.lockstep) cannot disturb one another's.
        opts = {
            "seed": np.nan,  # nan: pycma leaves the global RNG alone
            "randn": np.random.RandomState(seed).randn,
            "verbose": -9,
            "CMA_diagonal": self.diagonal,
            # pycma would read options from ./cma_signals.in at every stop() check: a file in the working
            # directory must not change a trial (and the check is a stat call per generation).
            "signals_filename": None,
        }
        if self._popsize:
            opts["popsize"] = self._popsize
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.es = cma.CMAEvolutionStrategy(x0, self.sigma0, opts)
        self._popsize = self.es.popsize
        self._mean = np.array(self.es.mean, dtype=np.float64)

    def ask(self) -> np.ndarray:
        return np.asarray(self.es.ask(), dtype=np.float64)

    def tell(self, candidates: np.ndarray, fitness: np.ndarray) -> None:
        fitness = np.asarray(fitness, dtype=np.float64)
        self._note_best(candidates, fitness)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.es.tell(list(candidates), list(-fitness))
                self._mean = np.array(self.es.mean, dtype=np.float64)
                reasons = dict(self.es.stop())
        except (AssertionError, FloatingPointError, ValueError, np.linalg.LinAlgError) as e:
            # pycma asserts when σ underflows (seen at d = 1): treat it as convergence.
            reasons = {"numerical": repr(e)}
        if reasons:
            self._on_stop(reasons)

    def _on_stop(self, reasons: dict) -> None:
        self.stop_reasons.append(",".join(sorted(reasons)))
        if self.restarts_done >= self.config.restarts:
            self._finished = True
            return
        self.restarts_done += 1
        self._popsize = 2 * self._popsize
        log.info("cmaes restart %d (%s), popsize %d", self.restarts_done, self.stop_reasons[-1], self._popsize)
        self._start(self._mean)

    def stop(self) -> bool:
        return self._finished

    def info(self) -> dict:
        return {
            "sep_cma": self.diagonal,
            "restarts": self.restarts_done,
            "stop_reasons": self.stop_reasons,
            "final_popsize": self._popsize,
            "sigma0": self.sigma0,
        }


def search(ctx):
    """A CMA-ES trial as a [`rlsub.agents.direct_search.direct_search`][rlsub.agents.direct_search.direct_search] generator (run alone or in lockstep)."""
    return direct_search(ctx, CMAES(ctx.policy.d, ctx.seed, make_config(CMAESConfig, ctx.params, "cmaes")))


def run(ctx):
    """Run a CMA-ES trial alone."""
    return run_search(ctx, search(ctx))
