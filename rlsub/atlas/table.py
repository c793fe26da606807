"""atlas.csv: one row per (env, method), written atomically and read back with its numbers parsed."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rlsub.errors import ConfigError


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
    d_max: int | None
    """The largest d the grid tested (where the figure draws 'not reached'; None: no grid run)."""
    note: str = ""
    """Why the row has no d_int (grid not run, baseline below reference) or how its budget was chosen."""
    d50: float = math.nan
    """The success dimension: d where P(a seed reaches 90% of the baseline) = 1/2, from a fitted curve
    (``rlsub.analysis.success_fit``); what the figure ranks by. ``d50_lo``/``d50_hi``: its 90% CI."""
    d50_lo: float = math.nan
    d50_hi: float = math.nan
    dint90_model: str = ""
    """Which model gave ``dint90`` and its CI: 'mixture', 'smooth' (fitted curves) or 'monotone' (isotonic)."""


COLUMNS = [f.name for f in fields(AtlasRow)]
#: Columns added after the first atlas.csv, with what an older CSV reads as (no d50 there: NaN).
LATER = {"note": "", "d50": "nan", "d50_lo": "nan", "d50_hi": "nan", "dint90_model": ""}


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
               "linear_params", "d_max", "d50", "d50_lo", "d50_hi"}
    out = []
    for r in raw:
        if lacking := set(COLUMNS) - set(LATER) - set(r):  # columns that came later: older CSVs still read
            raise ConfigError(f"{path}: not an atlas CSV (missing columns {sorted(lacking)})")
        row: dict[str, Any] = {**LATER, **r}
        for k in numeric:
            row[k] = None if row[k] == "" else float(row[k])
        row["baseline_ok"] = {"True": True, "False": False}.get(r["baseline_ok"])
        out.append(row)
    return out
