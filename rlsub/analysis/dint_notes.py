"""How ``rlsub dint`` and the report read a ``DintResult`` ([`rlsub.analysis.dint`][rlsub.analysis.dint]) out loud: the estimate and
CI as text, the column legend, notes a reader could miss (an unreachable env threshold, subspace runs
that beat the baseline), the success dimension d50 where the estimator gives one, and one line of
advice when the CI is open or wide. Results are taken as they come (duck-typed), so this module
imports nothing of [`rlsub.analysis.dint`][rlsub.analysis.dint]."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlsub.tasks.base import RANDOM_FLOOR

#: What ``format_table``'s columns and marks mean (printed once, after the tables).
TABLE_LEGEND = (
    "columns: d = subspace dimension; moved = coordinates the optimizer moved; perf = mean normalised performance "
    "over seeds, (R - R_low)/(R_base - R_low), 1 = the baseline; 90% CI = bootstrap CI of that mean; seeds = "
    "trials at this d; reach{pct} = fraction of seeds whose own perf reaches {pct}%; solved = seeds reaching the "
    "env's solved threshold; mean R = mean raw final return; * = the mean reaches {pct}% of the baseline.")


def success_dimension(r: Any) -> tuple[float | None, Any] | None:
    """The estimate's d50 and its CI where the estimator provides one (None: it does not)."""
    for src in (r, r.estimator):
        d50 = getattr(src, "d50", None)
        if d50 is not None:
            ci = getattr(src, "d50_ci", None)
            fin = (lambda v: None if v is None or not np.isfinite(v) else float(v))  # noqa: E731
            return fin(d50), (tuple(fin(v) for v in ci) if ci is not None else None)
    return None


def reading_notes(r: Any) -> list[str]:
    """What the numbers of ``r`` say that a reader could miss: an env threshold no trial can reach (the
    registered one of a plugged-in env, say Pusher-v5's 0.0), and subspace runs that beat the baseline."""
    notes = []
    returns = [x for s in r.dims for x in s.returns]
    best = max(returns + ([r.full_mean] if r.full_mean is not None else []), default=None)
    if (r.baseline_below_reference and r.reference is not None and best is not None and best < r.reference
            and r.floor is not None and r.floor.source == RANDOM_FLOOR and np.isfinite(r.baseline.value)
            and r.baseline.value - r.floor.value > 0.2 * max(abs(r.floor.value), abs(r.reference - r.floor.value))):
        sign = " (every return is negative)" if best < 0 <= r.reference else ""
        notes.append(
            f"the reference {r.reference:.4g} (the env's registered threshold) is above every return any trial reached "
            f"(best {best:.4g}){sign}, while the baseline beats the random floor by {r.baseline.value - r.floor.value:.4g}: "
            f"that threshold looks unreachable for this env. Register the env in a TOML sweep file with a threshold "
            f"it can reach: [[envs]] id = \"My{r.env.split('/')[-1]}\", base = \"{r.env}\", solved_threshold = <a "
            f"return a trained policy reaches>; then --config FILE")
    if r.computable and r.dims and r.baseline.source == "measured":
        above = [s for s in r.dims if s.mean is not None and s.mean > 1.05]
        if above and len(above) == len(r.dims):
            lo, hi = min(s.mean for s in above), max(s.mean for s in above)
            span = f"{lo:.2f}x" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}x to {hi:.2f}x"
            notes.append(f"subspace runs beat the full-space baseline at every tested d ({span} its normalised score): "
                         "the baseline is the weaker optimiser at this budget, so 90% of it is an easy bar")
        elif above:
            notes.append("subspace runs beat the full-space baseline at d = "
                         + ", ".join(f"{s.d} ({s.mean:.2f}x)" for s in above))
    return notes


def advice(r: Any) -> str | None:
    """One line on what to run next when the CI is open or wide (None: nothing to add)."""
    if not r.computable or r.baseline_below_reference:
        return None
    top = r.dims[-1].d
    D = getattr(r, "D", None)
    # a subspace of D or more dimensions is the whole space again: suggest only smaller ones
    bigger = [str(top * k) for k in (2, 4) if D is None or top * k < D]
    room = (f"extend --dims past {top} (e.g. add {','.join(bigger)})" if bigger else
            f"d = {top} is already over half the policy's D = {D}, so a larger d nears the full space")
    if r.estimate is None:
        return f"not reached up to d = {top}: {room}"
    ci = r.estimate_ci or (None, None)
    if ci[1] is None:
        return (f"the CI is open above (>{top}): {room}" + (", or " if bigger else "; ")
                + "--until-ci 2 to add seeds where the crossing is decided")
    lo = ci[0] or 1.0
    ratio = ci[1] / lo
    if ratio > 2:
        # the CI's width in ln d shrinks about as 1/sqrt(seeds); the seeds are added at the ~2 d's around the crossing
        extra = int(np.ceil(r.seeds * ((np.log(ratio) / np.log(2)) ** 2 - 1))) * 2
        return (f"the CI is wide (hi/lo = {ratio:.1f}): --until-ci 2 adds about {extra} trials (seeds at the d's "
                "around the crossing; a rough guess from CI width ~ 1/sqrt(seeds))")
    return None


def fmt_estimate(r: Any) -> str:
    """``11.3``, ``<=1`` (reached at the smallest tested d), ``>64 (not reached)``."""
    top = r.dims[-1].d
    if r.estimate is None:
        return f">{top} (not reached)"
    return ("<=" if r.at_lowest else "") + f"{r.estimate:.3g}"


def fmt_ci(ci: tuple[float | None, float | None] | None, top: int) -> str:
    """``[8, 32]``, ``[8, >64]`` (beyond the largest tested d)."""
    if ci is None:
        return "-"
    f = lambda v: f">{top}" if v is None else f"{v:.3g}"  # noqa: E731
    return f"[{f(ci[0])}, {f(ci[1])}]"


def fmt_cross(d: float | None, ci, top: int) -> str:
    f = lambda v: f">{top}" if v is None else f"{v:.3g}"  # noqa: E731
    return f"{f(d)}" + (f" [{f(ci[0])}, {f(ci[1])}]" if ci else "")
