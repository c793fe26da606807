"""Run trials and persist them.

``execute`` runs a trial wherever it is called (this process, a pool worker, a Ray task) and
returns its *outcome*: the complete store row plus the solution (θ_d and metadata) as plain data.
It never writes a file. ``commit`` — called only by the process that owns the output directory —
writes the solution artifact and then the store row, so a cluster without a shared disk works and
the store has exactly one writer.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rlsub.errors import ConfigError, NonFiniteReturn
from rlsub.results.store import Store
from rlsub.solution import save_solution
from rlsub.tasks import resolve_task
from rlsub.tasks.base import RANDOM_FLOOR, Task
from rlsub.trial import TrialConfig, TrialResult

log = logging.getLogger(__name__)


def describe(config: TrialConfig, task: Task) -> dict[str, Any]:
    """The row fields known before a trial runs: what it is and how its performance is normalised."""
    norm = task.normalisation()
    return dict(
        env=config.env, kind=task.kind, method=config.method, projection=config.projection_name,
        seed=config.seed, config=config.to_dict(), fingerprint=config.fingerprint(),
        network=task.network_label(config.hidden, config.family, config.init), measure=norm.measure,
        r_low=norm.low, r_low_source=norm.low_source, r_best=norm.best, r_best_source=norm.best_source,
        solved=norm.solved, is_full=config.is_full,
    )


def execute(config: TrialConfig, data_dir: str | None = None) -> dict[str, Any]:
    """Run ``config``; returns its outcome (row ``status`` ``done`` or ``failed``).

    Configuration errors propagate (the whole sweep is wrong); a trial whose environment returns
    NaN/inf is recorded as failed with the reason, so reruns skip it and reports can show it.
    """
    return execute_group([config], data_dir)[0]


def execute_stream(configs: list[TrialConfig], data_dir: str | None = None) -> Iterator[tuple[TrialConfig, dict[str, Any]]]:
    """Outcomes of ``configs`` (trials of one task), run together where the task can
    (``Task.run_stream``: direct search in lockstep, supervised seeds stacked), each yielded as soon
    as its trial finishes."""
    task = resolve_task(configs[0].env, configs[0].env_def)
    for config in configs:  # a row must not claim a protocol revision it did not run
        if config.revision != task.revision:
            raise ConfigError(f"trial {config.key()} was planned for revision {config.revision} of {config.env}'s "
                              f"protocol, this rlsub runs revision {task.revision}: plan it again (rlsub run/sweep do)")
    for config, result in task.run_stream(list(configs), data_dir):
        yield config, (_failed(config, task, result) if isinstance(result, NonFiniteReturn)
                       else outcome(config, task, result))


def execute_group(configs: list[TrialConfig], data_dir: str | None = None) -> list[dict[str, Any]]:
    """``execute_stream`` collected, in the order of ``configs``."""
    done = {c.key(): row for c, row in execute_stream(configs, data_dir)}
    return [done[c.key()] for c in configs]


def _failed(config: TrialConfig, task: Task, error: Exception) -> dict[str, Any]:
    log.warning("trial %s failed: %s", config.key(), error)
    return {**describe(config, task), "d": config.dim or 0, "D": 0, "moved": 0, "status": "failed", "error": str(error)}


def outcome(config: TrialConfig, task: Task, result: TrialResult) -> dict[str, Any]:
    """The store row of a finished trial, with its solution under ``"solution"`` (not yet written)."""
    row = describe(config, task)
    if result.measure is not None:
        row["measure"] = result.measure
    if row["r_low"] is None:
        row.update(r_low=result.floor, r_low_source=RANDOM_FLOOR if result.floor is not None else "none")
    spec = result.info.pop("policy_spec", None)
    solution = dict(
        config=config.to_dict(), policy=spec, D=result.D, d=result.d, projection=config.projection_name,
        seed=config.seed, theta_d=result.theta_d,
        metrics={"final_mean": result.final_mean, "final_std": result.final_std,
                 "final_returns": result.final_returns, "env_steps": result.env_steps, "measure": row["measure"],
                 # outputs at θ_d on fixed inputs, where the method records them: rlsub replay compares
                 **({"probe": result.info["probe"]} if result.info.get("probe") is not None else {})},
        extra={k: result.info[k] for k in ("obs_norm",) if result.info.get(k) is not None},
    )
    return {
        **row, "d": result.d, "D": result.D, "moved": result.moved if result.moved is not None else result.d,
        "status": "done", "final_returns": result.final_returns, "env_steps": result.env_steps,
        "wall_time": result.wall_time, "info": result.info, "curve": result.curve, "solution": solution,
    }


def commit(store: Store, out_dir: str | Path, config: TrialConfig, result: dict[str, Any]) -> dict[str, Any]:
    """Write a trial's solution artifact, then its store row (one transaction); returns the row."""
    row = dict(result)
    solution = row.pop("solution", None)
    if solution is not None:
        out_dir = Path(out_dir)
        path = save_solution(out_dir / "solutions" / config.key(), **solution)
        row["artifact"] = str(path.relative_to(out_dir)) if path.is_relative_to(out_dir) else str(path)
    store.add(config.key(), **row)
    return row


def execute_safely(config: TrialConfig, data_dir: str | None = None) -> dict[str, Any]:
    """Worker entry point: like ``execute`` but returns unexpected crashes as a ``crash`` outcome.

    The sweep's main process decides what to do with crashes (report them; not store them, so a
    rerun retries the trial).
    """
    return next(stream_safely([config], data_dir))[1]


def stream_safely(configs: list[TrialConfig], data_dir: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``execute_stream`` for workers: ``(index in configs, outcome)`` as each trial finishes; an
    unexpected crash becomes a crash outcome for every trial not finished (not stored: a rerun retries)."""
    index = {c.key(): i for i, c in enumerate(configs)}
    finished: set[int] = set()
    try:
        for config, row in execute_stream(configs, data_dir):
            finished.add(index[config.key()])
            yield index[config.key()], row
        return
    except ConfigError as e:
        crash = {"crash": str(e), "config_error": True}
    except Exception as e:  # noqa: BLE001 - reported to the user with the trials' keys
        crash = {"crash": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    for i in range(len(configs)):
        if i not in finished:
            yield i, crash


def execute_group_safely(configs: list[TrialConfig], data_dir: str | None = None,
                         emit: Callable[[int, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """``stream_safely`` with a callback: ``emit(i, outcome)`` as trial ``configs[i]`` finishes; returns
    the outcomes in the order of ``configs``."""
    rows: dict[int, dict[str, Any]] = {}
    for i, row in stream_safely(configs, data_dir):
        rows[i] = row
        if emit is not None:
            emit(i, row)
    return [rows[i] for i in sorted(rows)]


__all__ = ["commit", "describe", "execute", "execute_group", "execute_group_safely", "execute_safely", "execute_stream",
           "outcome", "stream_safely"]
