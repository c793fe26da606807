"""d_int as an estimate with a calibrated CI: where a monotone fit of mean performance crosses the threshold.

The paper's d_int90 is the smallest *tested* d whose mean reaches 90% of the baseline: a grid point,
and with five seeds a noisy one. ``estimate_dint`` reports instead the d where an isotonic (PAV) fit
of the mean normalised performance, taken as a function of ln d, crosses the threshold, interpolated
linearly in ln d between the two tested dims that bracket the crossing (``inf``: not reached).

**The CI** is a smoothed Bayesian bootstrap over seeds (a seed's whole curve is the unit, as in
``rlsub.analysis.bootstraps.paired_bootstrap_dint``). Two things make it honest where the plain paired bootstrap
covers the truth about half the time on solve/fail data:

* *Pseudo-seeds.* At every d each replicate adds a seed that fails (normalised performance 0, the
  floor) and one that reaches the baseline (1), drawn afresh per d, with Gamma(``PRIOR``) weights
  beside the real seeds' Gamma(1) weights: a Dirichlet(1, ..., 1, PRIOR, PRIOR) Bayesian bootstrap, a
  Jeffreys-style pseudo-count toward failure and success. When 5 of 5 seeds solve at some d, a
  resample of those seeds can never show a failure; a true solve rate of 85% leaves all five solving
  44% of the time, and the failing pseudo-seed keeps that possibility in the interval.
* *Bracketing bounds.* Between two tested dims only monotonicity is known: a step anywhere between
  them fits the data as well as a ramp. So the CI's lower bound is the tested d just below the
  lower replicate crossings and its upper bound the tested d at or above the upper ones (bounds are
  tested dims, or 1 when the smallest d already passes; the estimate itself lies between them).

The baseline's own seeds (the ``full`` trials) are resampled the same way in every replicate and the
curve is rescaled by the replicate baseline mean, so an uncertain baseline widens the CI.

Calibration (``benchmarks/dint_coverage.py``, ``tests/test_estimate.py``): over simulated sweeps whose
truth is known (bimodal solve/fail outcomes with logistic, Gompertz and step-like solve rates, smooth
ramps with Gaussian noise, crossings between grid points and beyond the grid), the nominal 90% CI
covers the true crossing in at least 85% of studies at 5 seeds (96-100% per model; 90-99% at 10).
The price is width: five solve/fail seeds cannot place a 90% crossing closely, and the median CI
spans hi/lo of 16-64 there (the paired bootstrap's 2, at 45% coverage). ``PRIOR`` is the one
calibrated constant; ``benchmarks/dint_coverage.py --prior`` shows coverage and width around it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rlsub.analysis.perf_matrix import MIN_SEEDS, as_matrix, few_seeds_note, nanmean

#: Weight of each pseudo-seed (one failing, one reaching the baseline) relative to one real seed.
#: Chosen on the simulations of ``rlsub.analysis.simulate`` (``benchmarks/dint_coverage.py`` sweeps it): 0.05 leaves
#: correlated solve/fail curves under-covered at 5 seeds, 0.2 makes most upper bounds "beyond the grid".
PRIOR = 0.1
#: Bootstrap replicates per estimate.
N_BOOT = 2000


# ----------------------------------------------------------------------------------------------
# monotone fit and its crossing, for a batch of curves at once
# ----------------------------------------------------------------------------------------------
def isotonic(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of each row of ``values[..., k]`` (PAV's answer).

    Uses the min-max form ``f_j = max_{i<=j} min_{k>=j} mean(values[i..k])``: O(k^3) per row but
    vectorised over rows, which for the dozen dims of a sweep is faster than a Python PAV loop.
    """
    v = np.atleast_2d(np.asarray(values, dtype=np.float64))
    w = np.broadcast_to(np.atleast_2d(weights), v.shape).astype(np.float64)
    k = v.shape[-1]
    zero = np.zeros(v.shape[:-1] + (1,))
    cs = np.concatenate([zero, np.cumsum(v * w, axis=-1)], axis=-1)
    cw = np.concatenate([zero, np.cumsum(w, axis=-1)], axis=-1)
    i, j = np.triu_indices(k)
    block = np.full(v.shape[:-1] + (k, k), np.inf)  # block[..., i, k]: weighted mean of values i..k
    with np.errstate(invalid="ignore", divide="ignore"):
        block[..., i, j] = (cs[..., j + 1] - cs[..., i]) / (cw[..., j + 1] - cw[..., i])
    inner = np.minimum.accumulate(block[..., ::-1], axis=-1)[..., ::-1]  # min over k >= j
    inner[..., np.tril_indices(k, -1)[0], np.tril_indices(k, -1)[1]] = -np.inf
    return inner.max(axis=-2).reshape(np.shape(values))


def crossing(fit: np.ndarray, logd: np.ndarray, target: float) -> np.ndarray:
    """ln d where each non-decreasing row of ``fit[..., k]`` first reaches ``target``, linear in ln d between
    the bracketing dims; ``logd[0]`` when the first d already reaches it, ``inf`` when none does."""
    f = np.atleast_2d(fit)
    passing = f >= target
    first = np.argmax(passing, axis=-1)
    prev = np.maximum(first - 1, 0)
    rows = np.arange(f.shape[0])
    fa, fb = f[rows, prev], f[rows, first]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(fb > fa, (target - fa) / (fb - fa), 1.0)
    out = logd[prev] + np.clip(t, 0.0, 1.0) * (logd[first] - logd[prev])
    out = np.where(first == 0, logd[0], out)
    return np.where(passing.any(axis=-1), out, np.inf)


def brackets(fit: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the tested dims bracketing each row's first crossing: (last d below ``target``, first d at
    or above it). Between them only monotonicity is known, so the crossing can lie anywhere in that range.
    The left index is -1 when the first d already reaches the target; the right one ``k`` (one past the
    largest d) when no d does."""
    f = np.atleast_2d(fit)
    passing = f >= target
    first = np.where(passing.any(axis=-1), np.argmax(passing, axis=-1), f.shape[-1])
    return first - 1, first


# ----------------------------------------------------------------------------------------------
# the estimate
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DintEstimate:
    """A crossing of ``target`` by the monotone fit, with its CI.

    ``estimate``, ``ci`` and ``grid_dint`` are floats in d units, ``inf`` meaning "beyond the largest
    tested d". ``grid_dint`` is the paper's definition: the smallest tested d whose mean reaches the
    target. ``at_lowest``: the fit already reaches it at the smallest tested d (the crossing may lie
    below). ``means``/``fitted`` are per tested d (NaN where no seed has that d); ``mean_ci`` the
    per-d replicate intervals of the mean; ``boot_log`` the replicate crossings in ln d (``inf``: not
    reached), what ``rlsub.compare.compare_estimates`` resamples.
    """

    estimate: float
    ci: tuple[float, float]
    grid_dint: float
    dims: np.ndarray
    means: np.ndarray
    fitted: np.ndarray
    mean_ci: np.ndarray
    boot_log: np.ndarray
    target: float
    level: float
    n_seeds: int
    seeds_per_d: np.ndarray
    baseline_seeds: int
    at_lowest: bool
    few_seeds: bool
    notes: list[str] = field(default_factory=list)

    def describe(self, name: str = "") -> str:
        """``d_int90 = 11.3 [6.1, 24] (grid 16)``; ``>64`` for "beyond the largest tested d"."""
        top = int(self.dims[-1])
        label = name or f"d_int{int(round(self.target * 100))}"
        est = fmt_d(self.estimate, top)
        if self.at_lowest:
            est = f"<={est}"
        return (f"{label} = {est} [{fmt_d(self.ci[0], top)}, {fmt_d(self.ci[1], top)}] "
                f"({int(round(self.level * 100))}% CI; grid {fmt_d(self.grid_dint, top)})")


def fmt_d(v: float, top: int) -> str:
    """A d for print: 3 significant digits, ``>top`` for infinity."""
    return f">{top}" if math.isinf(v) else f"{v:.3g}"


def estimate_dint(perf: np.ndarray, dims: Sequence[int], threshold: float = 0.9, level: float = 0.9,
                  seed: int = 0, *, baseline: Sequence[float] | None = None, n_boot: int = N_BOOT,
                  prior: float = PRIOR, min_seeds: int = MIN_SEEDS) -> DintEstimate:
    """d where the monotone fit of mean normalised performance in ln d crosses ``threshold``, with its CI.

    Args:
        perf: ``[seed, d]`` normalised performance (0: floor, 1: the baseline's mean); NaN where a seed
            has no trial at that d.
        dims: the tested d of each column (any order; sorted here).
        threshold: 0.9 for d_int90.
        level: confidence level of the interval.
        seed: seed of the resampling RNG.
        baseline: the baseline's per-seed values in the units of ``perf`` (the ``full`` trials'
            normalised final returns, mean ~1). Resampled jointly with the curves; None: taken as exact.
        n_boot: replicates.
        prior: weight of each pseudo-seed relative to one real seed (0: no pseudo-seeds).
        min_seeds: flag the result when some d has fewer seeds than this.

    Example:
        >>> perf = np.array([[0.1, 0.5, 1.0], [0.1, 0.7, 1.0], [0.2, 0.6, 0.98]])
        >>> round(estimate_dint(perf, [1, 4, 16]).estimate, 2)  # means 0.6 at d=4, 0.99 at 16: 4 * 4^0.76
        11.51
    """
    return _estimate(perf, dims, threshold, level, seed, baseline, n_boot, prior, min_seeds, reach=None)


def reach_estimate(perf: np.ndarray, dims: Sequence[int], threshold: float = 0.9, level: float = 0.9,
                   seed: int = 0, *, baseline: Sequence[float] | None = None, n_boot: int = N_BOOT,
                   prior: float = PRIOR, min_seeds: int = MIN_SEEDS) -> DintEstimate:
    """Success probability on d_int's own criterion: per d, the fraction of seeds whose performance reaches
    ``threshold`` (× the baseline), and the d where its monotone fit crosses 1/2, with a CI.

    Same arguments as ``estimate_dint``; ``means`` are the fractions, ``target`` is 1/2, ``grid_dint``
    the smallest tested d where at least half the seeds reach the threshold.
    """
    return _estimate(perf, dims, 0.5, level, seed, baseline, n_boot, prior, min_seeds, reach=threshold)


def _estimate(perf, dims, target, level, seed, baseline, n_boot, prior, min_seeds, reach) -> DintEstimate:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    m, ds = as_matrix(perf, dims)
    if m.shape[0] == 0:
        raise ValueError("perf has no seed with any value")
    base = _baseline(baseline)
    present = ~np.isnan(m)
    per_d = present.sum(axis=0)
    notes: list[str] = []
    if np.any(per_d == 0):
        notes.append("some dims have no trial at all; the fit skips them")
    cols = per_d > 0
    logd = np.log(ds[cols].astype(np.float64))
    vals = m if reach is None else np.where(present, (m >= reach * (1 - 1e-12)).astype(np.float64), np.nan)
    means = nanmean(vals, axis=0)
    fitted = np.full(len(ds), np.nan)
    fitted[cols] = isotonic(means[cols], per_d[cols])
    cut = target * (1 - 1e-12)  # a mean of (0.95 + 0.85) / 2 is 0.8999... in floating point
    point = float(crossing(fitted[cols], logd, cut)[0])
    grid = np.flatnonzero(np.nan_to_num(means, nan=-np.inf) >= cut)
    boot_means, weights = _replicates(m, present, base, reach, seed, n_boot, prior)
    boot_fit = isotonic(boot_means[:, cols], weights[:, cols])
    boot_log = crossing(boot_fit, logd, cut)
    alpha = (1.0 - level) / 2.0
    left, right = brackets(boot_fit, cut)
    tested = np.concatenate([[1.0], ds[cols].astype(np.float64), [math.inf]])  # index -1 -> d = 1, k -> inf
    lo = float(tested[int(np.quantile(left, alpha, method="inverted_cdf")) + 1])
    hi = float(tested[int(np.quantile(right, 1 - alpha, method="inverted_cdf")) + 1])
    mean_ci = np.full((len(ds), 2), np.nan)
    mean_ci[cols] = np.quantile(boot_means[:, cols], [alpha, 1 - alpha], axis=0).T
    if (note := few_seeds_note(ds, per_d, min_seeds)) is not None:
        notes.append(note)
    if base is not None and len(base) < 2:
        notes.append("one baseline seed: its uncertainty cannot be resampled and is left out of the CI")
    return DintEstimate(
        estimate=_exp(point), ci=(lo, hi), grid_dint=float(ds[grid[0]]) if len(grid) else math.inf,
        dims=ds, means=means, fitted=fitted, mean_ci=mean_ci, boot_log=boot_log, target=target, level=level,
        n_seeds=int(m.shape[0]), seeds_per_d=per_d, baseline_seeds=0 if base is None else len(base),
        at_lowest=bool(np.isfinite(point) and point == logd[0]), few_seeds=bool(per_d.min() < min_seeds),
        notes=notes,
    )


def _baseline(baseline: Sequence[float] | None) -> np.ndarray | None:
    if baseline is None:
        return None
    b = np.asarray(baseline, dtype=np.float64).ravel()
    b = b[~np.isnan(b)]
    if len(b) == 0:
        return None
    if np.mean(b) <= 0:
        raise ValueError(f"baseline values must have a positive mean, got {b.tolist()}")
    return b


def _replicates(m, present, base, reach, seed, n_boot, prior) -> tuple[np.ndarray, np.ndarray]:
    """Replicate per-d means ``[n_boot, d]`` (Bayesian bootstrap over seeds, pseudo-seeds per d) and the
    fit's weights (seeds per d)."""
    rng = np.random.default_rng(seed)
    n, k = m.shape
    g = rng.gamma(1.0, size=(n_boot, n))  # Dirichlet(1, ..., 1) weights of the seeds, shared by every d
    scale = np.ones(n_boot)
    if base is not None and len(base) >= 2:
        gb = rng.gamma(1.0, size=(n_boot, len(base)))
        scale = np.mean(base) / np.maximum((gb @ base) / gb.sum(axis=1), 1e-12)
    x = np.where(present, m, 0.0)
    p = present.astype(np.float64)
    if reach is None:
        s = (g @ x) * scale[:, None]
    else:  # a seed reaches the criterion when its value, rescaled by the replicate baseline, does
        hit = (x[None] * scale[:, None, None] >= reach * (1 - 1e-12)) & present[None]
        s = np.einsum("bn,bnd->bd", g, hit.astype(np.float64))
    # Pseudo-seeds, drawn afresh at every d: one failing (0), one reaching the baseline (1), each with a
    # Gamma(prior) weight beside the real seeds' Gamma(1) weights, i.e. Dirichlet(1, ..., 1, prior, prior).
    fail, win = rng.gamma(prior, size=(2, n_boot, k)) if prior > 0 else np.zeros((2, n_boot, k))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (s + win) / (g @ p + fail + win)
    return means, np.broadcast_to(p.sum(axis=0), means.shape)


def _exp(v: float) -> float:
    return math.inf if v > 700 else float(math.exp(v))


def deciding_dims(est: DintEstimate) -> list[int]:
    """The tested dims whose results decide the crossing and its CI: from the last d at or below the CI's
    lower bound to the first d at or above its upper bound (every d from there up when the upper bound
    is beyond the largest tested d: more seeds there, or a larger d, would narrow it)."""
    ds = est.dims[est.seeds_per_d > 0]
    lo, hi = est.ci
    below = ds[ds <= lo]
    above = ds[ds >= hi]
    start = below[-1] if len(below) else ds[0]
    stop = above[0] if len(above) else ds[-1]
    return [int(d) for d in ds if start <= d <= stop]


# ----------------------------------------------------------------------------------------------
# comparison: a test on the ratio of two estimates
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RatioTest:
    """``ratio`` = d_int(harder) / d_int(easier) (>= 1, from the estimates) with a two-sample bootstrap CI.

    ``distinguishable`` when the CI excludes 1; then ``easier``/``harder`` name the tasks. When neither
    estimate is reached within the tested dims, ``ratio`` is NaN and the tasks are not distinguishable.
    """

    first: str
    second: str
    easier: str | None
    harder: str | None
    ratio: float
    ci: tuple[float, float]
    distinguishable: bool
    level: float
    sentence: str


def fmt_ratio(r: float) -> str:
    """``8.1``, ``120``, ``inf`` for a ratio."""
    if math.isnan(r):
        return "?"
    if math.isinf(r):
        return "inf"
    return f"{r:.2g}" if r < 10 else f"{r:.0f}"


def _censored(est: DintEstimate, log_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each replicate crossing as an interval in ln d: ``(c, c)`` inside the tested range; ``(ln d_max,
    inf)`` when it is not reached (only "beyond the largest tested d" is known); ``(-inf, ln d_min)``
    when the smallest tested d already passes (only "at or below it" is known)."""
    tested = est.dims[est.seeds_per_d > 0]
    top, bottom = math.log(float(tested.max())), math.log(float(tested.min()))
    lo = np.where(np.isinf(log_c), top, log_c)
    lo = np.where(log_c <= bottom, -np.inf, lo)
    hi = np.where(log_c <= bottom, bottom, log_c)
    return lo, hi


def compare_estimates(a: tuple[str, DintEstimate], b: tuple[str, DintEstimate], seed: int = 0) -> RatioTest:
    """Test whether two tasks' d_int estimates differ: the ratio d_int(B) / d_int(A) with a percentile CI from
    their replicates, paired at random (the two bootstraps are independent samples, ``seed`` shuffles).

    A replicate crossing outside its own tested range is censored there: beyond the largest d (not
    reached) it is only known to exceed that d, at the smallest d (already passing) only to lie at or
    below it. Each pair of replicates then bounds the ratio by an interval, and the CI takes the end
    that counts against a claim: its lower bound from the pairs' lowest ratios, its upper bound from
    their highest. So two tasks swept over different grids are never called apart by a "beyond the
    grid" alone. "X is N× easier than Y" is said only when the CI excludes 1.
    """
    (na, ea), (nb, eb) = a, b
    if ea.level != eb.level or ea.target != eb.target:
        raise ValueError(f"estimates of different criteria: level {ea.level} / {eb.level}, target {ea.target} / {eb.target}")
    level, pct = ea.level, int(round(ea.target * 100))
    rng = np.random.default_rng(seed)
    a_lo, a_hi = _censored(ea, ea.boot_log)
    pick = rng.permutation(len(eb.boot_log))[np.arange(len(ea.boot_log)) % len(eb.boot_log)]
    b_lo, b_hi = _censored(eb, eb.boot_log[pick])
    with np.errstate(invalid="ignore"):
        r_lo = np.nan_to_num(b_lo - a_hi, nan=-np.inf)  # (-inf) - (-inf) or inf - inf: no bound at all
        r_hi = np.nan_to_num(b_hi - a_lo, nan=np.inf)
    alpha = (1 - level) / 2
    lo = float(np.quantile(r_lo, alpha, method="inverted_cdf"))
    hi = float(np.quantile(r_hi, 1 - alpha, method="inverted_cdf"))
    (pa_lo, pa_hi), (pb_lo, pb_hi) = (_censored(e, np.array([math.log(e.estimate) if math.isfinite(e.estimate)
                                                              else math.inf])) for e in (ea, eb))
    with np.errstate(invalid="ignore"):
        p_lo, p_hi = float(pb_lo[0] - pa_hi[0]), float(pb_hi[0] - pa_lo[0])
    # the point ratio of the estimates; where one is censored, the bound nearest 1 (shown with >= / <=)
    bounded = not (p_lo == p_hi)
    point = math.nan if math.isnan(p_lo) or math.isnan(p_hi) else (
        p_lo if p_lo > 0 else p_hi if p_hi < 0 else 0.0 if bounded else p_lo)
    flip = point < 0
    if flip:  # report harder / easier >= 1
        point, lo, hi = -point, -hi, -lo
    easy, hard = (nb, na) if flip else (na, nb)
    with np.errstate(over="ignore"):
        ratio, ci = float(np.exp(point)), (float(np.exp(lo)), float(np.exp(hi)))
    sep = lo > 0
    undetermined = math.isnan(point) or (bounded and point == 0.0)
    shown = "?" if undetermined else (">=" if bounded else "") + fmt_ratio(ratio)
    words = (f"d_int{pct}({hard})/d_int{pct}({easy}) = {shown}x [{fmt_ratio(ci[0])}, "
             f"{fmt_ratio(ci[1])}] ({int(round(level * 100))}% two-sample bootstrap CI)")
    if math.isinf(ea.estimate) and math.isinf(eb.estimate):
        sentence = f"{na} and {nb} are not distinguishable: neither reaches the threshold within the tested dims."
    elif undetermined and not sep:
        sentence = (f"{na} and {nb} are not distinguishable: their crossings lie outside the tested dims in a way "
                    f"that bounds no ratio ({words}).")
    elif sep:
        sentence = f"{easy} is {shown}x easier than {hard}: {words}, which excludes 1."
    else:
        sentence = f"{na} and {nb} are not distinguishable: {words} contains 1."
    return RatioTest(na, nb, easy if sep else None, hard if sep else None, math.nan if undetermined else ratio,
                     ci, bool(sep), level, sentence)


__all__ = ["N_BOOT", "PRIOR", "DintEstimate", "brackets", "crossing", "deciding_dims", "RatioTest", "compare_estimates", "estimate_dint", "fmt_ratio",
           "fmt_d", "isotonic", "reach_estimate"]
