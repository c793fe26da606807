"""The difficulty atlas: one protocol file per task, its store, one CSV row per (env, method), one figure.

A protocol is a sweep file (``rlsub sweep --config``) with an extra ``[atlas]`` table, written
before its sweep runs. The sweep loader ignores ``[atlas]``; ``load_protocol`` reads and checks it::

    [atlas]
    family = "mujoco"           # one of FAMILIES
    network = "mlp 64-64"
    reference = 950.0           # the score the full-space baseline must reach (omit where none is known)
    reference_source = "Gymnasium's registered reward_threshold: gym.spec('InvertedPendulum-v5')"
    cpu_hours = 0.1             # estimated before the run, from a pilot's CPU seconds per env step
    expect = "reach"            # "reach", "under-trained" or "unknown": what the budget is expected to give
    linear_params = 5           # mujoco rows: a linear policy's parameter count (obs × act + act)
    needs = "..."               # where the budget cannot train the baseline: what it would take
    raise_budget = [5000000]    # optional: budgets tried in turn after [sweep]'s while the baseline misses the reference
    until_ci = 2.0              # optional: once the grid has run, add trials until the CI's hi/lo <= 2
    max_trials = 160            # optional: the cap on one experiment's trials for until_ci (default 4x the grid)

``run_protocol`` runs each row's full-space baseline first, and its d grid only where the baseline
reaches the reference (a d_int against an untrained baseline is not one); while it misses, the
budget climbs the protocol's ``raise_budget`` list. A row still below at the top says so and keeps no grid.
It also records the CPU time. ``export_rows`` turns the protocols' stores into ``atlas.csv`` rows,
[`rlsub.atlas.figure.draw_figure`][rlsub.atlas.figure.draw_figure] redraws the figure from the CSV alone.
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rlsub.analysis.dint import Baseline, DintResult, compute_dint, experiment, measured_baseline
from rlsub.atlas.cpu_time import CpuRecord, recorded_cpu_seconds
from rlsub.atlas.figure import FAMILIES, draw_figure
from rlsub.atlas.table import AtlasRow, read_csv, write_csv
from rlsub.errors import ConfigError
from rlsub.results.store import Store, TrialRow
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.run import run_sweep
from rlsub.sweeps.sharpen import sharpen
from rlsub.sweeps.spec import SweepSpec, load_sweep_config

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

EXPECT = ("reach", "under-trained", "unknown")
_REQUIRED = {"family", "network", "reference_source", "cpu_hours", "expect"}
_OPTIONAL = {"reference", "linear_params", "needs", "raise_budget", "until_ci", "max_trials"}
THRESHOLD = 0.9
INF = math.inf
__all__ = [ "Protocol", "check_protocol", "export_rows", "load_protocol", "rows_for", "run_protocol",]


@dataclass(frozen=True)
class Protocol:
    """One atlas row's protocol: the sweep it runs and what its baseline is held to."""

    path: Path
    spec: SweepSpec
    opts: dict[str, Any]
    family: str
    network: str
    reference: float | None
    reference_source: str
    cpu_hours: float
    expect: str
    linear_params: int | None = None
    needs: str = ""
    raised: tuple[int, ...] = ()
    """Budgets tried in turn after the sweep's own while the baseline misses the reference."""
    until_ci: float | None = None
    """After the grid, trials are added ([`rlsub.sweeps.sharpen`][rlsub.sweeps.sharpen]) until the CI's hi/lo is at most this."""
    max_trials: int | None = None

    @property
    def budgets(self) -> tuple[int | None, ...]:
        """The budgets ``run_protocol`` may try, in order: the sweep's (None: the task's default), then the raised ones."""
        return (self.spec.budget, *self.raised)

    @property
    def row(self) -> str:
        return self.path.stem

    @property
    def store(self) -> str:
        """The store directory the protocol names (relative to the repository root)."""
        return str(self.opts.get("out", ""))

    @property
    def command(self) -> str:
        """How the row is run: the sweep, with its CPU time recorded (``run_protocol``)."""
        return f"rlsub atlas run {self.path.as_posix()}"


def load_protocol(path: str | os.PathLike) -> Protocol:
    """Read a protocol file through the sweep loader and check its ``[atlas]`` table."""
    path = Path(path)
    spec, opts = load_sweep_config(path)
    table = tomllib.loads(path.read_text()).get("atlas")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: missing [atlas] table (family, network, reference_source, cpu_hours, expect)")
    if missing := _REQUIRED - set(table):
        raise ConfigError(f"{path}: [atlas] needs {', '.join(sorted(missing))}")
    if unknown := set(table) - _REQUIRED - _OPTIONAL:
        raise ConfigError(f"{path}: unknown key(s) in [atlas]: {', '.join(sorted(unknown))}")
    if table["family"] not in FAMILIES:
        raise ConfigError(f"{path}: [atlas] family {table['family']!r}: choose one of {', '.join(FAMILIES)}")
    if table["expect"] not in EXPECT:
        raise ConfigError(f"{path}: [atlas] expect {table['expect']!r}: choose one of {', '.join(EXPECT)}")
    ref = table.get("reference")
    if ref is not None and (isinstance(ref, bool) or not isinstance(ref, (int, float)) or not math.isfinite(ref)):
        raise ConfigError(f"{path}: [atlas] reference must be a finite number, got {ref!r}")
    hours = table["cpu_hours"]
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not hours > 0:
        raise ConfigError(f"{path}: [atlas] cpu_hours must be a positive number, got {hours!r}")
    lin = table.get("linear_params")
    if lin is not None and (isinstance(lin, bool) or not isinstance(lin, int) or lin < 1):
        raise ConfigError(f"{path}: [atlas] linear_params must be a positive integer, got {lin!r}")
    if not str(table["reference_source"]).strip():
        raise ConfigError(f"{path}: [atlas] reference_source is empty: say where the reference comes from (or why none)")
    if m := re.search(r"(?:^|[\s(\"'])(/[\w.-]+/[\w./-]+|[A-Za-z]:\\[\w.\\-]+)", str(table["reference_source"])):
        # It travels into atlas.csv: a path of the machine that wrote the protocol means nothing elsewhere.
        raise ConfigError(f"{path}: [atlas] reference_source names a machine path ({m.group(1)}): cite a repository path or a publication")
    raised = table.get("raise_budget", [])
    if raised:
        if (not isinstance(raised, list) or raised != sorted(set(raised))
                or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in raised)):
            raise ConfigError(f"{path}: [atlas] raise_budget must be increasing budgets (env steps; training "
                              f"examples for supervised tasks), got {raised!r}")
        if spec.budget is not None and raised[0] <= spec.budget:
            raise ConfigError(f"{path}: [atlas] raise_budget must start above [sweep] budget ({spec.budget}), got {raised[0]}")
        if ref is None:
            raise ConfigError(f"{path}: [atlas] raise_budget needs a reference (the score that stops the climb)")
    until, cap = table.get("until_ci"), table.get("max_trials")
    if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float)) or not until > 1):
        raise ConfigError(f"{path}: [atlas] until_ci must be a number > 1 (the CI's hi/lo), got {until!r}")
    if cap is not None and (until is None or isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ConfigError(f"{path}: [atlas] max_trials must be a positive integer, and needs until_ci; got {cap!r}")
    return Protocol(path, spec, opts, table["family"], str(table["network"]), None if ref is None else float(ref),
                    str(table["reference_source"]), float(hours), table["expect"], lin, str(table.get("needs", "")),
                    tuple(raised), None if until is None else float(until), cap)


def check_protocol(p: Protocol, min_seeds: int = 5) -> None:
    """The atlas's rules for a protocol: ≥ ``min_seeds`` seeds, a baseline, a grid of powers of 2,
    ES with observation normalisation (or ARS) for vector-observation RL rows, a store under atlas/stores/."""
    where = p.path
    if len(p.spec.seeds) < min_seeds:
        raise ConfigError(f"{where}: {len(p.spec.seeds)} seeds; the atlas needs at least {min_seeds}")
    if None not in p.spec.dims:
        raise ConfigError(f"{where}: dims need 'full' (the full-space baseline)")
    grid = [d for d in p.spec.dims if d is not None]
    if grid != sorted(grid) or any(d & (d - 1) for d in grid):
        raise ConfigError(f"{where}: dims must be increasing powers of 2, got {grid}")
    if p.family not in ("supervised", "minatar"):
        es_ok = "es" in p.spec.methods and p.spec.params.get("es", {}).get("obs_norm")
        if not es_ok and "ars" not in p.spec.methods:  # ARS rows: the version (V2 normalises states) is the protocol's
            raise ConfigError(f"{where}: RL rows run ES with observation normalisation ([sweep.params.es] obs_norm = true) "
                              "or ARS (method = \"ars\")")
    if p.family == "mujoco" and p.linear_params is None:
        raise ConfigError(f"{where}: mujoco rows give linear_params (obs × act + act)")
    if p.store != f"atlas/stores/{p.row}":
        raise ConfigError(f"{where}: out must be 'atlas/stores/{p.row}', got {p.store!r}")
    plan_sweep(p.spec)


# -- running a row, with its CPU time ------------------------------------------------------------
def run_protocol(p: Protocol, root: str | os.PathLike = ".", workers: int | None = None,
                 progress: bool = True, whole_grid: bool = False) -> dict[str, Any]:
    """Run (or resume) a protocol's sweep and add the CPU time it took to its store's record.

    The full-space baseline runs first; the d grid runs only for the (env, method) pairs whose
    baseline reaches the reference, climbing ``p.budgets`` while it does not. ``whole_grid`` (or a
    row with no reference) runs the whole sweep at its budget regardless. Returns the trial counts
    and ``notes``: one line per pair whose grid was not run, or whose budget was raised.

    Trials' own ``wall_time`` cannot give CPU hours: direct-search trials run in lockstep, so
    each one's wall time includes the trials it ran beside. Processes' CPU time can.
    """
    check_protocol(p)
    store_dir = Path(root) / p.store
    counts: dict[str, Any] = defaultdict(int)
    notes: list[str] = []
    cpu = CpuRecord(store_dir)  # saved after every pool unit: a run killed with -9 keeps what its stored trials cost

    def sweep(spec: SweepSpec) -> dict[str, int]:
        done = run_sweep(spec, store_dir, workers=workers or p.opts.get("workers"), progress=progress,
                         data_dir=p.opts.get("data_dir"), on_cpu=cpu.worker)
        cpu.save()  # in-process trials (workers=1) are this process's own CPU
        for k, v in done.items():
            counts[k] += v
        return done

    if p.reference is not None:  # so that rlsub dint and rlsub report hold the baseline to it too
        with Store(store_dir) as store:
            store.set_reference(p.reference, f"{p.path.name}: {p.reference_source}")
    try:
        if whole_grid or p.reference is None:
            sweep(p.spec)
        else:
            pending = [(e, m) for e in p.spec.envs for m in p.spec.methods]
            grid = [d for d in p.spec.dims if d is not None]  # the baseline is stored already
            for i, budget in enumerate(p.budgets):
                rung = replace(p.spec, budget=budget)
                for env, method in pending:
                    sweep(replace(rung, envs=[env], methods=[method], dims=[None]))
                base = measured_baselines(replace(rung, dims=[None]), store_dir)
                for env, method in list(pending):
                    value = base.get((env, method), math.nan)
                    if baseline_ok(value, p.reference):
                        if i:
                            notes.append(f"{env} ({method}): budget raised to {_budget(budget, p)}, where the baseline "
                                         f"({value:.4g}) reaches the reference ({p.reference:g})")
                        one = replace(rung, envs=[env], methods=[method])
                        if p.until_ci is None:
                            sweep(replace(one, dims=grid))
                        else:  # the grid, then seeds and d's where they narrow the CI (resumable: replayed);
                            # its plan holds the baseline too (its analysis reads planned trials only)
                            for res in sharpen(one, store_dir, p.until_ci, p.max_trials, THRESHOLD, run=sweep):
                                notes.append(f"{env} ({method}): until_ci {p.until_ci:g}: {res.reason}")
                        pending.remove((env, method))
                if not pending:
                    break
            top = p.budgets[-1]
            for env, method in pending:
                at = f" at the largest budget tried ({_budget(top, p)})" if p.raised else f" at {_budget(top, p)}"
                value = base.get((env, method), math.nan)
                notes.append(f"{env} ({method}): baseline {value:.4g} below the reference {p.reference:g}{at}: "
                             "the d grid is not run (a d_int against an untrained baseline is not one)")
    finally:  # an interrupted run still counts what it spent (its finished trials are stored)
        cpu.save()
    counts["notes"] = notes
    return dict(counts)


def _budget(b: int | None, p: Protocol) -> str:
    unit = "training examples" if p.family == "supervised" else "steps"
    return "the task's default budget" if b is None else f"{b:,} {unit}"


def measured_baselines(spec: SweepSpec, store_dir: str | os.PathLike) -> dict[tuple[str, str], float]:
    """The measured baseline of the experiment each (env, method) of ``spec``'s full-space trials
    belongs to: the mean final evaluation of all its stored, finished full-space trials, the seeds
    until_ci added included, as ``rlsub dint`` and the export compute it (not only ``spec``'s seeds)."""
    want = {c.key(): (c.env, c.method) for c in plan_sweep(spec).trials}
    with Store(store_dir, create=False) as store:
        rows = list(store.rows())
    pair = {t.fingerprint: want[t.key] for t in rows if t.key in want}
    found: dict[tuple[str, str], list[TrialRow]] = defaultdict(list)
    for t in rows:
        if t.fingerprint in pair and _finished_full(t):
            found[pair[t.fingerprint]].append(t)
    return {k: measured_baseline(v).value for k, v in found.items()}


# -- the CSV's rows ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    dint90: float
    ci_lo: float
    ci_hi: float
    grid_dint90: float
    d50: float = math.nan
    d50_lo: float = math.nan
    d50_hi: float = math.nan
    model: str = ""


def estimate(result: DintResult) -> Estimate:
    """d_int90, its CI, the grid's d_int90 and d50 with its CI for one experiment: the one place the atlas computes
    them. The estimate and CI are [`rlsub.analysis.estimator`][rlsub.analysis.estimator]'s (the crossing of an isotonic fit in ln d, its
    calibrated bootstrap CI; ``inf`` beyond the largest tested d); the grid value is the paper's."""
    grid = float(result.dint) if result.dint is not None else INF
    est = float(result.estimate) if result.estimate is not None else INF
    lo, hi = result.estimate_ci or (None, None)
    e = result.estimator
    d50 = (e.d50, *e.d50_ci) if e is not None else (math.nan,) * 3
    return Estimate(est, float(lo) if lo is not None else INF, float(hi) if hi is not None else INF, grid,
                    *(float(v) for v in d50), result.model)


def baseline_ok(baseline: float, reference: float | None) -> bool | None:
    """Whether the measured baseline reaches the reference (None: no reference, or no baseline)."""
    if reference is None or not math.isfinite(baseline):
        return None
    return baseline >= reference


def export_rows(protocols: list[Protocol], root: str | os.PathLike = ".") -> tuple[list[AtlasRow], list[str]]:
    """atlas.csv rows from each protocol's store under ``root``; also the protocols with no store yet."""
    rows: list[AtlasRow] = []
    missing: list[str] = []
    for p in protocols:
        store_dir = Path(root) / p.store
        if not (store_dir / "results.sqlite").exists():
            missing.append(p.row)
            continue
        with Store(store_dir, create=False) as store:
            trials = list(store.rows())
        rows += rows_for(p, trials, recorded_cpu_seconds(store_dir))
    return rows, missing


def rows_for(p: Protocol, trials: list[TrialRow], cpu_seconds: float | None = None) -> list[AtlasRow]:
    """The atlas rows of one protocol's trials: one per (env, method), at the budget ``run_protocol``
    settled on (the first budget whose baseline reached the reference, else the largest tried).

    ``cpu_seconds`` (the store's recorded total, every budget tried included) is shared out between
    the (env, method) pairs in proportion to their trials' wall time; None leaves ``cpu_hours`` unknown."""
    walls: dict[tuple[str, str], float] = defaultdict(float)
    for t in trials:
        walls[(t.env, t.method)] += t.wall_time or 0.0
    total_wall = sum(walls.values()) or 1.0
    by_pair: dict[tuple[str, str, str], list[AtlasRow]] = defaultdict(list)
    for row in _experiment_rows(p, trials):
        by_pair[(row.env, row.method, row.network)].append(row)
    stored = {t.key for t in trials}
    out = []
    for (env, method, _), rows in by_pair.items():
        chosen = _settled(p, rows)
        one = replace(p.spec, envs=[env], methods=[method], budget=chosen.budget)
        have, n = _stored_of(replace(one, dims=[None]), stored)
        if have < n:  # a baseline run part-way is not yet above or below its reference
            chosen.baseline_ok = None
            _no_estimate(chosen, f"baseline incomplete: {have} of {n} trials stored (rlsub atlas run resumes)")
        elif chosen.d_max is not None:  # a grid that is not all there yet is not the protocol's estimate
            have, n = _stored_of(replace(one, dims=[d for d in p.spec.dims if d is not None]), stored)
            if have < n:
                _no_estimate(chosen, f"grid incomplete: {have} of {n} trials stored, no estimate yet "
                                     "(rlsub atlas run resumes)")
        share = walls[(env, method)] / total_wall
        chosen.cpu_hours = round(cpu_seconds * share / 3600, 4) if cpu_seconds is not None else math.nan
        out.append(chosen)
    return out


def _stored_of(spec: SweepSpec, stored: set[str]) -> tuple[int, int]:
    """How many of ``spec``'s planned trials are stored, and how many it plans."""
    keys = [c.key() for c in plan_sweep(spec).trials]
    return sum(k in stored for k in keys), len(keys)


def _no_estimate(row: AtlasRow, why: str) -> None:
    row.dint90 = row.ci_lo = row.ci_hi = row.grid_dint90 = row.d50 = row.d50_lo = row.d50_hi = math.nan
    row.dint90_model = ""
    row.note = "; ".join(x for x in (why, row.note) if x)


def _finished_full(t: TrialRow) -> bool:
    """A full-space trial that counts towards its experiment's measured baseline."""
    return t.is_full and t.status == "done" and t.final_mean is not None


def _settled(p: Protocol, rows: list[AtlasRow]) -> AtlasRow:
    """Of one pair's experiments, the one at the budget ``run_protocol`` settled on, its note saying how."""
    if len(rows) == 1 or not p.raised:
        if len(rows) > 1:
            raise ConfigError(f"{p.store}: {len(rows)} experiments of {rows[0].env} ({rows[0].method}) in one store "
                              "but no raise_budget in the protocol: the atlas does not pool or choose between them")
        return rows[0]
    rows = sorted(rows, key=lambda r: r.budget or 0)
    reached = [r for r in rows if r.baseline_ok]
    chosen = reached[0] if reached else rows[-1]
    below = [r for r in rows if (r.budget or 0) < (chosen.budget or 0)]
    if below:
        tried = ", ".join(f"{_budget(r.budget, p)}: baseline {r.baseline:.4g}" for r in below)
        chosen.note = "; ".join(x for x in (chosen.note, f"budget raised (tried {tried})") if x)
    return chosen


def _experiment_rows(p: Protocol, trials: list[TrialRow]) -> list[AtlasRow]:
    """One row per experiment: those with a d grid (``compute_dint``) and baselines with none."""
    out = []
    results = compute_dint(trials, threshold=THRESHOLD)
    for r in results:
        est = estimate(r)
        ok = baseline_ok(r.baseline.value, p.reference)
        out.append(_row(p, r.env, r.method, r.network, r.D, r.experiment.get("budget", p.spec.budget), r.seeds,
                        r.baseline, est, r.dims[-1].d, "baseline below reference: not a d_int" if ok is False else ""))
    graded = {r.fingerprint for r in results}
    alone: dict[str, list[TrialRow]] = defaultdict(list)
    for t in trials:
        if _finished_full(t) and t.fingerprint not in graded:
            alone[t.fingerprint].append(t)
    nan = Estimate(math.nan, math.nan, math.nan, math.nan)
    for full in alone.values():
        t = full[0]
        base = measured_baseline(full)
        budget = experiment(t).get("budget", p.spec.budget)
        ok = baseline_ok(base.value, p.reference)
        at = f" at {_budget(budget, p)}"
        note = (f"baseline below reference{at}: d grid not run" if ok is False
                else "d grid not run yet" if ok else "no d grid in the store")
        out.append(_row(p, t.env, t.method, t.network, t.D, budget, len({x.seed for x in full}), base, nan, None, note))
    return out


def _row(p: Protocol, env: str, method: str, network: str, D: int, budget: int | None, seeds: int,
         base: Baseline, est: Estimate, d_max: int | None, note: str) -> AtlasRow:
    return AtlasRow(
        env=env, family=p.family, method=method, network=network, D=D, budget=budget, seeds=seeds,
        baseline=base.value, baseline_source=base.describe(), reference=p.reference,
        reference_source=p.reference_source, baseline_ok=baseline_ok(base.value, p.reference), dint90=est.dint90,
        ci_lo=est.ci_lo, ci_hi=est.ci_hi, grid_dint90=est.grid_dint90, cpu_hours=math.nan,
        protocol=p.path.as_posix(), command=p.command, linear_params=p.linear_params, d_max=d_max, note=note,
        d50=est.d50, d50_lo=est.d50_lo, d50_hi=est.d50_hi, dint90_model=est.model)


def run_command(action: str, files: list[str], out: str | None, root: str = ".", workers: int | None = None,
                whole_grid: bool = False) -> str:
    """``rlsub atlas run PROTOCOL...``, ``rlsub atlas export PROTOCOL... --out atlas.csv``,
    ``rlsub atlas figure atlas.csv --out atlas.png``."""
    if action == "run":
        protocols = [load_protocol(f) for f in files]  # every file checked before any trial runs
        for p in protocols:
            check_protocol(p)
        lines = []
        for p in protocols:
            c = run_protocol(p, root, workers, whole_grid=whole_grid)
            lines.append(f"{p.row}: {c['total']} trials, {c['skipped']} already stored, {c['done']} done, "
                         f"{c['failed']} failed, {c['crashed']} crashed")
            lines += [f"  {n}" for n in c["notes"]]
        return "\n".join(lines)
    if not out:
        raise ConfigError(f"rlsub atlas {action} needs --out")
    if action == "export":
        protocols = [load_protocol(f) for f in files]
        rows, missing = export_rows(protocols, root)
        path = write_csv(rows, out)
        note = f"; no store yet for {len(missing)}: {', '.join(missing)}" if missing else ""
        return f"wrote {len(rows)} atlas row(s) to {path}{note}"
    if action == "figure":
        if len(files) != 1:
            raise ConfigError("rlsub atlas figure takes one atlas CSV")
        draw_figure(read_csv(files[0]), out)
        return f"figure written: {out}"
    raise ConfigError(f"unknown atlas action {action!r}; choose export or figure")
