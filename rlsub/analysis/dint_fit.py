"""d_int90 from a fitted curve: a solve/fail mixture or a smooth ramp of the mean, the better by AIC.

* *mixture* (solve/fail outcomes): a trial lands in the solved cluster (mean μ_s) or the failed one (μ_f),
  split where the pooled outcomes have their widest gap; the mean crosses the threshold where P(solved) =
  (threshold - μ_f) / (μ_s - μ_f), an upper quantile of the P(solved) curve. The crossing is drawn from that
  curve's grid posterior ([`rlsub.analysis.success_fit.curve_posterior`][rlsub.analysis.success_fit.curve_posterior]: Jeffreys prior, tempered by the
  within-seed design effect) with μ_s and μ_f (and the baseline) redrawn from a Bayesian bootstrap over seeds.
* *smooth* (ramps): the mean is ``L + A · F((ln d - c) / s)``, refitted on a Bayesian bootstrap over whole
  seeds (and the baseline's seeds), (L, A) in closed form at each (c, s) of a grid; the replicates' spread is
  widened by the t/normal quantile ratio (five seeds are not a population).

Either way the CI is the union of the logistic and Gompertz shapes' intervals, widened to take in the
piecewise-linear crossing of the observed means and to span a grid step the means jump across.
[`rlsub.analysis.estimator.with_fits`][rlsub.analysis.estimator.with_fits] decides whether the fitted estimate replaces the monotone one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from rlsub.analysis.perf_matrix import as_matrix
from rlsub.analysis.success_fit import (
    CURVES,
    N_DRAWS,
    TINY,
    curve_p,
    curve_posterior,
    exp_d,
    is_step,
    linear_crossing,
    lower_bound,
    step_bracket,
    to_d,
    with_linear,
)


@dataclass(frozen=True)
class DintFit:
    """d_int from a fitted curve: ``model`` ('mixture' or 'smooth'), why it was chosen, estimate and CI in d
    units (``inf`` beyond the largest tested d), and the per-shape CIs whose union is ``ci``."""

    model: str
    why: str
    estimate: float
    ci: tuple[float, float]
    log_draws: np.ndarray
    """Draws of ln d_int (``inf``: not reached) from the chosen model, for the ratio test."""
    shapes: dict[str, tuple[float, float]] = field(default_factory=dict)
    aic: dict[str, float] = field(default_factory=dict)


#: Bayesian-bootstrap replicates of the smooth model.
N_SMOOTH = 400


def _gap_cut(values: np.ndarray, threshold: float) -> float:
    """Where the pooled outcomes split into failed and solved: the middle of their widest gap below ``threshold``."""
    v = np.sort(values[np.isfinite(values)])
    v = v[(v > 0.05) & (v < threshold)] if len(v) else v
    pts = np.concatenate([[0.05], v, [threshold]])
    k = int(np.argmax(np.diff(pts)))
    return float((pts[k] + pts[k + 1]) / 2)


def _bb_weights(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    return rng.gamma(1.0, size=(size, n))


def _baseline_scale(rng, base, size) -> np.ndarray:
    if base is None or len(base) < 2:
        return np.ones(size)
    gb = rng.gamma(1.0, size=(size, len(base)))
    return np.mean(base) / np.maximum((gb @ base) / gb.sum(axis=1), 1e-12)


def _mixture(m, logd, threshold, level, rng, base, cut) -> tuple[dict, dict, float, np.ndarray]:
    """Per-shape draws of ln d_int from the mixture model, the per-shape posteriors' evidence, the AIC."""
    ok = ~np.isnan(m)
    y = np.where(ok, (m >= cut).astype(np.float64), np.nan)
    g = _bb_weights(rng, m.shape[0], N_DRAWS)
    scale = _baseline_scale(rng, base, N_DRAWS)
    x = np.where(ok, m, 0.0)
    win, lose = ok & (m >= cut), ok & (m < cut)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_s = (g @ (x * win).sum(1)) / (g @ win.sum(1))
        mu_f = (g @ (x * lose).sum(1)) / (g @ lose.sum(1))
    mu_s = np.where(np.isfinite(mu_s), mu_s, np.nanmean(m[win]) if win.any() else 1.0)
    mu_f = np.where(np.isfinite(mu_f), mu_f, np.nanmean(m[lose]) if lose.any() else 0.0)
    p_star = (threshold / scale - mu_f) / np.maximum(mu_s - mu_f, 1e-9)
    draws, evidence, aics = {}, {}, []
    for shape in CURVES:
        post = curve_posterior(y, logd, shape, plateau=False)
        evidence[shape] = post.log_evidence
        flat = post.post.ravel()
        idx = rng.choice(len(flat), size=N_DRAWS, p=flat / flat.sum())
        i, j, _ = np.unravel_index(idx, post.post.shape)  # the mixture's curve runs from 0 to 1
        c, s = post.c[i], post.s[j]
        F, f, Finv = CURVES[shape]
        frac = p_star
        with np.errstate(invalid="ignore", divide="ignore"):
            eta = Finv(np.clip(frac, TINY, 1 - TINY))
            out = c + s * (eta - Finv(0.5))
        out = np.where(frac >= 1, np.inf, np.where(frac <= 0, -np.inf, out))
        draws[shape] = out
        # AIC at the posterior mode: the split's Bernoulli curve plus a Gaussian per cluster
        mi, mj, mk = np.unravel_index(np.argmax(post.post), post.post.shape)
        p, _ = curve_p(shape, logd, post.c[mi], post.s[mj], *post.asym[mk])
        ll = np.nansum(np.where(ok, y * np.log(p) + (1 - y) * np.log1p(-p), 0.0))
        for sel in (win, lose):
            if sel.sum() > 1:
                ll += _gauss_ll(m[sel])
        aics.append(2 * 7 - 2 * ll)
    return draws, evidence, min(aics), p_star


def _gauss_ll(v: np.ndarray, centre: np.ndarray | float | None = None) -> float:
    r = v - (np.mean(v) if centre is None else centre)
    var = max(float(np.mean(r ** 2)), 1e-6)
    return -0.5 * len(r) * (math.log(2 * math.pi * var) + 1)


def _smooth(m, logd, threshold, level, rng, base) -> tuple[dict, float]:
    """Per-shape draws of ln d_int from a 4-parameter curve of the mean (L + A·F((ln d - c)/s)), refitted on a
    Bayesian bootstrap over whole seeds (replicate deviations widened by the t/normal quantile ratio, so that
    five seeds are not taken for a population), and the model's AIC."""
    n = m.shape[0]
    ok = ~np.isnan(m)
    x = np.where(ok, m, 0.0)
    g = _bb_weights(rng, n, N_SMOOTH)
    scale = _baseline_scale(rng, base, N_SMOOTH)
    cnt = g @ ok
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (g @ x) / cnt * scale[:, None]
        point = (ok * x).sum(0) / ok.sum(0)
    kappa = _t_ratio(n, level) * math.sqrt(n / max(n - 1, 1))
    boot = point + kappa * (boot - point)
    wts = ok.sum(0).astype(np.float64)
    c = np.arange(logd.min() - 1.5, logd.max() + 1.5, 0.08)
    s = np.exp(np.linspace(math.log(0.05), math.log(3.0), 18))
    draws, aics = {}, []
    for shape, (F, _, Finv) in CURVES.items():
        basis = F((logd[None, None, :] - c[:, None, None]) / s[None, :, None]).reshape(-1, len(logd))  # [G, k]
        sw, sf, sff = wts.sum(), basis @ wts, (basis ** 2) @ wts
        det = sw * sff - sf ** 2
        good = det > 1e-9
        ys = np.vstack([point[None], boot])  # [B+1, k]
        sy, sfy = ys @ wts, (ys * wts) @ basis.T  # [B+1], [B+1, G]
        with np.errstate(invalid="ignore", divide="ignore"):
            amp = (sw * sfy - sf * sy[:, None]) / det
            low = (sy[:, None] - amp * sf) / sw
        syy = (ys ** 2) @ wts
        with np.errstate(invalid="ignore", over="ignore"):
            rss = syy[:, None] - 2 * (low * sy[:, None] + amp * sfy) + low ** 2 * sw + 2 * low * amp * sf + amp ** 2 * sff
            rss = np.where(good & (amp > 0) & np.isfinite(rss), rss, np.inf)
        best = np.argmin(rss, axis=1)
        r = np.arange(len(ys))
        L, A = low[r, best], amp[r, best]
        cc, ss = c[best // len(s)], s[best % len(s)]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = (threshold - L) / A
            out = cc + ss * Finv(np.clip(frac, TINY, 1 - TINY))
        out = np.where(frac >= 1, np.inf, np.where(frac <= 0, -np.inf, out))
        draws[shape] = np.where(np.isnan(out), np.inf, out)  # no increasing curve fits the replicate
        if not np.isfinite(rss[0, best[0]]):  # no increasing curve fits the point estimate
            aics.append(math.inf)
            continue
        fit = L[0] + A[0] * basis[best[0]]
        resid = np.where(ok, m - fit, np.nan)
        aics.append(2 * 5 - 2 * _gauss_ll(resid[ok], 0.0))
    return draws, min(aics)


def _t_ratio(n: int, level: float) -> float:
    """t_{n-1} over normal quantile at ``level`` (two-sided): a Cornish-Fisher expansion of t in z."""
    if n < 2:
        return 1.0
    z = NormalDist().inv_cdf((1 + level) / 2)
    v = n - 1
    t = z + (z ** 3 + z) / (4 * v) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * v ** 2)
    return t / z


def fit_dint(perf: np.ndarray, dims: Sequence[int], threshold: float = 0.9, level: float = 0.9, seed: int = 0,
             baseline: Sequence[float] | None = None) -> DintFit | None:
    """d where the mean normalised performance crosses ``threshold``, from the better-fitting (AIC) of a
    solve/fail mixture and a smooth ramp, with the union of the two shapes' intervals; None when neither
    can be fitted (fewer than 3 tested dims or 2 seeds)."""
    m, ds = as_matrix(perf, dims)
    cols = (~np.isnan(m)).sum(axis=0) > 0
    m, ds = m[:, cols], ds[cols]
    if len(ds) < 3 or m.shape[0] < 2:
        return None
    logd = np.log(ds.astype(np.float64))
    base = None if baseline is None else np.asarray(baseline, dtype=np.float64)
    rng = np.random.default_rng(seed)
    cut = _gap_cut(m.ravel(), threshold)
    mix, evidence, aic_mix, _ = _mixture(m, logd, threshold, level, rng, base, cut)
    smooth, aic_smooth = _smooth(m, logd, threshold, level, rng, base)
    aic = {"mixture": aic_mix, "smooth": aic_smooth}
    if aic_mix <= aic_smooth:
        model, draws = "mixture", mix
        why = (f"outcomes split into solved and failed (at {cut:.2f}); the mixture fits better by AIC "
               f"({aic_mix:.0f} vs {aic_smooth:.0f})")
    else:
        model, draws = "smooth", smooth
        why = f"outcomes vary smoothly; a 4-parameter curve of the mean fits better by AIC ({aic_smooth:.0f} vs {aic_mix:.0f})"
    alpha = (1 - level) / 2
    per = {k: tuple(float(v) for v in np.quantile(d, [alpha, 1 - alpha], method="inverted_cdf")) for k, d in draws.items()}
    lo = min(v[0] for v in per.values())
    hi = max(v[1] for v in per.values())
    with np.errstate(invalid="ignore"):
        means = np.nanmean(m, axis=0)
    lo, hi = step_bracket(means, logd, lo, hi, target=threshold)
    lo, hi = with_linear(means, logd, threshold, lo, hi)
    pooled = np.concatenate(list(draws.values()))
    point = float(np.quantile(pooled, 0.5, method="inverted_cdf"))
    if is_step(means, threshold):  # inside a step the data say nothing: the straight line's crossing, as the means'
        point = linear_crossing(means, logd, threshold) or point
    return DintFit(model, why, to_d(point, logd), (lower_bound(lo, logd), to_d(hi, logd)), pooled,
                   {k: (exp_d(a), exp_d(b)) for k, (a, b) in per.items()}, aic)



__all__ = ["N_SMOOTH", "DintFit", "fit_dint"]
