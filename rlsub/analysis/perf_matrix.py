"""The ``[seed, d]`` performance matrix every d_int statistic reads: validation and NaN-aware means.

NaN in a matrix means "this seed has no trial at this d"; a seed with no value anywhere is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Below this many seeds a CI is reported but flagged: it rests on too few curves.
MIN_SEEDS = 5


def as_matrix(perf: np.ndarray, dims: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``perf[seed, d]`` against ``dims``; return (matrix, dims) with dims ascending."""
    m = np.asarray(perf, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"perf must be a [seed, d] matrix, got shape {m.shape}")
    ds = np.asarray(dims, dtype=np.int64)
    if ds.ndim != 1 or len(ds) != m.shape[1]:
        raise ValueError(f"dims has {len(ds)} entries but perf has {m.shape[1]} columns")
    if len(ds) == 0:
        raise ValueError("no dims given")
    if len(np.unique(ds)) != len(ds):
        raise ValueError(f"dims must be distinct, got {ds.tolist()}")
    if np.any(ds < 1):
        raise ValueError(f"dims must be >= 1, got {ds.tolist()}")
    order = np.argsort(ds, kind="stable")
    m, ds = m[:, order], ds[order]
    # A seed with no value at any d carries no information; drop it rather than let it count as a curve.
    keep = ~np.all(np.isnan(m), axis=1)
    return m[keep], ds


def nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` ignoring NaN; NaN where every value is missing (no RuntimeWarning)."""
    ok = ~np.isnan(values)
    n = ok.sum(axis=axis)
    s = np.where(ok, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def few_seeds_note(ds: np.ndarray, per_d: np.ndarray, min_seeds: int) -> str | None:
    """The words flagging a CI that rests on fewer than ``min_seeds`` seeds at some d (None when none)."""
    if per_d.min() >= min_seeds:
        return None
    thin = [int(d) for d, n in zip(ds, per_d) if n < min_seeds]
    return (f"CI rests on fewer than {min_seeds} seeds at d = {', '.join(map(str, thin))} "
            f"(min {int(per_d.min())}): treat it as indicative only")
