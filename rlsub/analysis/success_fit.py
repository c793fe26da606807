"""Fitted curves for d_int: d50, the success dimension, and d_int90 from the same fit, with calibrated CIs.

**d50** is the d where P(a seed reaches ``reach`` × its baseline) = 1/2 (Larsen et al., ICLR 2022, frame the
threshold dimension this way). P(success) is fitted as a curve of ln d, ``F(q + (ln d - c) / s)`` with
``F`` a logistic or a Gompertz (asymmetric) and ``q = F⁻¹(1/2)`` so that ``c`` is ln d50 itself, on a grid
of (c, ln s): the posterior is computed at every grid point under a Jeffreys prior (``√det`` of the
binomial Fisher information, Firth's penalty, which keeps five seeds that all fail below d and all solve
above it from collapsing the slope to a step). Its 90% CI is the union of the two shapes' equal-tailed
intervals for c (averaging them by likelihood under-covers when the true shape is the other one).

**Seeds correlated across d.** A seed fixes θ_0, P and the evaluation episodes at every d, so its
outcomes are not independent trials: a seed that solves at d tends to solve at 2d. The binomial
likelihood then over-states what the data know. The fit measures it, per group, as the design effect
of the sandwich (cluster-robust, whole seed as the cluster, CR1 small-sample factor) against the model
variance of c, and tempers the likelihood by it (``L^(1/deff)``, deff >= 1): with independent outcomes
deff is ~1 and nothing changes; with fully correlated seeds (each seed one latent threshold) it is ~3-6
and the interval widens accordingly. ``benchmarks/resolution.py`` measures the coverage both ways.

**d_int90 from the fit** is [`rlsub.analysis.dint_fit`][rlsub.analysis.dint_fit]'s (a solve/fail mixture or a smooth ramp, by AIC), built
on the same curve posteriors.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rlsub.analysis.perf_matrix import as_matrix


def _logistic(z):
    return 1.0 / (1.0 + np.exp(-z))


def _logistic_pdf(z):
    p = _logistic(z)
    return p * (1.0 - p)


def _gompertz(z):
    return np.exp(-np.exp(-z))


def _gompertz_pdf(z):
    return np.exp(-z) * _gompertz(z)


def _logit(p):
    return np.log(p / (1.0 - p))


def _gompertz_inv(p):
    return -np.log(-np.log(p))


#: The curve shapes fitted: name -> (F, its density, F⁻¹).
CURVES: dict[str, tuple[Callable, Callable, Callable]] = {
    "logistic": (_logistic, _logistic_pdf, _logit),
    "gompertz": (_gompertz, _gompertz_pdf, _gompertz_inv),
}
#: Range of the slope s (in ln d per unit of the curve's argument) on the grid, and its points.
S_RANGE, S_POINTS = (0.04, 2.0), 24
#: Spacing of the grid in c = ln d50 (it extends this far beyond the tested dims, in ln d, on each side).
C_STEP, C_MARGIN = 0.04, 2.5
TINY = 1e-12
#: Draws of a crossing (per shape for d_int90; all shapes together for d50) for the ratio test.
N_DRAWS = 2000


# ----------------------------------------------------------------------------------------------
# the grid posterior of a binary curve
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CurvePosterior:
    """P(success) = g + (h - g) F(q + (ln d - c) / s) on a grid, q such that P(e^c) = 1/2: ``post[c, s, a]``
    sums to 1 (``a`` indexes the asymptotes ``asym[a] = (g, h)``); ``deff``: the design effect used."""

    shape: str
    c: np.ndarray
    s: np.ndarray
    asym: np.ndarray
    post: np.ndarray
    deff: float
    log_evidence: float

    def marginal_c(self) -> np.ndarray:
        return self.post.sum(axis=(1, 2))

    def interval(self, level: float) -> tuple[float, float]:
        """Equal-tailed interval of c (ln d50)."""
        lo, hi = _quantiles(self.c, self.marginal_c(), [(1 - level) / 2, (1 + level) / 2])
        return lo, hi

    def median(self) -> float:
        return _quantiles(self.c, self.marginal_c(), [0.5])[0]


def _quantiles(x: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> tuple[float, ...]:
    w = w / w.sum()
    mid = np.cumsum(w) - w / 2  # each grid point holds its mass at its centre
    return tuple(float(np.interp(q, mid, x)) for q in qs)


#: Asymptotes (g, h) of P(success) on the grid, and their prior weights. A seed may fail to reach the criterion even
#: at large d (the baseline's own seeds scatter around its mean), so P(success) may level off at h < 1; and a
#: lucky seed may reach it at d = 1 (CartPole does), so P may start at a floor g > 0. Half the prior mass is on
#: (0, 1), the rest spread over the others.
_PLATEAUS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
ASYMPTOTES = np.array([(0.0, 1.0)] + [(0.0, h) for h in _PLATEAUS]
                      + [(g, h) for g in (0.1, 0.2, 0.35) for h in (0.75, 0.9, 1.0)])
ASYMPTOTE_PRIOR = np.array([0.65] + [0.2 / len(_PLATEAUS)] * len(_PLATEAUS) + [0.15 / 9] * 9)


def _grid(logd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(logd.min() - C_MARGIN, logd.max() + C_MARGIN + C_STEP / 2, C_STEP)
    s = np.exp(np.linspace(math.log(S_RANGE[0]), math.log(S_RANGE[1]), S_POINTS))
    return c, s


def curve_p(shape: str, logd: np.ndarray, c, s, g, h):
    """P = g + (h - g) F(q + (ln d - c)/s), with q such that P(e^c) = 1/2, and its gradient in (c, ln s):
    arrays ``[..., k]`` broadcast over the grid."""
    F, f, Finv = CURVES[shape]
    span = h - g
    q = Finv((0.5 - g) / span)
    eta = q + (logd - c) / s
    fe = f(eta)
    p = np.clip(g + span * F(eta), TINY, 1 - TINY)
    return p, (-span * fe / s, -span * fe * (logd - c) / s)


def curve_posterior(y: np.ndarray, logd: np.ndarray, shape: str, deff: float | None = None,
                    plateau: bool = True) -> CurvePosterior:
    """Grid posterior of ``g + (h - g) F(q + (ln d - c)/s)`` for successes ``y[seed, d]`` (0/1, NaN: no trial).

    Prior: Jeffreys in (c, ln s) (√det of the binomial Fisher information), Firth's penalty against
    separation; ``ASYMPTOTE_PRIOR`` over (g, h) (``plateau=False``: g = 0, h = 1 only). ``deff``: temper the
    likelihood by 1/deff; None measures it (cluster-robust, a seed the cluster, at the posterior mode).
    """
    ok = ~np.isnan(y)
    n1 = np.where(ok, y, 0.0).sum(axis=0)
    n = ok.sum(axis=0).astype(np.float64)
    c, s = _grid(logd)
    asym, prior = (ASYMPTOTES, ASYMPTOTE_PRIOR) if plateau else (ASYMPTOTES[:1], np.ones(1))
    C, S = c[:, None, None, None], s[None, :, None, None]
    G, H = asym[None, None, :, 0, None], asym[None, None, :, 1, None]
    p, g = curve_p(shape, logd, C, S, G, H)  # [C, S, A, k]
    loglik = (n1 * np.log(p) + (n - n1) * np.log1p(-p)).sum(axis=-1)
    # Jeffreys prior in (c, ln s) at each (g, h); the information about h itself is unbounded at h = 1, where
    # a Jeffreys prior in h would pile every curve, so (g, h) get fixed weights instead.
    wt = n / (p * (1 - p))
    i00, i01, i11 = (wt * g[0] ** 2).sum(-1), (wt * g[0] * g[1]).sum(-1), (wt * g[1] ** 2).sum(-1)
    log_prior = 0.5 * np.log(np.maximum(i00 * i11 - i01 ** 2, 1e-300)) + np.log(prior)[None, None, :]
    if deff is None:
        i, j, m = np.unravel_index(np.argmax(loglik + log_prior), loglik.shape)
        deff = 1.0 + DEFF_GAIN * (design_effect(y, logd, shape, float(c[i]), float(s[j]), *asym[m]) - 1.0)
    lp = loglik / deff + log_prior
    top = lp.max()
    post = np.exp(lp - top)
    z = post.sum()
    return CurvePosterior(shape, c, s, asym, post / z, float(deff), float(top + math.log(z)))


#: Bounds on the measured design effect: 1 (independent outcomes) to this.
DEFF_MAX = 8.0
#: The measured excess (deff - 1) is scaled by this before tempering: with 5-10 clusters the sandwich is biased
#: low (it sees the seeds' scatter through the fitted curve), which left fully correlated seeds at 78-86%.
DEFF_GAIN = 1.0


def design_effect(y: np.ndarray, logd: np.ndarray, shape: str, c: float, s: float, g: float = 0.0,
                  h: float = 1.0) -> float:
    """Cluster-robust over model variance of c at (c, s; g, h): the sandwich with whole seeds as clusters (CR1
    factor n/(n-1)) against the binomial information, in (c, ln s). ~1 when outcomes are independent; in [1, 8]."""
    n_seeds = y.shape[0]
    if n_seeds < 2:
        return 1.0
    p, gr = curve_p(shape, logd, np.float64(c), np.float64(s), np.float64(g), np.float64(h))
    p = np.clip(p, 1e-6, 1 - 1e-6)
    grad = np.stack(gr)  # [2, k]
    ok = ~np.isnan(y)
    resid = np.where(ok, y - p, 0.0) / (p * (1 - p))
    scores = resid @ grad.T  # [n, 3]
    info = (grad * (ok.sum(axis=0) / (p * (1 - p)))) @ grad.T + 1e-9 * np.eye(2)
    meat = scores.T @ scores * n_seeds / (n_seeds - 1)
    try:
        inv = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return 1.0
    model = inv[0, 0]
    robust = (inv @ meat @ inv)[0, 0]
    if not (model > 0 and np.isfinite(robust)):
        return 1.0
    return float(np.clip(robust / model, 1.0, DEFF_MAX))


# ----------------------------------------------------------------------------------------------
# d50
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SuccessFit:
    """d50 with its CI (d units; ``inf`` beyond the largest tested d, lower bound ``1`` at most below the grid)."""

    d50: float
    ci: tuple[float, float]
    level: float
    reach: float
    deff: float
    """The design effect the likelihood was tempered by (1: seeds' outcomes look independent across d)."""
    shapes: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Each shape's own CI for d50 (d units, unclamped); the reported CI is their union."""
    p_success: np.ndarray | None = None
    """Observed fraction of seeds reaching ``reach`` at each tested d."""
    notes: list[str] = field(default_factory=list)
    log_draws: np.ndarray | None = None
    """Draws of ln d50 from the two shapes' posteriors in equal parts (``inf`` beyond the largest tested d), for
    the ratio test."""


def successes(perf: np.ndarray, reach: float) -> np.ndarray:
    """0/1 whether each trial reaches ``reach`` (NaN kept where a seed has no trial)."""
    return np.where(np.isnan(perf), np.nan, (perf >= reach * (1 - 1e-12)).astype(np.float64))


def fit_d50(perf: np.ndarray, dims: Sequence[int], reach: float = 0.9, level: float = 0.9, seed: int = 0,
            baseline: Sequence[float] | None = None) -> SuccessFit:
    """d where P(a seed reaches ``reach`` × the baseline) = 1/2, from a fitted curve in ln d, with its CI.

    ``perf[seed, d]`` is normalised performance (1: the baseline's mean; NaN: no trial). ``baseline``: the
    baseline's per-seed values in those units; with two or more, which trials reach the criterion is
    recomputed at three baseline means spanning its Bayesian-bootstrap uncertainty (1/6, 1/2, 5/6 quantiles)
    and the posteriors averaged, so an uncertain baseline widens the CI.

    Example:
        >>> perf = np.array([[0.1, 0.2, 0.95, 1.0], [0.1, 0.93, 0.97, 1.0], [0.2, 0.3, 0.5, 0.99]])
        >>> fit = fit_d50(perf, [1, 4, 16, 64])
        >>> 4 < fit.d50 < 16 and fit.ci[0] < fit.d50 < fit.ci[1]
        True
    """
    m, ds = as_matrix(perf, dims)
    cols = (~np.isnan(m)).sum(axis=0) > 0
    m, ds = m[:, cols], ds[cols]
    logd = np.log(ds.astype(np.float64))
    rng = np.random.default_rng(seed)
    scales = [1.0]
    b = None if baseline is None else np.asarray(baseline, dtype=np.float64)
    if b is not None and len(b[np.isfinite(b)]) >= 2:
        b = b[np.isfinite(b)]
        g = rng.gamma(1.0, size=(2000, len(b)))
        scales = list(np.quantile(np.mean(b) / np.maximum((g @ b) / g.sum(axis=1), 1e-12), [1 / 6, 0.5, 5 / 6]))
    posts = {}
    for shape in CURVES:
        each = [curve_posterior(successes(m * k, reach), logd, shape) for k in scales]
        ev = np.array([p.log_evidence for p in each])
        post = sum(p.post for p in each) / len(each)
        posts[shape] = dataclasses.replace(each[0], post=post, deff=max(p.deff for p in each),
                                           log_evidence=float(ev.max() + np.log(np.mean(np.exp(ev - ev.max())))))
    return _success_fit(posts, logd, level, reach, successes(m, reach), rng)


#: A jump in the observed success fraction this large across one step of the grid is a step: nothing between
#: the two dims tells where in the step the crossing lies, so the CI spans it.
JUMP = 0.6


def _success_fit(posts: dict[str, CurvePosterior], logd, level, reach, y, rng) -> SuccessFit:
    per = {k: p.interval(level) for k, p in posts.items()}
    lo = min(v[0] for v in per.values())
    hi = max(v[1] for v in per.values())
    frac = np.nanmean(y, axis=0)
    lo, hi = step_bracket(frac, logd, lo, hi)
    lo = snap_low(lo, logd)
    ev = np.array([p.log_evidence for p in posts.values()])
    wts = np.exp(ev - ev.max())
    mixed = sum(w * p.marginal_c() for w, p in zip(wts, posts.values()))
    c_hat = _quantiles(next(iter(posts.values())).c, mixed, [0.5])[0]
    deff = max(p.deff for p in posts.values())
    notes = []
    if deff > 1.5:
        notes.append(f"seeds' outcomes are correlated across d (design effect {deff:.2g}): the d50 CI is widened for it")
    draws = np.concatenate([rng.choice(p.c, size=N_DRAWS // len(posts), p=p.marginal_c() / p.marginal_c().sum())
                            for p in posts.values()])
    draws = np.where(draws > logd.max(), np.inf, draws)
    return SuccessFit(
        d50=to_d(c_hat, logd), ci=(lower_bound(lo, logd), to_d(hi, logd)), level=level, reach=reach, deff=deff,
        shapes={k: (math.exp(a), math.exp(b)) for k, (a, b) in per.items()},
        p_success=np.nanmean(y, axis=0), notes=notes, log_draws=draws)


def snap_low(lo: float, logd: np.ndarray) -> float:
    """A lower bound (ln d) within half a grid step above the smallest tested d, moved down to that d.

    Below the grid's second d the curve's left tail rests on the smallest d's trials alone, so a bound placed
    between the two is the prior's word, not the data's (benchmarks/d50_ablation.py: without this the d50 CI
    covered 0.80 on a held-out model; with it 0.86, at a cost of at most half a step of width). A bound below
    the smallest d is left where it is."""
    if len(logd) > 1 and logd[0] <= lo < logd[0] + (logd[1] - logd[0]) / 2:
        return float(logd[0])
    return lo


def linear_crossing(values: np.ndarray, logd: np.ndarray, target: float) -> float | None:
    """ln d where the observed per-d values (their running maximum, so monotone) joined by straight lines in ln d
    first reach ``target``; None when they never do or already do at the smallest d."""
    run = np.maximum.accumulate(np.nan_to_num(values, nan=-np.inf))
    above = np.flatnonzero(run >= target)
    if len(above) == 0 or above[0] == 0:
        return None
    j = above[0]
    a, b = run[j - 1], run[j]
    return float(logd[j - 1] + (target - a) / (b - a) * (logd[j] - logd[j - 1])) if b > a else float(logd[j])


def with_linear(values: np.ndarray, logd: np.ndarray, target: float, lo: float, hi: float) -> tuple[float, float]:
    """Widen (lo, hi) (ln d) to take in ``linear_crossing``: between two tested dims the fitted shapes agree with
    each other more than the data can confirm, and a third shape, piecewise linear, is as plausible."""
    x = linear_crossing(values, logd, target)
    return (lo, hi) if x is None else (min(lo, x), max(hi, x))


def is_step(values: np.ndarray, target: float) -> bool:
    """Whether the observed values jump across ``target`` by at least ``JUMP`` between two adjacent tested dims."""
    return any(a < target <= b and b - a >= JUMP for a, b in zip(values[:-1], values[1:]))


def step_bracket(frac: np.ndarray, logd: np.ndarray, lo: float, hi: float, target: float = 0.5
                 ) -> tuple[float, float]:
    """Widen (lo, hi) (ln d) to the grid step where the observed fraction jumps across ``target`` by at least
    ``JUMP``: a curve fitted through such a step would place the crossing mid-step on the prior's word alone."""
    for j in range(len(frac) - 1):
        a, b = frac[j], frac[j + 1]
        if a < target <= b and b - a >= JUMP:
            return min(lo, float(logd[j])), max(hi, float(logd[j + 1]))
    return lo, hi


def to_d(c: float, logd: np.ndarray) -> float:
    """A point or upper bound: beyond the largest tested d is only "beyond" (inf); below d = 1 is 1 (no subspace
    is smaller: "at or below 1")."""
    return math.inf if c > logd.max() + 1e-9 else max(1.0, exp_d(c))


def exp_d(v: float) -> float:
    """e^v as a d: ``inf``/0 beyond float range, snapped to a whole d within rounding (e^(ln 8) is 8, not 7.999...)."""
    if math.isnan(v) or v > 700:  # NaN: no crossing could be computed, read as "not reached"
        return math.inf
    if v < -700:
        return 0.0
    d = math.exp(v)
    return float(round(d)) if abs(d - round(d)) < 1e-9 * max(d, 1.0) else d


def lower_bound(c: float, logd: np.ndarray) -> float:
    """A lower bound: at least 1 (the smallest subspace); beyond the grid, the largest tested d."""
    return max(1.0, exp_d(c)) if c <= logd.max() + 1e-9 else float(math.exp(logd.max()))


__all__ = ["CURVES", "N_DRAWS", "TINY", "CurvePosterior", "SuccessFit", "curve_p", "curve_posterior", "design_effect",
           "exp_d", "fit_d50", "is_step", "linear_crossing", "lower_bound", "snap_low", "step_bracket", "successes", "to_d", "with_linear"]
