"""Sharpen a d_int estimate on demand: add seeds (then a d) where the crossing is decided, until the CI is narrow.

``sharpen(spec, out, ratio=2)`` runs ``spec``'s grid, then in rounds: estimate d_int90 with its CI
([`rlsub.analysis.dint.compute_dint`][rlsub.analysis.dint.compute_dint]), stop when the CI's hi/lo is at most ``ratio`` or the trial cap is hit,
else plan more trials and run them. A round adds ``len(spec.seeds)`` fresh seeds (the next unused seed
numbers, the same at every d, so curves stay paired) at the tested d's that decide the crossing and its
CI ([`rlsub.analysis.estimator.deciding_dims`][rlsub.analysis.estimator.deciding_dims]), and tops up the full-space baseline to as many seeds when the
spec measures one. The CI's bounds are tested d's, so once the bootstrap's crossings spread over no
more than ``ratio`` but still straddle a coarse grid step, more seeds cannot bring hi/lo down: the round
adds the d halfway (in ln d) across that step instead, with as many seeds as its neighbours.

Every added trial is an ordinary trial of the same experiment: its own key, stored the moment it ends,
analysed with the others (never pooled with another experiment). d's added this way are a grid refined
after seeing results, and the report says so (``SharpenResult.added_dims``).

``on="d50"`` sharpens the success dimension instead (``--until-ci 2 --on d50``): its CI is a fitted curve's,
not bounded to tested d's, so a round always adds seeds, at the tested d's that bracket the current d50 CI
(the seeds there decide where P(success) crosses 1/2). A round's line is printed as soon as it is planned
(``echo``), and again in the summary.

Resumable: round k's decision is made from the trials *planned* in rounds before k only, so a sweep
killed mid-round and rerun plans exactly the same trials and skips the stored ones (as long as no trial
crashed: a crashed trial is not stored, so a rerun runs it again, and the loop stops on a crash).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rlsub.analysis.dint import DintResult, compute_dint
from rlsub.analysis.estimator import deciding_dims
from rlsub.errors import ConfigError
from rlsub.results.store import Store
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.run import run_sweep
from rlsub.sweeps.spec import DEFAULT_PROJECTION, SweepSpec
from rlsub.trial import TrialConfig


@dataclass
class SharpenResult:
    """What ``sharpen`` did for one experiment (env, method, width, projection)."""

    title: str
    result: DintResult | None
    reason: str
    rounds: list[str] = field(default_factory=list)
    """One line per round: what it added and why."""
    initial_trials: int = 0
    trials: int = 0
    """Trials planned in all (initial grid included), each run or found stored."""
    added_dims: list[int] = field(default_factory=list)
    """d's that were not in the spec's grid (a grid refined after seeing results)."""
    crashed: int = 0
    """Trials that crashed (not stored): the loop stops at the first round with one."""

    @property
    def added(self) -> int:
        return self.trials - self.initial_trials


#: The statistics ``--on`` can sharpen.
ON = ("dint90", "d50")


def _ci(res: DintResult, on: str) -> tuple[float | None, float | None] | None:
    return res.d50_ci if on == "d50" else res.estimate_ci


def _point(res: DintResult, on: str) -> float | None:
    return res.d50 if on == "d50" else res.estimate


def ci_ratio(res: DintResult, on: str = "dint90") -> float:
    """hi/lo of the CI of ``on`` (inf when the upper bound lies beyond the largest tested d)."""
    ci = _ci(res, on)
    if not ci:
        return math.inf
    lo, hi = ci
    if hi is None or lo is None or not math.isfinite(hi) or lo <= 0:
        return math.inf
    return hi / lo


def sharpen(
    spec: SweepSpec,
    out_dir: str | Path,
    ratio: float = 2.0,
    max_trials: int | None = None,
    threshold: float = 0.9,
    run: Callable[[SweepSpec], dict] | None = None,
    on: str = "dint90",
    echo: Callable[[str], None] | None = None,
    **sweep_kw,
) -> list[SharpenResult]:
    """Run ``spec`` and add trials per experiment until the CI of ``on`` (d_int90 or d50) has hi/lo <= ``ratio``.

    ``max_trials`` caps the trials of one experiment, initial grid included (default: 4x the initial
    grid). ``run(spec) -> counts`` replaces ``run_sweep`` (tests); ``sweep_kw`` go to ``run_sweep``.
    ``echo(line)`` is called with each round's line as it is planned (the CLI prints it).
    """
    if on not in ON:
        raise ConfigError(f"--on must be one of {', '.join(ON)}, got {on!r}")
    if not ratio > 1:
        raise ConfigError(f"--until-ci must be > 1 (a ratio hi/lo of the CI), got {ratio}")
    if max_trials is not None and max_trials < 1:
        raise ConfigError(f"--max-trials must be >= 1, got {max_trials}")
    if not [d for d in spec.dims if d is not None]:
        raise ConfigError("--until-ci needs at least one subspace dimension in --dims")
    run = run or (lambda s: run_sweep(s, out_dir, **sweep_kw))
    out = []
    for env in spec.envs:
        for method in spec.methods:
            for hidden in spec.widths():
                for proj in spec.projections or [DEFAULT_PROJECTION]:
                    one = replace(spec, envs=[env], methods=[method], hidden=hidden, projections=[proj])
                    out.append(_sharpen_one(one, out_dir, ratio, max_trials, threshold, run, on, echo))
    return out


def _sharpen_one(spec, out_dir, ratio, max_trials, threshold, run, on="dint90", echo=None) -> SharpenResult:
    initial = plan_sweep(spec).trials
    # The projection the grid really uses ('auto' resolved from the grid's largest d), kept for every
    # added d so that a d between grid points never resolves to another projection.
    proj = next(t.projection for t in initial if t.dim is not None)
    grid_spec, spec = spec, replace(spec, projections=[proj])
    planned: dict[str, TrialConfig] = {t.key(): t for t in initial}
    cap = max_trials or 4 * len(initial)
    fingerprint = initial[0].fingerprint()
    title = f"{initial[0].env} | {initial[0].method} | {proj}"
    n_add = len(spec.seeds)
    grid = {d for d in spec.dims if d is not None}
    report = SharpenResult(title, None, "", initial_trials=len(initial))
    report.crashed += run(grid_spec).get("crashed", 0)  # as given: a sweep of 'auto' says which projection it chose
    while True:
        report.trials = len(planned)
        if report.crashed:
            report.reason = f"stopped: {report.crashed} trial(s) crashed (not stored; a rerun runs them again)"
            return report
        res = _analyse(out_dir, planned, fingerprint, proj, threshold)
        report.result = res
        name = "d50 " if on == "d50" else ""
        if res is None or not res.computable or _point(res, on) is None:
            report.reason = (f"stopped: {name or 'd_int '}not reached within the tested d's on these seeds (extend --dims upward)"
                             if res is not None and res.computable else "stopped: no estimate (see the notes below)")
            return report
        below = res.at_lowest if on == "dint90" else res.d50 < min(s.d for s in res.dims)
        if below:
            report.reason = ("stopped: the crossing is at or below the smallest tested d; more seeds or d's above "
                             "it cannot place it (extend --dims downward)")
            return report
        if res.baseline_below_reference:
            report.reason = "stopped: the baseline is below the task's reference, so there is no d_int to sharpen"
            return report
        r = ci_ratio(res, on)
        if r <= ratio:
            report.reason = f"stopped: {name}CI {_fmt_ci(res, on)} has hi/lo {r:.3g} <= {ratio:g}"
            return report
        batch, why = _plan(res, planned, spec, n_add, ratio, on)
        room = cap - len(planned)
        if room <= 0 or not batch:
            report.reason = (f"stopped: trial cap {cap} reached with {name}CI {_fmt_ci(res, on)} (hi/lo {r:.3g} > {ratio:g})"
                             if batch else f"stopped: nothing left to add ({why})")
            return report
        batch = batch[:room]
        for t in batch:
            planned[t.key()] = t
        new_dims = sorted({t.dim for t in batch if t.dim is not None} - grid)
        report.added_dims = sorted(set(report.added_dims) | set(new_dims))
        point = f"d50 = {res.d50:.3g} " if on == "d50" else ""
        report.rounds.append(f"round {len(report.rounds) + 1}: {point}CI {_fmt_ci(res, on)} "
                             f"(hi/lo {r:.3g}); {why}: +{len(batch)} trials")
        if echo is not None:
            echo(f"until-ci {ratio:g}: {title}: {report.rounds[-1]}")
        for dims, seeds in _runs(batch):
            report.crashed += run(replace(spec, dims=dims, seeds=seeds)).get("crashed", 0)


def _runs(batch: list[TrialConfig]) -> list[tuple[list, list[int]]]:
    """The batch as few sweeps as possible: d's that get the same seeds run as one grid."""
    seeds: dict[int | None, list[int]] = {}
    for t in batch:
        seeds.setdefault(t.dim, []).append(t.seed)
    grids: dict[tuple[int, ...], list] = {}
    for d, s in seeds.items():
        grids.setdefault(tuple(sorted(s)), []).append(d)
    return [(dims, list(s)) for s, dims in grids.items()]


def _analyse(out_dir, planned, fingerprint, proj, threshold) -> DintResult | None:
    with Store(out_dir) as store:
        rows = [r for r in store.rows() if r.key in planned]
    groups = [g for g in compute_dint(rows, threshold=threshold)
              if g.fingerprint == fingerprint and g.projection == proj]
    return groups[0] if groups else None


def _plan(res: DintResult, planned: dict[str, TrialConfig], spec: SweepSpec, n_add: int, ratio: float,
          on: str = "dint90") -> tuple[list, str]:
    """The next round's trials, and a few words on why.

    The CI's bounds are tested d's bracketing the replicate crossings. When those crossings already
    spread over no more than ``ratio`` (in d), the grid is what keeps hi/lo wide: add the d halfway (in
    ln d) across the wider of the two bracketing gaps, with as many seeds as its neighbours. Otherwise
    the seeds are: add ``n_add`` fresh ones at every deciding d (and the baseline, when it has fewer).
    """
    est = res.estimator
    by_d: dict[int | None, set[int]] = {}
    for t in planned.values():
        by_d.setdefault(t.dim, set()).add(t.seed)
    tested = sorted(d for d in by_d if d is not None)
    with np.errstate(invalid="ignore"):  # inf - inf between two 'not reached' replicates
        q_lo, q_hi = np.quantile(est.boot_log, [(1 - est.level) / 2, (1 + est.level) / 2])
    if not (on == "dint90" and est.model == "monotone"):  # a fitted curve's CI: is it inside one grid step?
        lo, hi = _ci(res, on)
        a, b = _gap(tested, lo or 1.0)
        if hi is not None and a is not None and b is not None and hi <= b and b > a + 1:
            mid = min(max(int(round(math.sqrt(a * b))), a + 1), b - 1)
            why = (f"the CI lies between the tested d's {a} and {b}, where only the curve's assumed shape places "
                   f"the crossing: adding d = {mid}")
            return _trials(spec, {mid: sorted(by_d[a] | by_d[b])}, planned), why
    elif math.isfinite(q_hi) and math.exp(q_hi - q_lo) <= ratio:
        gaps = [_gap(tested, math.exp(q_lo)), _gap(tested, math.exp(q_hi))]
        gaps = [(a, b) for a, b in gaps if a is not None and b is not None and b > a + 1]
        if gaps:
            a, b = max(gaps, key=lambda g: g[1] / g[0])
            mid = min(max(int(round(math.sqrt(a * b))), a + 1), b - 1)
            why = f"the crossings spread over <= {ratio:g}x but the tested d's {a} and {b} bracket them: adding d = {mid}"
            return _trials(spec, {mid: sorted(by_d[a] | by_d[b])}, planned), why
    decide = deciding_dims(est if on == "dint90" else dataclasses.replace(est, ci=est.d50_ci))
    start = max(s for seeds in by_d.values() for s in seeds) + 1
    fresh = list(range(start, start + n_add))
    want: dict[int | None, list[int]] = {d: fresh for d in decide}
    top = max(len(by_d[d]) + n_add for d in decide)
    if None in by_d and len(by_d[None]) < top:  # the baseline's seeds enter the CI too
        base_next = max(by_d[None]) + 1
        want[None] = list(range(base_next, base_next + min(n_add, top - len(by_d[None]))))
    why = f"+{n_add} seeds at d {', '.join(str(d) for d in decide)}" + (" and the baseline" if None in want else "")
    return _trials(spec, want, planned), why


def _gap(tested: list[int], x: float) -> tuple[int | None, int | None]:
    """The tested d's just at-or-below and just above ``x``."""
    below = [d for d in tested if d <= x]
    above = [d for d in tested if d > x]
    return (below[-1] if below else None), (above[0] if above else None)


def _trials(spec: SweepSpec, want: dict[int | None, list[int]], planned) -> list[TrialConfig]:
    out = []
    for d, seeds in sorted(want.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        for t in plan_sweep(replace(spec, dims=[d], seeds=seeds)).trials:
            if t.key() not in planned:
                out.append(t)
    return out


def _fmt_ci(res: DintResult, on: str = "dint90") -> str:
    lo, hi = _ci(res, on)
    return f"[{lo:.3g}, {hi:.3g}]" if hi is not None else f"[{lo:.3g}, > {max(s.d for s in res.dims):g}]"


def format_sharpen(results: list[SharpenResult], ratio: float) -> str:
    """What ``sharpen`` did, a few lines per experiment."""
    out = []
    for r in results:
        out.append(f"until-ci {ratio:g}: {r.title}: {r.initial_trials} grid trials + {r.added} added "
                   f"({r.trials} in all, {len(r.rounds)} round(s))")
        out.extend(f"  {line}" for line in r.rounds)
        if r.added_dims:
            out.append(f"  d's added between grid points (a grid refined after seeing results): "
                       f"{', '.join(str(d) for d in r.added_dims)}")
        out.append(f"  {r.reason}")
    return "\n".join(out)


__all__ = ["ON", "SharpenResult", "ci_ratio", "format_sharpen", "sharpen"]
