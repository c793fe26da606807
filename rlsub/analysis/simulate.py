"""Simulated sweeps whose true d_int is known, for calibrating d_int confidence intervals.

A model draws one study: ``perf[seed, d]`` normalised by the study's own (noisy) baseline mean, the
baseline's per-seed values in the same units, and the truth: the d where the population's mean
performance (relative to the population's baseline mean) crosses the threshold, ``inf`` beyond the
grid's reach. Used by ``benchmarks/dint_coverage.py`` and ``tests/test_estimate.py``.

Families (each with a curve of d drawn per study: centre and slope in ln d):

* ``bimodal-*``: every seed either solves (score uniform in [solve_lo, 1]) or fails (uniform in
  [0, 0.45]) at each d, as RL runs do. The solve probability rises with ln d as a logistic, a Gompertz
  (asymmetric) or a near step. ``seeded`` variants give each seed one latent rank, so a seed that
  solves at d solves at every larger d (curves correlated across d); the others draw each d afresh.
* ``ramp-*``: a smooth logistic or Gompertz ramp from 0 to 1 plus Gaussian noise (a per-seed offset
  and per-trial noise).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: The grid of the issue's measurements: 1, 2, 4, ..., 64.
DIMS = tuple(2 ** k for k in range(7))
FAIL_HI = 0.45


def _logistic(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _gompertz(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.exp(-z))


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _gompertz_inv(p: float) -> float:
    return -math.log(-math.log(p))


SHAPES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[float], float], tuple[float, float]]] = {
    # name: (curve of z = (ln d - centre) / slope, its inverse, range of the slope)
    "logistic": (_logistic, _logit, (0.3, 1.0)),
    "gompertz": (_gompertz, _gompertz_inv, (0.3, 1.0)),
    "step": (_logistic, _logit, (0.03, 0.1)),
}


@dataclass(frozen=True)
class Model:
    """One simulation family: ``draw(rng, n_seeds, threshold)`` gives (perf, baseline, truth)."""

    name: str
    shape: str
    bimodal: bool
    seeded: bool = False
    solve_lo: float = 0.92
    noise: float = 0.08
    baseline_sd: float = 0.04
    log_truth: tuple[float, float] = (math.log(1.5), math.log(100.0))
    slope: tuple[float, float] | None = None
    """Range of the curve's slope in ln d (None: the shape's own range in ``SHAPES``)."""
    rho: float | None = None
    """Solve/fail only: correlation of a seed's latent solve draws across d (Gaussian copula); None: 1 when
    ``seeded``, else 0. 0.7 leaves seeds that solve at one d and fail at a larger one, as the atlas stores show."""

    def draw(self, rng: np.random.Generator, n_seeds: int, threshold: float = 0.9,
             dims: tuple[int, ...] = DIMS) -> tuple[np.ndarray, np.ndarray, float]:
        perf, base, truth, _ = self.draw_study(rng, n_seeds, threshold, dims)
        return perf, base, truth

    def draw_study(self, rng: np.random.Generator, n_seeds: int, threshold: float = 0.9,
                   dims: tuple[int, ...] = DIMS) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(perf, baseline, true d_int, true d50): d50 is where P(a seed's performance reaches ``threshold``
        × the population's baseline) = 1/2 (``inf`` beyond reach)."""
        curve, inverse, slopes = SHAPES[self.shape]
        slope = rng.uniform(*(self.slope or slopes))
        # the rate (or ramp height) the mean needs to reach the threshold
        if self.bimodal:
            solved_mean, failed_mean = (self.solve_lo + 1) / 2, FAIL_HI / 2
            p_star = (threshold - failed_mean) / (solved_mean - failed_mean)
        else:
            p_star = threshold
        log_truth = rng.uniform(*self.log_truth)
        truth = math.exp(log_truth) if p_star < 1 else math.inf
        centre = log_truth - slope * inverse(min(p_star, 1 - 1e-9))
        z = (np.log(np.asarray(dims, dtype=np.float64)) - centre) / slope
        p = curve(z)[None, :]
        shape = (n_seeds, len(dims))
        rho = (1.0 if self.seeded else 0.0) if self.rho is None else self.rho
        if self.bimodal:
            if rho >= 1:
                u = rng.random((n_seeds, 1))
            elif rho <= 0:
                u = rng.random(shape)
            else:
                g = math.sqrt(rho) * rng.normal(size=(n_seeds, 1)) + math.sqrt(1 - rho) * rng.normal(size=shape)
                u = 0.5 * (1 + _erf(g / math.sqrt(2)))
            ok = u < p
            raw = np.where(ok, rng.uniform(self.solve_lo, 1.0, shape), rng.uniform(0.0, FAIL_HI, shape))
        else:
            raw = p + rng.normal(0, self.noise / 2, (n_seeds, 1)) + rng.normal(0, self.noise, shape)
        base = 1.0 + rng.normal(0, self.baseline_sd, n_seeds)
        return raw / base.mean(), base / base.mean(), truth, self._d50(centre, slope, threshold)

    def _d50(self, centre: float, slope: float, threshold: float) -> float:
        curve, inverse, _ = SHAPES[self.shape]
        if self.bimodal:  # P(reach) = p(d) * P(a solved score >= threshold)
            frac = min(1.0, (1.0 - threshold) / (1.0 - self.solve_lo)) if threshold > self.solve_lo else 1.0
            if frac <= 0.5:
                return math.inf
            return math.exp(centre + slope * inverse(0.5 / frac))
        # Gaussian noise around the ramp: P(reach) = 1/2 where the ramp itself reaches the threshold
        return math.exp(centre + slope * inverse(threshold)) if threshold < 1 else math.inf


MODELS: tuple[Model, ...] = (
    Model("bimodal-logistic", "logistic", True),
    Model("bimodal-logistic-seeded", "logistic", True, seeded=True),
    Model("bimodal-gompertz", "gompertz", True),
    Model("bimodal-step", "step", True),
    Model("bimodal-lowscore", "logistic", True, solve_lo=0.85),
    Model("ramp-logistic", "logistic", False),
    Model("ramp-gompertz-noisy", "gompertz", False, noise=0.15),
    Model("ramp-step", "step", False, noise=0.05),
)
"""The calibration set: bimodal solve/fail and smooth noisy outcomes over three curve shapes; the true
crossing is uniform in ln d from 1.5 to 100 (so ~10% of studies cross beyond the grid's 64)."""


HELD_OUT: tuple[Model, ...] = (
    Model("bimodal-logistic-rho0.7", "logistic", True, rho=0.7),
    Model("bimodal-gompertz-seeded", "gompertz", True, seeded=True),
    Model("bimodal-shallow", "logistic", True, slope=(1.0, 1.6)),
    Model("bimodal-lowscore-rho0.5", "gompertz", True, solve_lo=0.85, rho=0.5),
    Model("ramp-logistic-quiet", "logistic", False, noise=0.04),
    Model("ramp-logistic-rho", "logistic", False, noise=0.05, baseline_sd=0.08),
)
"""Models the fitted estimators were not tuned on: partial and full correlation of a seed across d, shallower
curves than the calibration set, a lower solve level with correlation, quieter ramps, a noisier baseline."""


def grid_truth(truth: float, dims: tuple[int, ...] = DIMS) -> float:
    """The paper's estimand for a study with this truth: the smallest tested d at or above the crossing."""
    above = [d for d in dims if d >= truth]
    return float(above[0]) if above else math.inf





@dataclass(frozen=True)
class Coverage:
    """How often an interval method covered the truth over simulated studies, and how wide it was."""

    covered: float
    median_width: float
    """Median of hi/lo over the studies (``inf`` when most intervals are open-ended)."""
    studies: int


def coverage(model: Model, n_seeds: int, studies: int, interval: Callable[[np.ndarray, np.ndarray, int],
             tuple[float, float]], grid: bool = False, seed: int = 0, threshold: float = 0.9,
             dims: tuple[int, ...] = DIMS) -> Coverage:
    """Run ``interval(perf, baseline, study) -> (lo, hi)`` on ``studies`` draws of ``model`` on ``dims``; a study
    counts as covered when lo <= truth <= hi (``grid``: the truth is the paper's grid d_int instead)."""
    hits, widths = 0, []
    for k in range(studies):
        rng = np.random.default_rng([seed, n_seeds, k, sum(map(ord, model.name))])
        perf, base, truth = model.draw(rng, n_seeds, threshold, dims)
        if grid:
            truth = grid_truth(truth, dims)
        lo, hi = interval(perf, base, k)
        hits += lo <= truth <= hi
        widths.append(hi / lo if 0 < lo < math.inf else math.inf)
    return Coverage(hits / studies, float(np.median(widths)), studies)
__all__ = ["DIMS", "HELD_OUT", "MODELS", "Coverage", "Model", "SHAPES", "coverage", "grid_truth"]
