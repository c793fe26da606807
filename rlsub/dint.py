"""Intrinsic dimension from stored trials, with bootstrap confidence intervals.

Normalised performance of a trial: ``(R - R_low) / (R_base - R_low)`` with R its final evaluation
(mean return on fresh episodes, or test accuracy), R_low the task's lowest return and R_base the
full-space baseline. d_int90 (Li et al. 2018) is the smallest tested d whose mean normalised
performance over seeds reaches 0.9.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any
from collections.abc import Iterable

import numpy as np

from rlsub.store import TrialRow
from rlsub.tasks import task_info


@dataclass
class Baseline:
    """R_base and where it came from: ``measured`` (full-space trials), ``given`` or ``preset``."""

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
class DimStats:
    """Per-d summary: mean normalised performance (with CI), solved count, seeds."""

    d: int
    mean: float
    ci: tuple[float, float]
    seeds: int
    solved: int
    returns: list[float]


@dataclass
class DintResult:
    """d_int for one (task, method, projection) group."""

    env: str
    kind: str
    method: str
    projection: str
    D: int
    threshold: float
    baseline: Baseline
    dims: list[DimStats]
    dint: int | None
    dint_ci: tuple[int | None, int | None]
    dint100: int | None
    full_mean: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def compression(self) -> float | None:
        return self.D / self.dint if self.dint else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["compression"] = self.compression
        return d


def smallest_passing(ds: list[int], means: np.ndarray, threshold: float) -> int | None:
    """Smallest d whose mean reaches the threshold (None if none does)."""
    for d, m in zip(ds, means):
        if m >= threshold:
            return d
    return None


def bootstrap_dint(
    per_d: list[np.ndarray], ds: list[int], threshold: float, n_boot: int = 2000, seed: int = 0, level: float = 0.9
) -> tuple[tuple[int | None, int | None], np.ndarray]:
    """Bootstrap CI of d_int: resample seeds within each d, recompute the smallest passing d.

    Returns the (lo, hi) interval at ``level`` (None for "beyond the largest tested d") and the
    bootstrap means per d (``[n_boot, len(ds)]``).
    """
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(ds)))
    for j, vals in enumerate(per_d):
        idx = rng.integers(0, len(vals), size=(n_boot, len(vals)))
        boot[:, j] = vals[idx].mean(axis=1)
    big = np.iinfo(np.int64).max
    passing = boot >= threshold
    first = np.where(passing.any(axis=1), np.argmax(passing, axis=1), -1)
    dvals = np.array([ds[i] if i >= 0 else big for i in first], dtype=np.int64)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(dvals, [alpha, 1 - alpha], method="inverted_cdf")
    as_d = lambda v: None if v == big else int(v)  # noqa: E731
    return (as_d(lo), as_d(hi)), boot


def compute_dint(
    rows: Iterable[TrialRow],
    threshold: float = 0.9,
    baseline: float | None = None,
    n_boot: int = 2000,
    level: float = 0.9,
) -> list[DintResult]:
    """Group trials by (env, method, projection) and compute d_int90 (and d_int100) with CIs."""
    rows = [r for r in rows if r.status == "done" and r.final_mean is not None]
    full: dict[tuple[str, str], list[float]] = defaultdict(list)
    full_seeds: dict[tuple[str, str], list[int]] = defaultdict(list)
    groups: dict[tuple[str, str, str], dict[int, list[TrialRow]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.is_full:
            full[(r.env, r.method)].append(r.final_mean)
            full_seeds[(r.env, r.method)].append(r.seed)
        else:
            groups[(r.env, r.method, r.projection)][r.d].append(r)
    results = []
    for (env, method, proj), by_d in sorted(groups.items()):
        any_row = next(iter(by_d.values()))[0]
        info = task_info(env, any_row.config.get("env_def"))
        base = _baseline(info, full.get((env, method)), baseline, full_seeds.get((env, method), []))
        scale = base.value - info.return_low
        notes = []
        if np.isnan(base.value):
            notes.append("no baseline: add 'full' to --dims, pass --baseline, or register return_best for this env")
        elif info.return_best is None and base.source != "given with --baseline":
            notes.append(f"this env has no preset: R_low = {info.return_low:g} assumed "
                         "(register return_low in the sweep's TOML to change it)")
        if scale <= 0:
            notes.append("baseline is not above the task's lowest return; normalisation undefined")
            scale = float("nan")
        ds = sorted(by_d)
        per_d = [np.array([(t.final_mean - info.return_low) / scale for t in by_d[d]]) for d in ds]
        (lo, hi), boot = bootstrap_dint(per_d, ds, threshold, n_boot=n_boot, level=level)
        dims = []
        for j, d in enumerate(ds):
            trials = by_d[d]
            ci = tuple(float(x) for x in np.quantile(boot[:, j], [(1 - level) / 2, 1 - (1 - level) / 2]))
            solved = sum(1 for t in trials if info.solved_threshold is not None and t.final_mean >= info.solved_threshold)
            dims.append(DimStats(d, float(per_d[j].mean()), ci, len(trials), solved, [t.final_mean for t in trials]))
        means = np.array([s.mean for s in dims])
        fm = full.get((env, method))
        results.append(
            DintResult(
                env=env, kind=info.kind, method=method, projection=proj,
                D=max(t.D for trials in by_d.values() for t in trials), threshold=threshold, baseline=base,
                dims=dims, dint=smallest_passing(ds, means, threshold), dint_ci=(lo, hi),
                dint100=smallest_passing(ds, means, 1.0), full_mean=float(np.mean(fm)) if fm else None, notes=notes,
            )
        )
    return results


def _baseline(info, measured: list[float] | None, given: float | None, seeds: list[int]) -> Baseline:
    if given is not None:
        return Baseline(float(given), "given with --baseline")
    if measured:
        return Baseline(float(np.mean(measured)), "measured", len(measured), sorted(seeds))
    if info.return_best is not None:
        return Baseline(float(info.return_best), "preset: documented best return")
    return Baseline(float("nan"), "none: run 'full' in --dims or pass --baseline")


def format_table(results: list[DintResult]) -> str:
    """Human-readable report of ``compute_dint`` results."""
    out = []
    for r in results:
        head = f"{r.env} | {r.method} | {r.projection} | D={r.D}"
        lo, hi = r.dint_ci
        top = f">{r.dims[-1].d}"
        ci = f"[{lo if lo is not None else top}, {hi if hi is not None else top}]"
        dint = r.dint if r.dint is not None else f"> {r.dims[-1].d} (not reached)"
        out.append(head)
        out.append(f"  baseline: {r.baseline.describe()}")
        comp = f", compression D/d = {r.compression:.0f}x" if r.compression else ""
        out.append(f"  d_int{int(round(r.threshold * 100))} = {dint}   90% CI {ci}{comp}")
        out.append(f"  d_int100 = {r.dint100 if r.dint100 is not None else 'not reached'}")
        out.append(f"  {'d':>8}  {'perf':>6}  {'90% CI':>15}  {'seeds':>5}  {'solved':>6}  {'mean R':>9}")
        for s in r.dims:
            mark = " *" if s.mean >= r.threshold else ""
            raw = float(np.mean(s.returns))
            out.append(
                f"  {s.d:>8}  {s.mean:6.3f}  [{s.ci[0]:5.3f}, {s.ci[1]:5.3f}]  {s.seeds:>5}  {s.solved:>6}  {raw:9.4g}{mark}"
            )
        for n in r.notes:
            out.append(f"  note: {n}")
        out.append("")
    return "\n".join(out)
