"""Where a sweep's trials run. Worker processes are forked from one server process that has imported
rlsub, torch, pycma and numba once (and loaded numba's cached kernels), instead of each spawned worker
importing them itself (~2–3 s of a worker's start-up on a 2-core machine); a tiny in-process sweep runs
the kernels' numpy forms rather than import numba at all.

The server (``multiprocessing``'s fork server) is a fresh interpreter, not a fork of the driver: a
worker sees what a spawned one sees, so a TOML file's env registrations still travel with each trial's
config. ``start_early()`` lets it import while the driver is still importing and planning; on platforms
without a fork server the workers are spawned as before. This module imports nothing heavy, so the
command line can call it before importing torch.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from collections.abc import Sequence
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING

from rlsub.kernels.lazy_jit import numpy_forms

if TYPE_CHECKING:
    from rlsub.trial import TrialConfig

#: Imported by the fork server before it forks any worker (``rlsub.sweeps.worker_preload``).
PRELOAD = ["rlsub.sweeps.worker_preload"]


#: An in-process sweep of at most this many training env steps in all runs the compiled kernels' numpy
#: forms (the same bits): importing numba and loading its cached kernels takes ~0.5–1 s, more than the
#: compiled loops save on a few thousand CartPole steps (one 2,000-step CMA-ES trial: ~0.8 s less wall).
SMALL_SWEEP_STEPS = 5000


def in_process_kernels(units: Sequence[Sequence[TrialConfig]]) -> contextlib.AbstractContextManager:
    """The context an in-process sweep runs ``units`` in: [`rlsub.kernels.lazy_jit.numpy_forms()`][rlsub.kernels.lazy_jit.numpy_forms] when their budgets
    are known and sum to at most ``SMALL_SWEEP_STEPS``, else none (the compiled kernels)."""
    budgets = [c.budget for unit in units for c in unit]
    small = all(b is not None for b in budgets) and sum(budgets) <= SMALL_SWEEP_STEPS
    return numpy_forms() if small else contextlib.nullcontext()


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


__all__ = ["PRELOAD", "SMALL_SWEEP_STEPS", "in_process_kernels", "pool_context", "start_early"]
