"""Shared helpers of the benchmarks: interleaved timing, result records, the printed table, JSON.

The machine these run on is shared and noisy, so every comparison is measured in the same run
with the variants *interleaved* round by round (load hits all of them alike), and the reported
figure is the median of the rounds. Ratios, not absolute times, are the result.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class Result:
    """One comparison: ``value`` of the optimised path against ``baseline`` (same unit).

    ``ratio`` is how many times better ours is (time: baseline/value; rate: value/baseline).
    """

    bench: str
    case: str
    metric: str
    unit: str
    value: float | None
    baseline_name: str = ""
    baseline: float | None = None
    higher_is_better: bool = False
    target: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline is None or self.value == 0 or self.baseline == 0:
            return None
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def set_threads(threads: int) -> int:
    """Fix torch's intra-op threads (1 by default: on a shared 2-core box it gives stable ratios)."""
    torch.set_num_threads(threads)
    return torch.get_num_threads()


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int, warmup: bool = True) -> dict[str, float]:
    """Median seconds per call of each fn, calling them round-robin ``rounds`` times.

    ``warmup`` makes one untimed call each first (allocator, caches, lazy init).
    """
    if warmup:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, rounds)):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def skipped(bench: str, case: str, why: str) -> Result:
    """A result row for something not measured (printed as 'skipped: why')."""
    print(f"  skipped [{bench} {case}]: {why}", flush=True)
    return Result(bench, case, "skipped", "", None, note=f"skipped: {why}")


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "ms":
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"
    if unit in ("steps/s", "B"):
        return f"{v:,.0f}"
    return f"{v:.3g}"


def print_table(results: list[Result]) -> None:
    """Every ratio with the baseline figure beside it."""
    rows = [("bench", "case", "metric", "ours", "baseline", "base", "ratio", "target")]
    for r in results:
        ratio = r.ratio
        rows.append(
            (
                r.bench,
                r.case,
                r.metric if r.value is not None else r.note,
                f"{fmt(r.value, r.unit)} {r.unit}" if r.value is not None else "",
                r.baseline_name,
                f"{fmt(r.baseline, r.unit)} {r.unit}" if r.baseline is not None else "",
                f"{ratio:.2f}x" if ratio is not None else "",
                ("" if r.target is None else (f">={r.target:g}x " + ("ok" if ratio is not None and ratio >= r.target else "MISS"))),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for r in results:
        if r.value is not None and r.note:
            print(f"note [{r.bench} {r.case}, {r.metric}]: {r.note}")


def machine_info(threads: int) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "cuda": torch.cuda.is_available(),
        "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_json(path: str, results: list[Result], info: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump({"machine": info, "results": [r.to_dict() for r in results]}, f, indent=1)
        f.write("\n")


def standard_arguments(p) -> None:
    """``--quick``, ``--threads`` and ``--json``, as every benchmark script takes them."""
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: stable on a shared box)")
    p.add_argument("--json", help="write the results here")


def bench_main(doc: str, add_arguments: Callable[[Any], None], run: Callable[[Any], list[Result]],
               argv: list[str] | None = None) -> int:
    """Command-line entry of one benchmark script: parse, set threads, run, print, optionally write JSON."""
    import argparse

    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    results = run(args)
    print_table(results)
    if args.json:
        write_json(args.json, results, machine_info(threads))
    return 0


def raw_rate(make, n: int, iters: int) -> float:
    """Env steps/s of the vector env ``make(n)`` alone at batch n, random actions drawn beforehand."""
    env = make(n)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, (iters, n))
    t = time.perf_counter()
    for a in actions:
        env.step(a)
    dt = time.perf_counter() - t
    env.close()
    return n * iters / dt
