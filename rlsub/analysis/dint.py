"""Intrinsic dimension from stored trials: an estimate with a calibrated CI, d50, and the paper's grid value.

Normalised performance of a trial: ``(R - R_low) / (R_base - R_low)`` with R its final evaluation (mean return
on fresh episodes, or test accuracy), R_low the task's lowest return and R_base the full-space baseline (mean
over its seeds). Estimate and CI come from [`estimate_dint`][rlsub.analysis.estimator.estimate_dint] (a fitted
curve where calibrated, else an isotonic fit), resampling the seeds and the baseline's seeds together; the
grid d_int90 (Li et al. 2018) is the smallest tested d whose mean reaches 0.9.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from rlsub.analysis.bootstraps import success_crossing
from rlsub.analysis.dint_notes import TABLE_LEGEND, advice, fmt_ci, fmt_cross, fmt_estimate, reading_notes, success_dimension
from rlsub.analysis.estimator import DintEstimate, estimate_dint, reach_estimate
from rlsub.errors import RlsubError
from rlsub.results.store import TrialRow
from rlsub.tasks.base import EPISODE_RETURN, RANDOM_FLOOR, TEST_ACCURACY
from rlsub.trial import TrialConfig


@dataclass
class Baseline:
    """R_base and where it came from: ``measured`` (full-space trials of the same experiment),
    ``given`` or ``registered`` (the task's documented best)."""

    value: float
    source: str
    seeds: int = 0
    seed_list: list[int] = field(default_factory=list)

    def describe(self) -> str:
        if self.source == "measured":
            listed = ",".join(str(s) for s in self.seed_list)
            return f"R_base={self.value:.4g} (measured: full-space run, {self.seeds} seeds: {listed})"
        return f"R_base={self.value:.4g} ({self.source})"


@dataclass
class Floor:
    """R_low and where it came from (registered, or measured by a random policy per trial)."""

    value: float
    source: str
    trials: int = 0

    def describe(self) -> str:
        if self.source == RANDOM_FLOOR:
            return f"R_low={self.value:.4g} ({self.source}, mean over {self.trials} trials' own evaluation seeds)"
        return f"R_low={self.value:.4g} ({self.source})"


@dataclass
class DimStats:
    """Per-d summary: mean normalised performance (with CI), solved count, seeds, coordinates moved."""

    d: int
    mean: float | None
    ci: tuple[float, float] | None
    seeds: int
    solved: int
    returns: list[float]
    moved: int = 0
    p_success: float | None = None
    """Fraction of seeds whose final evaluation reaches the env's solved threshold (Larsen et al. 2022)."""
    p_reach: float | None = None
    """Fraction of seeds reaching d_int's own criterion, ``threshold`` × the baseline (normalised)."""


@dataclass
class DintResult:
    """d_int for one experiment (fingerprint) and projection."""

    env: str
    kind: str
    method: str
    projection: str
    D: int
    threshold: float
    baseline: Baseline
    dims: list[DimStats]
    dint: int | None
    """The grid d_int (Li et al.): the smallest tested d whose mean reaches the threshold (None: none does)."""
    dint_ci: tuple[int | None, int | None]
    """``estimate_ci``'s bounds, which are tested dims (or 1): kept for readers of the grid value."""
    dint100: int | None
    full_mean: float | None = None
    notes: list[str] = field(default_factory=list)
    floor: Floor | None = None
    fingerprint: str = ""
    label: str = ""
    """What tells this experiment apart from others of the same env and method ("budget 1000")."""
    network: str = ""
    measure: str = ""
    seeds: int = 0
    experiment: dict[str, Any] = field(default_factory=dict)
    """The config shared by the group's trials (everything but d, seed and projection)."""
    success_d50: float | None = None
    """The d where the fraction of seeds reaching the env's solved threshold first reaches 1/2."""
    success_ci: tuple[float | None, float | None] | None = None
    estimate: float | None = None
    """d where the isotonic fit of mean performance in ln d crosses the threshold (None: not reached or not
    computable; ``computable`` tells which)."""
    estimate_ci: tuple[float | None, float | None] | None = None
    """Its CI (None bound: beyond the largest tested d); bootstrap over the seeds and the baseline's seeds."""
    at_lowest: bool = False
    """The fit reaches the threshold already at the smallest tested d: the crossing may lie below it."""
    reach_d50: float | None = None
    """d where the fitted fraction of seeds reaching ``threshold`` × baseline crosses 1/2, with ``reach_ci``."""
    reach_ci: tuple[float | None, float | None] | None = None
    d50: float | None = None
    """Success dimension: a fitted P(seed reaches ``threshold`` × baseline) crosses 1/2 (None: beyond the grid)."""
    d50_ci: tuple[float | None, float | None] | None = None
    model: str = ""
    """Which model gave ``estimate``: 'mixture' / 'smooth' (fitted curves) or 'monotone'; ``model_why`` says why."""
    model_why: str = ""
    reference: float | None = None
    """The score the baseline is held to: the store's recorded reference (an atlas protocol's), else the
    env's solved threshold / reward_threshold stored in the trials."""
    solved_threshold: float | None = None
    """The env's own solved threshold, stored in the trials (what the P(env solved) line counts)."""
    baseline_below_reference: bool = False
    """The full-space baseline's mean is below ``reference``: an untrained baseline, so not a d_int."""
    estimator: DintEstimate | None = field(default=None, repr=False, compare=False)
    """The full estimate (replicates included) for comparisons; not serialised."""
    level: float = 0.9

    @property
    def level_pct(self) -> int:
        return int(round(self.level * 100))

    @property
    def computable(self) -> bool:
        return bool(self.dims) and self.dims[0].mean is not None

    @property
    def compression(self) -> float | None:
        """D / estimate; None when not reached, or when the baseline is below the reference (not a d_int)."""
        if self.baseline_below_reference or not self.estimate:
            return None
        return self.D / self.estimate

    @property
    def title(self) -> str:
        extra = f" [{self.label}]" if self.label else ""
        return f"{self.env} | {self.method} | {self.projection}{extra}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, estimator=None))
        d.pop("estimator")
        d["compression"] = self.compression
        d["grid_dint"] = self.dint
        if self.baseline_below_reference:  # never a d_int: the would-be numbers only under "not_a_dint"
            d["verdict"], d["not_a_dint"] = BELOW_REFERENCE, {k: d[k] for k in _DINT_KEYS}
            d.update(dict.fromkeys(_DINT_KEYS))
        return d


#: The words for a group whose baseline is below the task's reference score, and the fields its JSON blanks.
BELOW_REFERENCE = "baseline below reference: not a d_int"
_DINT_KEYS = ("dint", "dint_ci", "dint100", "estimate", "estimate_ci", "d50", "d50_ci", "grid_dint", "compression")


#: Relative slack on the threshold: a mean of (0.95 + 0.85) / 2 is 0.8999... in floating point.
_EPS = 1e-12


def smallest_passing(ds: list[int], means: np.ndarray, threshold: float) -> int | None:
    """Smallest d whose mean reaches the threshold (None if none does)."""
    for d, m in zip(ds, means):
        if m >= threshold * (1 - _EPS):
            return d
    return None


def compute_dint(
    rows: Iterable[TrialRow],
    threshold: float = 0.9,
    baseline: float | None = None,
    n_boot: int = 2000,
    level: float = 0.9,
    references: Mapping[str, float] | None = None,
) -> list[DintResult]:
    """d_int90 (and d_int100) with CIs for each experiment (fingerprint) and projection.

    ``references`` (by fingerprint; ``Store.references``) are the scores a baseline must reach, where a
    protocol states one; otherwise the env's solved threshold stored in the trials is the reference.

    Reads only what the rows store: no task code is imported. Trials of different experiments
    (any config difference but d, seed and projection) are never pooled; each experiment's
    full-space baseline comes from its own ``full`` trials.
    """
    rows = [r for r in rows if r.status == "done" and r.final_mean is not None]
    full: dict[str, list[TrialRow]] = defaultdict(list)
    groups: dict[tuple[str, str], dict[int, list[TrialRow]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.is_full:
            full[r.fingerprint].append(r)
        else:
            groups[(r.fingerprint, r.projection)][r.d].append(r)
    labels = experiment_labels({fp: next(iter(by_d.values()))[0] for (fp, _), by_d in groups.items()})
    results = []
    for (fp, proj), by_d in groups.items():
        trials = [t for ts in by_d.values() for t in ts]
        first = trials[0]
        base = _baseline(first, full.get(fp, []), baseline)
        floor = _floor(trials + full.get(fp, []))
        notes: list[str] = []
        scale = float("nan")
        if floor is None:
            notes.append("no R_low: these trials recorded no floor")
        elif np.isnan(base.value):
            notes.append("no baseline: add 'full' to --dims, pass --baseline, or register return_best for this env")
        elif base.value - floor.value <= 0:
            notes.append(f"the baseline ({base.value:.4g}) is not above the floor ({floor.value:.4g}): performance "
                         "cannot be normalised; train the baseline longer or check the task")
        else:
            scale = base.value - floor.value
        ds = sorted(by_d)
        seeds = sorted({t.seed for t in trials})
        ok = np.isfinite(scale)
        # A seed fixes θ_0, P and the evaluation episodes at every d: its curve is the unit resampled.
        perf = np.full((len(seeds), len(ds)), np.nan)
        solved = np.full((len(seeds), len(ds)), np.nan)
        for j, d in enumerate(ds):
            for t in by_d[d]:
                i = seeds.index(t.seed)
                if ok:
                    perf[i, j] = (t.final_mean - floor.value) / scale
                if t.solved is not None:
                    solved[i, j] = float(t.final_mean >= t.solved)
        est = reach = None
        dint = dint100 = None
        if ok:
            # The baseline's own seeds, in the same units (mean 1), resampled with the curves.
            base_seeds = ([(t.final_mean - floor.value) / scale for t in full.get(fp, [])]
                          if base.source == "measured" else None)
            est = estimate_dint(perf, ds, threshold, level, baseline=base_seeds, n_boot=n_boot)
            reach = reach_estimate(perf, ds, threshold, level, baseline=base_seeds, n_boot=n_boot)
            notes += est.notes
            dint = None if np.isinf(est.grid_dint) else int(est.grid_dint)
            dint100 = smallest_passing(ds, np.nanmean(perf, axis=0), 1.0)
        success = success_crossing(solved, ds, n_boot=n_boot, level=level) if not np.all(np.isnan(solved)) else None
        dims = []
        for j, d in enumerate(ds):
            ts = by_d[d]
            dims.append(DimStats(
                d, float(np.nanmean(perf[:, j])) if ok else None,
                tuple(float(x) for x in est.mean_ci[j]) if est is not None else None, len(ts),
                sum(1 for t in ts if t.solved is not None and t.final_mean >= t.solved),
                [t.final_mean for t in ts], max(t.moved for t in ts),
                float(success.p_success[j]) if success is not None else None,
                float(reach.means[j]) if reach is not None else None,
            ))
        fm = [t.final_mean for t in full.get(fp, [])]
        if ok and np.nanmax(perf) > 1.5 and base.source == "measured":
            notes.append("some d beat the full-space baseline by more than 50%: the baseline looks under-trained "
                         "(full-space search at this budget); d_int is then too easy to reach")
        if any(s.moved > s.d for s in dims):
            notes.append("this method moved more coordinates than d (see 'moved'): compare it at its moved count")
        reference = (references or {}).get(fp, first.solved)
        below = reference is not None and np.isfinite(base.value) and base.value < reference
        if below:
            notes.insert(0, f"{BELOW_REFERENCE}: the full-space baseline ({base.value:.4g}) is below the task's "
                         f"reference score ({reference:.4g}), so 90% of it measures an untrained policy")
        results.append(
            DintResult(
                env=first.env, kind=first.kind, method=first.method, projection=proj, D=max(t.D for t in trials),
                threshold=threshold, baseline=base, dims=dims, dint=dint,
                dint_ci=_bounds(est.ci, int) if est is not None else (None, None), dint100=dint100,
                full_mean=float(np.mean(fm)) if fm else None, notes=notes, floor=floor, fingerprint=fp,
                label=labels.get(fp, ""), network=first.network, measure=first.measure, seeds=len(seeds),
                experiment=experiment(first),
                success_d50=success.d_cross if success is not None else None,
                success_ci=success.ci if success is not None else None,
                estimate=_finite(est.estimate) if est is not None else None,
                estimate_ci=_bounds(est.ci, float) if est is not None else None,
                at_lowest=bool(est is not None and est.at_lowest),
                reach_d50=_finite(reach.estimate) if reach is not None else None,
                reach_ci=_bounds(reach.ci, float) if reach is not None else None,
                d50=_finite(est.d50) if est is not None and not np.isnan(est.d50) else None,
                d50_ci=_bounds(est.d50_ci, float) if est is not None and not np.isnan(est.d50) else None,
                model=est.model if est is not None else "", model_why=est.model_why if est is not None else "",
                reference=reference, solved_threshold=first.solved, baseline_below_reference=bool(below),
                estimator=est, level=level,
            )
        )
    results.sort(key=lambda r: (r.env, r.method, r.label, r.projection))
    return results


def _finite(v: float) -> float | None:
    return None if np.isinf(v) else float(v)


def _bounds(ci: tuple[float, float], kind: type) -> tuple[Any, Any]:
    """A CI for JSON and print: ``None`` for a bound beyond the largest tested d."""
    return tuple(None if np.isinf(v) else kind(v) for v in ci)  # type: ignore[return-value]


def _baseline(row: TrialRow, measured: list[TrialRow], given: float | None) -> Baseline:
    if given is not None:
        return Baseline(float(given), "given with --baseline")
    if measured:
        return measured_baseline(measured)
    if row.r_best is not None:
        return Baseline(float(row.r_best), f"{row.r_best_source}: documented best")
    return Baseline(float("nan"), "none: run 'full' in --dims or pass --baseline")


def measured_baseline(full: list[TrialRow]) -> Baseline:
    """R_base measured by an experiment's finished full-space trials: their mean final evaluation."""
    return Baseline(float(np.mean([t.final_mean for t in full])), "measured", len(full), sorted(t.seed for t in full))


def _floor(rows: list[TrialRow]) -> Floor | None:
    """The experiment's R_low: the registered value, or the mean of the trials' measured floors."""
    known = [r for r in rows if r.r_low is not None]
    if not known:
        return None
    if known[0].r_low_source == RANDOM_FLOOR:
        return Floor(float(np.mean([r.r_low for r in known])), RANDOM_FLOOR, len(known))
    return Floor(float(known[0].r_low), known[0].r_low_source)


def experiment(row: TrialRow) -> dict[str, Any]:
    """The experiment a stored row belongs to (its config without d, seed and projection)."""
    try:
        return TrialConfig.from_dict(row.config).experiment()
    except (TypeError, ValueError, RlsubError):  # a config this rlsub cannot rebuild: compare it as stored
        return {k: v for k, v in row.config.items() if k not in ("dim", "seed", "projection", "device")}


def experiment_labels(by_fp: dict[str, TrialRow]) -> dict[str, str]:
    """For experiments of the same env and method, the settings that differ between them,
    e.g. ``budget 1000`` vs ``budget 8000``; an experiment alone for its env and method gets ''."""
    peers: dict[tuple[str, str], list[str]] = defaultdict(list)
    flat = {}
    for fp, row in by_fp.items():
        peers[(row.env, row.method)].append(fp)
        flat[fp] = _flatten(experiment(row))
    out = {}
    for fps in peers.values():
        if len(fps) < 2:
            continue
        keys = sorted({k for fp in fps for k in flat[fp]})
        differ = [k for k in keys if len({json.dumps(flat[fp].get(k), sort_keys=True, default=str) for fp in fps}) > 1]
        for fp in fps:
            out[fp] = ", ".join(f"{k} {_show(flat[fp].get(k))}" for k in differ)
    return out


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if k in ("params",) and isinstance(v, dict):
            out.update(_flatten(v, ""))
        elif k == "env_def" and isinstance(v, dict):
            out.update(_flatten(v, "env."))
        else:
            out[name] = v
    return out


def _show(v: Any) -> str:
    if v is None:
        return "default"
    if isinstance(v, (list, tuple)):
        return "-".join(str(x) for x in v)
    return str(v)


#: Measures ``format_table`` does not spell out: every task's own final test.
PLAIN_MEASURES = (EPISODE_RETURN, TEST_ACCURACY)


def format_table(results: list[DintResult]) -> str:
    """Human-readable report of ``compute_dint`` results: the estimate and its CI first, the grid value beside."""
    out = []
    for r in results:
        pct = int(round(r.threshold * 100))
        top = r.dims[-1].d
        out.append(f"{r.title} | {r.network} D={r.D}")
        out.append(f"  baseline: {r.baseline.describe()}")
        if r.measure and r.measure not in PLAIN_MEASURES:  # say it wherever it is not a fresh-episode test
            out.append(f"  measure:  {r.measure}")
        if r.floor is not None:
            out.append(f"  floor:    {r.floor.describe()}")
        if not r.computable:  # nothing to normalise by: one note below, raw returns only
            out.append(f"  d_int{pct}: not computable")
        elif r.baseline_below_reference:  # no number: 90% of an untrained baseline is not a d_int
            out.append(f"  d_int{pct}: none: {BELOW_REFERENCE} (R_base {r.baseline.value:.4g} < reference "
                       f"{r.reference:.4g}); the table below is relative to that baseline")
        else:
            out.append(f"  d_int{pct} = {fmt_estimate(r)}   {r.level_pct}% CI {fmt_ci(r.estimate_ci, top)}   "
                       f"(grid d_int{pct} = {r.dint if r.dint is not None else f'>{top}'})")
            if r.model in ("mixture", "smooth"):  # a fitted curve gave the estimate: say which and why
                out.append(f"    {r.model} model: {r.model_why}; CI: union of logistic and Gompertz fits, bootstrap "
                           f"over {r.seeds} seeds" + (f" and the baseline's {r.baseline.seeds}"
                                                      if r.baseline.source == "measured" else ""))
            else:
                out.append(f"    isotonic fit of the mean in ln d; CI: bootstrap over {r.seeds} seeds"
                           + (f" and the baseline's {r.baseline.seeds}" if r.baseline.source == "measured" else "")
                           + ", bounds at tested dims" + (f" ({r.model_why})" if r.model_why else ""))
            if r.compression and not r.baseline_below_reference:
                # at the smallest tested d the crossing may lie lower: the compression is a lower bound
                at_least = ">= " if r.at_lowest else ""
                out.append(f"  compression D/d = {at_least}{r.compression:.0f}x (from the estimate)")
        if r.computable and not r.baseline_below_reference:
            d50 = success_dimension(r)
            if d50 is not None:
                out.append(f"  d50 (success dimension) = {fmt_cross(d50[0], d50[1], top)}")
            out.append(f"  d_int100 = {r.dint100 if r.dint100 is not None else 'not reached'} (grid)")
            out.append(f"  P(seed reaches {pct}% of baseline) = 1/2 at d {fmt_cross(r.reach_d50, r.reach_ci, top)}")
        if r.dims[0].p_success is not None:
            ref = f" >= {r.solved_threshold:.4g}" if r.solved_threshold is not None else ""
            out.append(f"  P(env solved: final{ref}) = 1/2 at d {fmt_cross(r.success_d50, r.success_ci, top)} "
                       "(first crossing, env's own threshold)")
        out.append(f"  {'d':>8}  {'moved':>7}  {'perf':>6}  {'90% CI':>15}  {'seeds':>5}  {f'reach{pct}':>7}  "
                   f"{'solved':>7}  {'mean R':>9}")
        for s in r.dims:
            raw = float(np.mean(s.returns))
            if s.mean is None:
                out.append(f"  {s.d:>8}  {s.moved:>7}  {'-':>6}  {'':>15}  {s.seeds:>5}  {'-':>7}  {_frac(s):>7}  "
                           f"{raw:9.4g}")
                continue
            mark = " *" if s.mean >= r.threshold else ""
            out.append(f"  {s.d:>8}  {s.moved:>7}  {s.mean:6.3f}  [{s.ci[0]:5.3f}, {s.ci[1]:5.3f}]  {s.seeds:>5}  "
                       f"{s.p_reach:7.2f}  {_frac(s):>7}  {raw:9.4g}{mark}")
        for n in r.notes + reading_notes(r):
            out.append(f"  note: {n}")
        tip = advice(r)
        if tip:
            out.append(f"  next: {tip}")
        out.append("")
    if results:
        out.append(TABLE_LEGEND.format(pct=int(round(results[0].threshold * 100))))
    return "\n".join(out)


def _frac(s: DimStats) -> str:
    return f"{s.solved}/{s.seeds}" if s.p_success is not None else "-"
