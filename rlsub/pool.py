"""Where a sweep's worker processes come from: forked from one server process that has imported
rlsub, torch, pycma and numba once, instead of each spawned worker importing them itself (~2–3 s of
a worker's start-up on a 2-core machine).

The server (``multiprocessing``'s fork server) is a fresh interpreter, not a fork of the driver: a
worker sees what a spawned one sees, so a TOML file's env registrations still travel with each trial's
config. ``start_early()`` lets it import while the driver is still importing and planning; on platforms
without a fork server the workers are spawned as before. This module imports nothing heavy, so the
command line can call it before importing torch.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.context import BaseContext

#: Imported by the fork server before it forks any worker (``rlsub.preload``).
PRELOAD = ["rlsub.preload"]


def pool_context() -> BaseContext:
    """The multiprocessing context of a sweep's worker pool: the fork server, preloaded, else spawn."""
    if "forkserver" not in mp.get_all_start_methods():  # pragma: no cover - Windows
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)  # read when the server starts; a running server keeps its own
    return ctx


def start_early() -> None:
    """Start the fork server now (it imports in parallel with this process); a no-op where there is none."""
    if "forkserver" in mp.get_all_start_methods():
        from multiprocessing import forkserver

        pool_context()
        forkserver.ensure_running()


__all__ = ["PRELOAD", "pool_context", "start_early"]
