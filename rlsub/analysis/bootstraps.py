"""Statistics for d_int: the estimate (re-exported from [`rlsub.analysis.estimator`][rlsub.analysis.estimator]), the older grid bootstraps, P(success).

``estimate_dint`` (see [`rlsub.analysis.estimator`][rlsub.analysis.estimator]) is what ``rlsub dint`` reports: a crossing of a monotone fit
with a CI calibrated on simulated sweeps, and ``compare_estimates`` the test behind "N× easier". The
grid-valued bootstraps below are kept for comparison and for existing callers: on solve/fail outcomes
their nominal 90% CI covers the truth about half the time at 5 seeds (``benchmarks/dint_coverage.py``).

Pure functions over numpy arrays; nothing here reads a store or prints.

**Why paired.** In rlsub a seed fixes θ_0, the projection P and the evaluation episodes for every d,
so the performances of one seed at different d are correlated (a lucky θ_0 is lucky at every d).
The unit of replication is therefore the seed's whole curve ``perf[seed, :]``. Resampling each d
independently (what ``independent_bootstrap_dint`` does, kept here
for comparison) breaks that correlation and can give intervals that are too narrow.

**Comparisons** are a test on the ratio of two estimates: ``compare_estimates`` ([`rlsub.analysis.estimator`][rlsub.analysis.estimator]).
The former rule here (disjoint CIs) was not a 90% test and has been removed.

**Success probability** (Larsen et al., ICLR 2022): the fraction of seeds that solve the task at
each d, and the d where that fraction first reaches 1/2 (``success_crossing``).

Conventions shared by every function: ``None`` as a d_int or as a CI bound means "not reached
within the tested dims" (beyond the largest tested d); NaN in a performance matrix means "this seed
has no trial at this d".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rlsub.analysis.perf_matrix import MIN_SEEDS, as_matrix, few_seeds_note, nanmean

_NOT_REACHED = np.inf


def _first_passing(means: np.ndarray, ds: np.ndarray, threshold: float) -> np.ndarray:
    """Per row of ``means[..., d]``: the smallest d with mean >= threshold, +inf when none (NaN never passes)."""
    passing = np.nan_to_num(means, nan=-np.inf) >= threshold
    any_pass = passing.any(axis=-1)
    first = np.argmax(passing, axis=-1)
    return np.where(any_pass, ds[first].astype(np.float64), _NOT_REACHED)


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval at ``level`` of bootstrap replicates (``inverted_cdf``: always a replicate's value,
    so a d_int interval's bounds are tested dims)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha], method="inverted_cdf")
    return float(lo), float(hi)


def _as_d(v: float) -> int | None:
    return None if not np.isfinite(v) else int(v)


# ----------------------------------------------------------------------------------------------
# 1. bootstrap of d_int
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DintBootstrap:
    """d_int with its bootstrap CI.

    ``dint``/``ci`` use ``None`` for "not reached within the tested dims". ``means`` are the per-d means
    over seeds (NaN where no seed has that d); ``boot_means[b, j]`` the replicate means; ``boot_dint[b]``
    the replicate d_int (``inf`` = not reached). ``few_seeds`` is set when the CI rests on fewer than
    ``MIN_SEEDS`` seeds at some tested d; ``notes`` says so in words.
    """

    dint: int | None
    ci: tuple[int | None, int | None]
    dims: np.ndarray
    means: np.ndarray
    boot_means: np.ndarray
    boot_dint: np.ndarray
    threshold: float
    level: float
    method: str
    n_seeds: int
    seeds_per_d: np.ndarray
    few_seeds: bool
    notes: list[str] = field(default_factory=list)

    def mean_ci(self) -> np.ndarray:
        """Per-d percentile intervals of the mean, ``[len(dims), 2]`` (NaN where no replicate has that d)."""
        out = np.full((len(self.dims), 2), np.nan)
        for j in range(len(self.dims)):
            col = self.boot_means[:, j]
            col = col[~np.isnan(col)]
            if len(col):
                out[j] = _interval(col, self.level)
        return out

    def describe(self) -> str:
        """``d_int90 = 16 [8, 32]`` style summary (``>64`` for bounds beyond the tested dims)."""
        top = f">{int(self.dims[-1])}"
        fmt = lambda v: top if v is None else str(v)  # noqa: E731
        pct = int(round(self.threshold * 100))
        flag = f" (only {self.seeds_per_d.min()} seeds)" if self.few_seeds else ""
        return (f"d_int{pct} = {fmt(self.dint)} [{fmt(self.ci[0])}, {fmt(self.ci[1])}] "
                f"({int(round(self.level * 100))}% {self.method} bootstrap){flag}")


def _result(m: np.ndarray, ds: np.ndarray, boot: np.ndarray, threshold: float, level: float, method: str,
            min_seeds: int) -> DintBootstrap:
    means = nanmean(m, axis=0)
    point = _first_passing(means, ds, threshold)
    boot_d = _first_passing(boot, ds, threshold)
    lo, hi = _interval(boot_d, level)
    per_d = (~np.isnan(m)).sum(axis=0)
    notes: list[str] = []
    few = bool(per_d.min() < min_seeds)
    if (note := few_seeds_note(ds, per_d, min_seeds)) is not None:
        notes.append(note)
    if np.any(per_d == 0):
        notes.append("some dims have no trial at all; they never count as passing")
    return DintBootstrap(
        dint=_as_d(point), ci=(_as_d(lo), _as_d(hi)), dims=ds, means=means, boot_means=boot, boot_dint=boot_d,
        threshold=threshold, level=level, method=method, n_seeds=int(m.shape[0]), seeds_per_d=per_d,
        few_seeds=few, notes=notes,
    )


def paired_bootstrap_dint(perf: np.ndarray, dims: Sequence[int], threshold: float = 0.9, n_boot: int = 2000,
                          level: float = 0.9, seed: int = 0, min_seeds: int = MIN_SEEDS) -> DintBootstrap:
    """d_int and its CI from a bootstrap that resamples seeds as whole curves.

    Args:
        perf: ``[seed, d]`` normalised performance; NaN where a seed has no trial at that d.
        dims: the tested d of each column (any order; sorted here).
        threshold: d_int is the smallest d whose mean over seeds reaches this (0.9: d_int90).
        n_boot: bootstrap replicates. Each draws ``n_seeds`` seed indices with replacement and takes,
            at every d, the mean over the drawn seeds that have a value there (a d where none of them
            has one does not pass in that replicate).
        level: confidence level of the percentile interval.
        seed: seed of the resampling RNG (``np.random.default_rng(seed)``).
        min_seeds: flag the result when some d has fewer seeds than this.

    Returns:
        A ``DintBootstrap`` (``method="paired"``).

    Example:
        >>> perf = np.array([[0.2, 0.95], [0.3, 0.92]])
        >>> paired_bootstrap_dint(perf, [4, 8]).dint
        8
    """
    m, ds = as_matrix(perf, dims)
    n = m.shape[0]
    if n == 0:
        raise ValueError("perf has no seed with any value")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    boot = nanmean(m[idx], axis=1)  # [n_boot, n, n_d] → [n_boot, n_d]
    return _result(m, ds, boot, threshold, level, "paired", min_seeds)


def independent_bootstrap_dint(perf: np.ndarray, dims: Sequence[int], threshold: float = 0.9,
                               n_boot: int = 2000, level: float = 0.9, seed: int = 0,
                               min_seeds: int = MIN_SEEDS) -> DintBootstrap:
    """The same estimate with each d resampled on its own (the semantics of the former ``bootstrap_dint`` of [`rlsub.analysis.dint`][rlsub.analysis.dint]).

    Kept for comparison: it ignores that one seed's results at different d are correlated and so
    understates the uncertainty when they are (see the module docstring).
    """
    m, ds = as_matrix(perf, dims)
    if m.shape[0] == 0:
        raise ValueError("perf has no seed with any value")
    rng = np.random.default_rng(seed)
    boot = np.full((n_boot, len(ds)), np.nan)
    for j in range(len(ds)):
        vals = m[:, j][~np.isnan(m[:, j])]
        if len(vals):
            boot[:, j] = vals[rng.integers(0, len(vals), size=(n_boot, len(vals)))].mean(axis=1)
    return _result(m, ds, boot, threshold, level, "independent", min_seeds)


# ----------------------------------------------------------------------------------------------
# 2. comparison rule
# ----------------------------------------------------------------------------------------------
# ----------------------------------------------------------------------------------------------
# 3. success probability (Larsen et al. 2022)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SuccessCrossing:
    """Fraction of seeds solving at each d and where it first reaches ``target`` (1/2 by default).

    ``d_cross`` is interpolated log-linearly between the two tested dims that bracket the first
    crossing (``bracket``); it equals the first tested d when that d already reaches the target
    (``at_lowest``: the crossing may lie below the tested range) and is None when no d reaches it.
    ``ci`` is a paired bootstrap interval over seeds (None bound: not reached).
    """

    dims: np.ndarray
    p_success: np.ndarray
    seeds_per_d: np.ndarray
    target: float
    d_cross: float | None
    bracket: tuple[int, int] | None
    at_lowest: bool
    ci: tuple[float | None, float | None] | None
    level: float
    few_seeds: bool


def _crossing(p: np.ndarray, logd: np.ndarray, target: float) -> np.ndarray:
    """Rows of ``p[..., d]``: log of the first log-linear crossing of ``target`` (+inf: never; NaN p never
    counts as reaching it and is skipped as a left end)."""
    p2 = np.atleast_2d(p)
    out = np.full(p2.shape[0], np.inf)
    for r, row in enumerate(p2):
        prev = None  # last tested d (index) with a known p below target
        for j, v in enumerate(row):
            if np.isnan(v):
                continue
            if v >= target:
                if prev is None:
                    out[r] = logd[j]
                else:
                    t = (target - row[prev]) / (v - row[prev])
                    out[r] = logd[prev] + t * (logd[j] - logd[prev])
                break
            prev = j
    return out


def success_crossing(solved: np.ndarray, dims: Sequence[int], target: float = 0.5, n_boot: int = 2000,
                     level: float = 0.9, seed: int = 0, min_seeds: int = MIN_SEEDS) -> SuccessCrossing:
    """Success probability per d and the d where it first reaches ``target``.

    Args:
        solved: ``[seed, d]`` booleans (or 0/1 floats with NaN where a seed has no trial at that d).
        dims: tested d per column (sorted here).
        target: success probability to cross (Larsen et al. use 1/2).
        n_boot: paired bootstrap replicates for the CI (0: no CI).

    The crossing is the *first* one: walking up the tested dims, the first d whose success fraction
    reaches ``target``, interpolated linearly in log d from the previous tested d (whose fraction is
    below target): ``log d* = log d_a + (target - p_a) / (p_b - p_a) · (log d_b - log d_a)``.
    Interpolating (rather than returning d_b) keeps the estimate from jumping a whole octave when
    one seed flips, and it is used identically for the point estimate and every replicate.

    Example:
        >>> solved = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 0, 1], [0, 0, 1, 1]])
        >>> round(success_crossing(solved, [1, 2, 4, 8], n_boot=0).d_cross, 3)   # p = 0, .25, .75, 1
        2.828
    """
    m, ds = as_matrix(np.asarray(solved, dtype=np.float64), dims)
    vals = m[~np.isnan(m)]
    if np.any((vals != 0) & (vals != 1)):
        raise ValueError("solved must hold booleans (0/1), with NaN for missing trials")
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be in (0, 1], got {target}")
    logd = np.log(ds.astype(np.float64))
    p = nanmean(m, axis=0)
    c = float(_crossing(p, logd, target)[0])
    d_cross = None if math.isinf(c) else float(np.exp(c))
    bracket = None
    at_lowest = False
    if d_cross is not None:
        known = [j for j in range(len(ds)) if not np.isnan(p[j])]
        first = next(j for j in known if p[j] >= target)
        before = [j for j in known if j < first]
        at_lowest = not before
        bracket = (int(ds[before[-1]]) if before else int(ds[first]), int(ds[first]))
        if at_lowest:
            d_cross = float(ds[first])
    ci = None
    if n_boot > 0 and m.shape[0] > 0:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, m.shape[0], size=(n_boot, m.shape[0]))
        boot = _crossing(nanmean(m[idx], axis=1), logd, target)
        lo, hi = _interval(boot, level)
        ci = (None if math.isinf(lo) else float(np.exp(lo)), None if math.isinf(hi) else float(np.exp(hi)))
    per_d = (~np.isnan(m)).sum(axis=0)
    return SuccessCrossing(ds, p, per_d, target, d_cross, bracket, at_lowest, ci, level,
                           bool(per_d.min() < min_seeds))


__all__ = [ "DintBootstrap", "SuccessCrossing", "independent_bootstrap_dint", "paired_bootstrap_dint", "success_crossing",
]
