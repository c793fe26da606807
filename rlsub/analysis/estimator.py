"""d_int as an estimate with a calibrated CI: a fitted curve's crossing where calibrated, a monotone fit's elsewhere.

``estimate_dint`` returns a ``DintEstimate``: ``estimate``/``ci`` for d_int90 and, beside them, ``d50``/``d50_ci``,
the d where half the seeds reach 90% of the baseline ([`rlsub.analysis.success_fit`][rlsub.analysis.success_fit]: fitted curves of
P(success) in ln d, CI calibrated and widened for seeds correlated across d). ``model`` says which curve gave
d_int90: 'mixture' (solve/fail outcomes) or 'smooth' (ramps), chosen by AIC, or 'monotone' when no fit is
adequate; ``monotone`` keeps the isotonic estimate and CI beside the fitted ones.

**The monotone estimate** is where an isotonic (PAV) fit of the mean, as a function of ln d, crosses the
threshold, interpolated linearly in ln d. Its CI is a smoothed Bayesian bootstrap over whole seeds with
*pseudo-seeds* (at every d one failing and one solving seed with Gamma(``PRIOR``) weights, a Jeffreys-style
pseudo-count: five of five seeds solving is not "always solves") and *bracketing bounds* (between two tested
dims only monotonicity is known, so bounds are tested dims). It covers the truth in 96-100% of simulated
studies at 5 seeds where 90% is asked: honest, but wide (``benchmarks/resolution.py`` prints both).

The baseline's own seeds (the ``full`` trials) are resampled with the curves, so an uncertain baseline
widens the CI. ``compare_estimates`` is the ratio test ("N× easier"), on d50 by default.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rlsub.analysis.dint_fit import fit_dint
from rlsub.analysis.perf_matrix import MIN_SEEDS, as_matrix, few_seeds_note, nanmean
from rlsub.analysis.success_fit import fit_d50

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
    reached), what [`compare_estimates`][rlsub.analysis.estimator.compare_estimates] resamples.
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
    d50: float = math.nan
    """d where P(a seed reaches ``target`` × its baseline) = 1/2, from a fitted curve ([`rlsub.analysis.success_fit`][rlsub.analysis.success_fit]);
    NaN when not fitted. ``inf``: beyond the largest tested d."""
    d50_ci: tuple[float, float] = (math.nan, math.nan)
    d50_log: np.ndarray | None = None
    """Draws of ln d50 (``inf``: beyond the grid), what ``compare_estimates(on="d50")`` resamples."""
    d50_deff: float = 1.0
    """The within-seed design effect the d50 fit measured and widened its CI by (1: independent across d)."""
    model: str = "monotone"
    """Which model gave ``estimate``/``ci``: 'mixture' or 'smooth' (fitted curves) or 'monotone' (isotonic)."""
    model_why: str = ""
    monotone: tuple[float, tuple[float, float], np.ndarray] | None = None
    """The isotonic estimate, its CI and replicates (``boot_log``) before fitted curves; d_int ratio tests use them."""
    perf: np.ndarray | None = field(default=None, repr=False)
    """The ``[seed, d]`` matrix the estimate was computed from (dims ascending)."""

    def describe(self, name: str = "") -> str:
        """``d_int90 = 11.3 [6.1, 24] (grid 16)``; ``>64`` for "beyond the largest tested d"."""
        top = int(self.dims[-1])
        label = name or f"d_int{int(round(self.target * 100))}"
        est = fmt_d(self.estimate, top)
        if self.at_lowest:
            est = f"<={est}"
        out = (f"{label} = {est} [{fmt_d(self.ci[0], top)}, {fmt_d(self.ci[1], top)}] "
               f"({int(round(self.level * 100))}% CI, {self.model}; grid {fmt_d(self.grid_dint, top)})")
        if not math.isnan(self.d50):
            out += f"; d50 = {fmt_d(self.d50, top)} [{fmt_d(self.d50_ci[0], top)}, {fmt_d(self.d50_ci[1], top)}]"
        return out


def fmt_d(v: float, top: int) -> str:
    """A d for print: 3 significant digits, ``>top`` for infinity."""
    return f">{top}" if math.isinf(v) else f"{v:.3g}"


def estimate_dint(perf: np.ndarray, dims: Sequence[int], threshold: float = 0.9, level: float = 0.9,
                  seed: int = 0, *, baseline: Sequence[float] | None = None, n_boot: int = N_BOOT,
                  prior: float = PRIOR, min_seeds: int = MIN_SEEDS, fit: bool = True) -> DintEstimate:
    """d where mean normalised performance in ln d crosses ``threshold``, with its CI, and d50 beside it.

    The estimate is a fitted curve's ([`fit_dint`][rlsub.analysis.dint_fit.fit_dint]: a solve/fail mixture or a
    smooth ramp, by AIC) where one is calibrated, else the monotone (isotonic) fit's; ``model`` says which
    and ``model_why`` why. ``d50``/``d50_ci``: where P(a seed reaches ``threshold``) = 1/2 (``fit_d50``).

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
        fit: fit the curves (d50, and the d_int estimate where calibrated); False: the monotone estimate only.

    Example:
        >>> perf = np.array([[0.1, 0.5, 1.0], [0.1, 0.7, 1.0], [0.2, 0.6, 0.98]])
        >>> round(estimate_dint(perf, [1, 4, 16], fit=False).estimate, 2)  # means 0.6 at 4, 0.99 at 16: 4 * 4^0.76
        11.51
    """
    est = _estimate(perf, dims, threshold, level, seed, baseline, n_boot, prior, min_seeds, reach=None)
    return with_fits(est, threshold, level, seed, baseline) if fit else est


def with_fits(est: DintEstimate, threshold: float, level: float, seed: int, baseline) -> DintEstimate:
    """``est`` with d50 and, where it is the calibrated choice, the fitted curve's d_int in place of the monotone one."""
    cols = est.seeds_per_d > 0
    m, ds = est.perf[:, cols], est.dims[cols]
    s50 = fit_d50(m, ds, threshold, level, seed, baseline)
    out = dict(d50=s50.d50, d50_ci=s50.ci, d50_log=s50.log_draws, d50_deff=s50.deff,
               monotone=(est.estimate, est.ci, est.boot_log), notes=est.notes + s50.notes)
    why = _monotone_reason(est, m)
    fitted = None if why else fit_dint(m, ds, threshold, level, seed, baseline)
    if fitted is not None and math.isinf(fitted.estimate) != math.isinf(est.estimate):
        why = ("the fitted curve and the means disagree on whether the threshold is reached within the tested dims"
               "; the means decide")
        fitted = None
    if fitted is None:
        out.update(model="monotone", model_why=why or "too few dims or seeds for a fitted curve")
    else:  # both models' CIs are calibrated on benchmarks/resolution.py's simulations
        out.update(model=fitted.model, model_why=fitted.why, estimate=fitted.estimate, ci=fitted.ci, boot_log=fitted.log_draws)
        if fitted.estimate > est.grid_dint:  # a reader sees the mean pass at grid_dint and an estimate above it: say why
            out["notes"] = out["notes"] + [f"the fitted curve puts the expected mean's crossing above the grid d_int90 "
                                           f"({est.grid_dint:g}), where these seeds' mean passes: a few seeds' mean "
                                           "can exceed its expectation; the grid value is the paper's definition"]
    return dataclasses.replace(est, **out)


def _monotone_reason(est: DintEstimate, m: np.ndarray) -> str:
    """Why the monotone estimate stands without a fitted curve ('' when a fit may replace it)."""
    if est.at_lowest:
        return "the mean reaches the threshold at the smallest tested d: a fitted curve would extrapolate below the grid"
    if m.shape[1] < 3 or m.shape[0] < 2:
        return "fewer than 3 tested dims or 2 seeds: too little to fit a curve"
    return ""


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
        notes=notes, perf=m,
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
    """``ratio`` = d(harder) / d(easier) (>= 1, from the estimates; d50 or d_int, ``on``) with a two-sample CI.

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
    on: str = "d_int"
    """The statistic compared: 'd50' or 'd_int90' (and so on for other thresholds)."""


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


def compare_estimates(a: tuple[str, DintEstimate], b: tuple[str, DintEstimate], seed: int = 0,
                      on: str = "d50") -> RatioTest:
    """Test whether two tasks' estimates differ: the ratio B / A of d50 (``on="d50"``, the default: the statistic
    five seeds place best) or of d_int (``on="dint"``), with a percentile CI from their replicates (posterior
    draws of the fitted curves; bootstrap replicates of a monotone estimate), paired at random (``seed``
    shuffles). When either estimate has no d50 (not fitted), d_int is compared.

    A replicate crossing outside its own tested range is censored there: beyond the largest d (not
    reached) it is only known to exceed that d, at the smallest d (already passing) only to lie at or
    below it. Each pair of replicates then bounds the ratio by an interval, and the CI takes the end
    that counts against a claim: its lower bound from the pairs' lowest ratios, its upper bound from
    their highest. So two tasks swept over different grids are never called apart by a "beyond the
    grid" alone. "X is N× easier than Y" is said only when the CI excludes 1.
    """
    (na, ea), (nb, eb) = a, b
    if on not in ("d50", "dint"):
        raise ValueError(f"on must be 'd50' or 'dint', got {on!r}")
    if ea.level != eb.level or ea.target != eb.target:
        raise ValueError(f"estimates of different criteria: level {ea.level} / {eb.level}, target {ea.target} / {eb.target}")
    level, pct = ea.level, int(round(ea.target * 100))
    name = f"d_int{pct}"
    if on == "d50" and ea.d50_log is not None and eb.d50_log is not None:
        name = "d50"
        ea, eb = (dataclasses.replace(e, estimate=e.d50, boot_log=e.d50_log) for e in (ea, eb))
    else:  # d_int: the monotone replicates (a fitted curve's draws lack its CI's step widening: over-confident ratios)
        ea, eb = (dataclasses.replace(e, estimate=e.monotone[0], ci=e.monotone[1], boot_log=e.monotone[2])
                  if e.monotone is not None else e for e in (ea, eb))
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
    words = (f"{name}({hard})/{name}({easy}) = {shown}x [{fmt_ratio(ci[0])}, "
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
                     ci, bool(sep), level, sentence, name)


__all__ = ["N_BOOT", "PRIOR", "DintEstimate", "with_fits", "brackets", "crossing", "deciding_dims", "RatioTest",
           "compare_estimates", "estimate_dint", "fmt_ratio", "fmt_d", "isotonic", "reach_estimate"]
