"""Solution artifacts: (trial config, policy spec, D, d, seed, θ_d, metrics) as JSON + npz.

P and θ_0 are not stored: both are rebuilt from the spec and the seed, which is what makes a
solution a compression of the network by D/d. No pickle anywhere: the JSON is plain data and the
npz is read with ``allow_pickle=False``; a SHA-256 of the npz guards against corruption.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlsub.errors import SolutionError

FORMAT = "rlsub-solution/1"


@dataclass
class Solution:
    """A loaded solution: everything needed to rebuild and re-evaluate the policy."""

    config: dict[str, Any]
    policy: dict[str, Any] | None
    D: int
    d: int
    projection: str
    seed: int
    theta_d: np.ndarray
    metrics: dict[str, Any]
    path: Path
    extra: dict[str, Any] | None = None
    """What the policy needs beyond θ_d at run time, e.g. frozen observation statistics."""

    @property
    def compression(self) -> float:
        return self.D / self.d


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_solution(
    path: str | os.PathLike,
    *,
    config: dict[str, Any],
    policy: dict[str, Any] | None,
    D: int,
    d: int,
    projection: str,
    seed: int,
    theta_d: np.ndarray,
    metrics: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``path`` (.json) and its θ_d file (.npz beside it), each atomically; returns the JSON path."""
    path = Path(path).with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, theta_d=np.asarray(theta_d, dtype=np.float32))
    blob = buf.getvalue()
    npz = path.with_suffix(".npz")
    _atomic_write(npz, blob)
    doc = {
        "format": FORMAT,
        "config": config,
        "policy": policy,
        "D": int(D),
        "d": int(d),
        "projection": projection,
        "seed": int(seed),
        "compression": D / d,
        "theta_file": npz.name,
        "theta_sha256": hashlib.sha256(blob).hexdigest(),
        "metrics": metrics,
        "extra": extra or {},
    }
    _atomic_write(path, json.dumps(doc, indent=2, sort_keys=True, default=float).encode())
    return path


def load_solution(path: str | os.PathLike) -> Solution:
    """Read and validate a solution; any problem raises SolutionError with one clear line."""
    path = Path(path)
    if path.suffix == ".npz":
        path = path.with_suffix(".json")
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise SolutionError(f"solution file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SolutionError(f"solution file {path} is not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SolutionError(f"{path} is not an rlsub solution (expected format {FORMAT!r})")
    try:
        D, d, seed = int(doc["D"]), int(doc["d"]), int(doc["seed"])
        npz = path.parent / str(doc["theta_file"])
        sha = str(doc["theta_sha256"])
        config, projection = dict(doc["config"]), str(doc["projection"])
    except (KeyError, TypeError, ValueError) as e:
        raise SolutionError(f"solution file {path} is missing or has a bad field: {e}") from None
    try:
        blob = npz.read_bytes()
    except OSError:
        raise SolutionError(f"solution file {path}: its θ_d file {npz} is missing") from None
    if hashlib.sha256(blob).hexdigest() != sha:
        raise SolutionError(f"solution file {path}: θ_d file {npz.name} is corrupted (checksum mismatch)")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            theta = np.asarray(z["theta_d"], dtype=np.float32)
    except (ValueError, KeyError, OSError) as e:
        raise SolutionError(f"solution file {path}: cannot read θ_d from {npz.name}: {e}") from None
    if theta.shape != (d,) or not np.all(np.isfinite(theta)):
        raise SolutionError(f"solution file {path}: θ_d has shape {theta.shape} (expected ({d},)) or non-finite values")
    extra = doc.get("extra") or {}
    if not isinstance(extra, dict):
        raise SolutionError(f"solution file {path}: 'extra' must be an object")
    return Solution(config, doc.get("policy"), D, d, projection, seed, theta, dict(doc.get("metrics", {})), path,
                    extra)
