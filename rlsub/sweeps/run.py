"""Sweeps over env × method × projection × d × seed, resumable, run in parallel processes.

Each finished trial is committed to the store by the main process as soon as it arrives; a
rerun of the same sweep skips every stored trial, so killing a sweep (even with SIGKILL) loses
only the trials that were still running.
"""

from __future__ import annotations

import logging
import os
import queue
import resource
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

from rlsub.errors import ConfigError, RlsubError
from rlsub.execution.ray_backend import cluster_cpus, ray_session, run_trials
from rlsub.execution.runner import commit, execute_group_safely
from rlsub.execution.worker_pool import in_process_kernels, pool_context
from rlsub.results.store import Store
from rlsub.supervised.datasets import DATA_DIR_ENV
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.spec import SweepSpec
from rlsub.tasks import resolve_task
from rlsub.tasks.lockstep import group_for_lockstep, lockstep_key
from rlsub.trial import TrialConfig
from rlsub.utils.console import plain_warnings

log = logging.getLogger(__name__)

def plan_units(todo: list[TrialConfig], batch_seeds: int, groups: int, lockstep: bool = True) -> list[list[TrialConfig]]:
    """Units of work, each run by one worker through ``Task.run_stream``: the direct-search trials
    of one task and network in ``groups`` lockstep groups (one batched computation per worker,
    [`rlsub.tasks.lockstep`][rlsub.tasks.lockstep]), the rest as ``group_trials`` makes them."""
    if not lockstep:
        return group_trials(todo, batch_seeds)
    together = [c for c in todo if lockstep_key(c) is not None]
    rest = [c for c in todo if lockstep_key(c) is None]
    return group_for_lockstep(together, groups=groups) + group_trials(rest, batch_seeds)


def group_trials(todo: list[TrialConfig], batch_seeds: int) -> list[list[TrialConfig]]:
    """Units of work: trials differing only in seed in groups of up to ``batch_seeds`` (in the order
    of their first trial) where the task trains seeds together, every other trial alone."""
    if batch_seeds <= 1:
        return [[c] for c in todo]
    groups: dict[str, list[list[TrialConfig]]] = {}
    units: list[list[TrialConfig]] = []
    batches: dict[str, bool] = {}  # per env: resolving a plug-in builds and checks its env
    for cfg in todo:
        if cfg.env not in batches:
            batches[cfg.env] = resolve_task(cfg.env, cfg.env_def).batches_seeds
        if not batches[cfg.env]:
            units.append([cfg])
            continue
        chunks = groups.setdefault(replace(cfg, seed=0).key(), [])
        if not chunks or len(chunks[-1]) >= batch_seeds:
            chunks.append([])
            units.append(chunks[-1])
        chunks[-1].append(cfg)
    return units


#: A pool worker's channel back to the driver: (unit, index in unit, outcome) as each trial finishes.
_RESULTS: Any = None


def _init_worker(results: Any = None, kill: bool = False, driver: int | None = None) -> None:
    import torch

    global _RESULTS
    _RESULTS = results
    if kill:  # tests: simulate a worker killed by the OS
        os.kill(os.getpid(), 9)
    if driver is not None:
        threading.Thread(target=_exit_with, args=(driver,), daemon=True).start()

    # One torch thread per worker: the workers already use every core.
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    plain_warnings()
    try:  # BLAS threads too: pycma's small eigendecompositions slow down under oversubscription
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - speed only
        pass


def _exit_with(driver: int, every: float = 1.0) -> None:
    """End this worker once the driver is gone (killed with -9, say): a forked worker's parent is the fork
    server, and its queues never reach end-of-file, so nothing else would end it."""
    while True:
        time.sleep(every)
        try:
            os.kill(driver, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # pragma: no cover - the pid was reused by another user's process
            os._exit(1)


#: CPU seconds this worker has already reported (``_run_unit``).
_CPU_REPORTED = 0.0


def _run_unit(unit: list[TrialConfig], data_dir: str | None, uid: int) -> float:
    """Pool worker: run a unit, sending each trial's outcome to the driver the moment it finishes.
    Returns the CPU seconds this worker spent since its last report (its start-up included): forked
    workers are the fork server's children, so the driver's own rusage never sees them."""
    global _CPU_REPORTED
    execute_group_safely(unit, data_dir, emit=lambda i, row: _RESULTS.put((uid, i, row)))
    use = resource.getrusage(resource.RUSAGE_SELF)
    spent, _CPU_REPORTED = use.ru_utime + use.ru_stime - _CPU_REPORTED, use.ru_utime + use.ru_stime
    return spent


def run_sweep(
    spec: SweepSpec,
    out_dir: str | os.PathLike,
    workers: int | None = None,
    progress: bool = True,
    data_dir: str | None = None,
    on_result: Callable[[dict], None] | None = None,
    backend: str = "local",
    address: str | None = None,
    ray_options: dict[str, Any] | None = None,
    lockstep: bool = True,
    notify: Callable[[str], None] | None = None,
    on_cpu: Callable[[float], None] | None = None,
) -> dict[str, int]:
    """Run every trial of ``spec`` not yet in ``out_dir``'s store; returns counts.

    ``workers`` processes run trials in parallel (default: all cores); 1 runs them in-process.
    Direct-search trials run in lockstep, one batched computation per worker (``lockstep=False``:
    one trial at a time; the stored results are the same). Each trial is stored the moment it
    finishes, so a killed sweep loses only unfinished trials.
    ``backend="ray"`` runs the trials as Ray tasks instead (on the cluster at ``address``, else a
    local Ray), see [`rlsub.execution.ray_backend.run_trials`][rlsub.execution.ray_backend.run_trials] (``ray_options`` are passed to it).
    ``notify`` gets ``SweepPlan.projection_notes``' lines before any trial runs (default: logged at INFO).
    ``on_cpu`` gets the CPU seconds each pool worker spent on each unit (in-process trials are the
    caller's own CPU time; Ray's workers are not counted).
    """
    if backend not in ("local", "ray"):
        raise ConfigError(f"unknown backend {backend!r}; choose local or ray")
    ray_workers = workers  # --- ray backend hook: None lets Ray use every cluster CPU
    plan = plan_sweep(spec)  # every typo fails here, before the store exists
    out_dir = Path(out_dir)
    store = Store(out_dir)
    trials = plan.trials
    for line in plan.projection_notes(store):
        (notify or log.info)(line)
    done = store.keys()
    todo = [t for t in trials if t.key() not in done]
    workers = max(1, workers or os.cpu_count() or 1)
    if backend == "ray":  # --- ray backend hook: a lockstep group per Ray task, sized by the cluster later
        units = plan_units(todo, spec.batch_seeds, ray_workers or 0, lockstep) if ray_workers else None
    else:
        units = plan_units(todo, spec.batch_seeds, workers, lockstep)
    counts = {"total": len(trials), "skipped": len(trials) - len(todo), "done": 0, "failed": 0, "crashed": 0}
    bar = _progress(len(trials), counts["skipped"], progress)

    def record(cfg: TrialConfig, result: dict) -> None:
        if "crash" in result:
            if result.get("config_error"):
                raise ConfigError(result["crash"])
            counts["crashed"] += 1
            print(f"rlsub: trial {cfg.env} {cfg.method} d={cfg.dim or 'full'} seed={cfg.seed} crashed: {result['crash']}",
                  file=sys.stderr)
            log.debug(result.get("traceback", ""))
        else:
            row = commit(store, out_dir, cfg, result)  # this process is the only writer
            counts[row["status"]] += 1
            if on_result:
                on_result(row)
        bar.update(1)

    try:
        if backend == "ray" and todo:  # --- ray backend hook: this process stays the only store writer
            with ray_session(address):  # workers return θ_d and the row; nothing is written remotely
                units = units or plan_units(todo, spec.batch_seeds, cluster_cpus(), lockstep)
                run_trials([u if len(u) > 1 else u[0] for u in units], data_dir and str(Path(data_dir).resolve()), record,
                           workers=ray_workers,
                           **(ray_options or {}))
        elif workers == 1 or len(units) <= 1:
            with in_process_kernels(units):
                for unit in units:
                    execute_group_safely(unit, data_dir, emit=lambda i, row, unit=unit: record(unit[i], row))
        else:
            ctx = pool_context()
            results = ctx.Queue()
            # The driver's environment, read now: forked workers see the fork server's, from when it started.
            kill = bool(os.environ.get("RLSUB_TEST_KILL_WORKER"))
            data_dir = data_dir or os.environ.get(DATA_DIR_ENV)
            with ProcessPoolExecutor(max_workers=min(workers, len(units)), mp_context=ctx, initializer=_init_worker,
                                     initargs=(results, kill, os.getpid())) as pool:
                pending = {pool.submit(_run_unit, unit, data_dir, uid): uid for uid, unit in enumerate(units)}
                left = sum(len(u) for u in units)
                try:
                    while left:
                        try:
                            uid, i, row = results.get(timeout=0.2)
                        except queue.Empty:
                            for fut in [f for f in pending if f.done()]:
                                pending.pop(fut)
                                spent = fut.result()  # a worker that died raises BrokenProcessPool here
                                if on_cpu:
                                    on_cpu(spent)
                            continue
                        left -= 1
                        record(units[uid][i], row)
                    for fut in pending:  # the units that finished after their last trial was read
                        spent = fut.result()
                        if on_cpu:
                            on_cpu(spent)
                except BrokenProcessPool:
                    raise RlsubError(
                        f"a worker process died (killed, or out of memory?); {counts['done'] + counts['failed']} "
                        "trials finished and are stored: rerun the same sweep to resume"
                    ) from None
                except BaseException:
                    for fut in pending:
                        fut.cancel()
                    raise
    finally:
        bar.close()
        store.close()
    return counts


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="trials", unit="trial", disable=not enabled, file=sys.stderr)


__all__ = ["group_trials", "plan_units", "run_sweep"]
