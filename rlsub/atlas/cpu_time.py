"""The CPU time an atlas row's runs spent, kept beside its store (``atlas_cpu.json``)."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

from rlsub.errors import ConfigError

CPU_FILE = "atlas_cpu.json"
__all__ = ["CPU_FILE", "CpuRecord", "recorded_cpu_seconds"]


def _own_cpu_seconds() -> float:
    """User + system CPU of this process and its reaped children. Pool workers forked by the fork
    server are not among them: ``run_sweep`` reports theirs (``on_cpu``); the server's own one-off
    import (~2 CPU-s) is not counted."""
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


class CpuRecord:
    """One run's CPU added to the store's record: this process's since it was made, plus each pool
    unit's (``worker``). ``save`` rewrites the file whole, so call it as often as a kill could come."""

    def __init__(self, store_dir: str | os.PathLike) -> None:
        self.dir = Path(store_dir)
        self.before = recorded_cpu_seconds(self.dir) or 0.0
        self.start = _own_cpu_seconds()
        self.workers = 0.0

    def worker(self, spent: float) -> None:
        """A pool unit's CPU seconds (``run_sweep``'s ``on_cpu``), saved at once."""
        self.workers += spent
        self.save()

    def save(self) -> None:
        if not (self.dir / "results.sqlite").exists():  # nothing ran, nothing to cost
            return
        total = self.before + _own_cpu_seconds() - self.start + self.workers
        tmp = self.dir / (CPU_FILE + ".tmp")
        tmp.write_text(json.dumps({"cpu_seconds": round(total, 3)}) + "\n")
        tmp.replace(self.dir / CPU_FILE)
