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

``run_protocol`` runs a row's sweep and records its CPU time, ``export_rows`` turns the protocols'
stores into ``atlas.csv`` rows, ``rlsub.atlas_figure.draw_figure`` redraws the figure from the CSV alone.
"""

from __future__ import annotations

import csv
import json
import math
import os
import resource
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rlsub.atlas_figure import FAMILIES, draw_figure
from rlsub.dint import DintResult, compute_dint
from rlsub.errors import ConfigError
from rlsub.store import Store, TrialRow
from rlsub.sweep import SweepSpec, load_sweep_config, run_sweep

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

EXPECT = ("reach", "under-trained", "unknown")
_REQUIRED = {"family", "network", "reference_source", "cpu_hours", "expect"}
_OPTIONAL = {"reference", "linear_params", "needs"}
THRESHOLD = 0.9
INF = math.inf


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
    return Protocol(path, spec, opts, table["family"], str(table["network"]), None if ref is None else float(ref),
                    str(table["reference_source"]), float(hours), table["expect"], lin, str(table.get("needs", "")))


def check_protocol(p: Protocol, min_seeds: int = 5) -> None:
    """The atlas's rules for a protocol: ≥ ``min_seeds`` seeds, a baseline, a grid of powers of 2,
    ES with observation normalisation for vector-observation RL rows, a store under atlas/stores/."""
    where = p.path
    if len(p.spec.seeds) < min_seeds:
        raise ConfigError(f"{where}: {len(p.spec.seeds)} seeds; the atlas needs at least {min_seeds}")
    if None not in p.spec.dims:
        raise ConfigError(f"{where}: dims need 'full' (the full-space baseline)")
    grid = [d for d in p.spec.dims if d is not None]
    if grid != sorted(grid) or any(d & (d - 1) for d in grid):
        raise ConfigError(f"{where}: dims must be increasing powers of 2, got {grid}")
    if p.family not in ("supervised", "minatar"):
        if "es" not in p.spec.methods or not p.spec.params.get("es", {}).get("obs_norm"):
            raise ConfigError(f"{where}: RL rows run ES with observation normalisation ([sweep.params.es] obs_norm = true)")
    if p.family == "mujoco" and p.linear_params is None:
        raise ConfigError(f"{where}: mujoco rows give linear_params (obs × act + act)")
    if p.store != f"atlas/stores/{p.row}":
        raise ConfigError(f"{where}: out must be 'atlas/stores/{p.row}', got {p.store!r}")
    p.spec.validate()


# -- running a row, with its CPU time ------------------------------------------------------------
CPU_FILE = "atlas_cpu.json"


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the sweep's worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def recorded_cpu_seconds(store_dir: str | os.PathLike) -> float | None:
    """CPU seconds ``run_protocol`` has recorded for this store over all its runs (None: none recorded)."""
    path = Path(store_dir) / CPU_FILE
    if not path.exists():
        return None
    try:
        return float(json.loads(path.read_text())["cpu_seconds"])
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is corrupted ({e}); delete it to record CPU time afresh") from None


def run_protocol(p: Protocol, root: str | os.PathLike = ".", workers: int | None = None,
                 progress: bool = True) -> dict[str, int]:
    """Run (or resume) a protocol's sweep and add the CPU time it took to its store's record.

    Trials' own ``wall_time`` cannot give CPU hours: direct-search trials run in lockstep, so
    each one's wall time includes the trials it ran beside. Processes' CPU time can.
    """
    check_protocol(p)
    store_dir = Path(root) / p.store
    before = _cpu_seconds()
    try:
        return run_sweep(p.spec, store_dir, workers=workers or p.opts.get("workers"), progress=progress,
                         data_dir=p.opts.get("data_dir"))
    finally:  # an interrupted run still counts what it spent (its finished trials are stored)
        spent = _cpu_seconds() - before
        if (store_dir / "results.sqlite").exists():
            total = (recorded_cpu_seconds(store_dir) or 0.0) + spent
            tmp = store_dir / (CPU_FILE + ".tmp")
            tmp.write_text(json.dumps({"cpu_seconds": round(total, 3)}) + "\n")
            tmp.replace(store_dir / CPU_FILE)


# -- the CSV -----------------------------------------------------------------------------------
@dataclass
class AtlasRow:
    """One line of atlas.csv (``inf``: not reached within the grid)."""

    env: str
    family: str
    method: str
    network: str
    D: int
    budget: int | None
    seeds: int
    baseline: float
    baseline_source: str
    reference: float | None
    reference_source: str
    baseline_ok: bool | None
    dint90: float
    ci_lo: float
    ci_hi: float
    grid_dint90: float
    cpu_hours: float
    protocol: str
    command: str
    linear_params: int | None
    d_max: int
    """The largest d the grid tested (where the figure draws 'not reached')."""


COLUMNS = [f.name for f in fields(AtlasRow)]


@dataclass(frozen=True)
class Estimate:
    dint90: float
    ci_lo: float
    ci_hi: float
    grid_dint90: float


def estimate(result: DintResult) -> Estimate:
    """d_int90, its CI and the grid's d_int90 for one experiment: the one place the atlas computes
    them. The estimate and CI are ``rlsub.estimate``'s (the crossing of an isotonic fit in ln d, its
    calibrated bootstrap CI; ``inf`` beyond the largest tested d); the grid value is the paper's."""
    grid = float(result.dint) if result.dint is not None else INF
    est = float(result.estimate) if result.estimate is not None else INF
    lo, hi = result.estimate_ci or (None, None)
    return Estimate(est, float(lo) if lo is not None else INF, float(hi) if hi is not None else INF, grid)


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
    """The atlas rows of one protocol's trials: one per (env, method) experiment.

    ``cpu_seconds`` (the store's recorded total) is shared out between the experiments in
    proportion to their trials' wall time; None leaves ``cpu_hours`` unknown (NaN)."""
    out = []
    walls = {}
    for t in trials:
        walls[t.fingerprint] = walls.get(t.fingerprint, 0.0) + (t.wall_time or 0.0)
    for r in compute_dint(trials, threshold=THRESHOLD):
        est = estimate(r)
        share = walls.get(r.fingerprint, 0.0) / (sum(walls.values()) or 1.0)
        hours = cpu_seconds * share / 3600 if cpu_seconds is not None else math.nan
        base = r.baseline.value
        out.append(AtlasRow(
            env=r.env, family=p.family, method=r.method, network=r.network, D=r.D,
            budget=r.experiment.get("budget", p.spec.budget), seeds=r.seeds, baseline=base,
            baseline_source=r.baseline.describe(), reference=p.reference, reference_source=p.reference_source,
            baseline_ok=baseline_ok(base, p.reference), dint90=est.dint90, ci_lo=est.ci_lo, ci_hi=est.ci_hi,
            grid_dint90=est.grid_dint90, cpu_hours=round(hours, 4), protocol=p.path.as_posix(), command=p.command,
            linear_params=p.linear_params, d_max=r.dims[-1].d,
        ))
    return out


def write_csv(rows: list[AtlasRow], path: str | os.PathLike) -> Path:
    """Write ``rows`` to ``path`` (atomically: a crash leaves the old file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow({k: _cell(getattr(row, k)) for k in COLUMNS})
    tmp.replace(path)
    return path


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return v


def read_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """atlas.csv back as dicts with numbers parsed (``inf`` as math.inf, empty as None)."""
    try:
        with Path(path).open(newline="") as f:
            raw = list(csv.DictReader(f))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    numeric = {"D", "budget", "seeds", "baseline", "reference", "dint90", "ci_lo", "ci_hi", "grid_dint90", "cpu_hours",
               "linear_params", "d_max"}
    out = []
    for r in raw:
        if set(COLUMNS) - set(r):
            raise ConfigError(f"{path}: not an atlas CSV (missing columns {sorted(set(COLUMNS) - set(r))})")
        row: dict[str, Any] = dict(r)
        for k in numeric:
            row[k] = None if r[k] == "" else float(r[k])
        row["baseline_ok"] = {"True": True, "False": False}.get(r["baseline_ok"])
        out.append(row)
    return out


def run_command(action: str, files: list[str], out: str | None, root: str = ".", workers: int | None = None) -> str:
    """``rlsub atlas run PROTOCOL...``, ``rlsub atlas export PROTOCOL... --out atlas.csv``,
    ``rlsub atlas figure atlas.csv --out atlas.png``."""
    if action == "run":
        protocols = [load_protocol(f) for f in files]  # every file checked before any trial runs
        for p in protocols:
            check_protocol(p)
        lines = []
        for p in protocols:
            c = run_protocol(p, root, workers)
            lines.append(f"{p.row}: {c['total']} trials, {c['skipped']} already stored, {c['done']} done, "
                         f"{c['failed']} failed, {c['crashed']} crashed")
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
