"""Upgrade a results store written by an older rlsub (schema 1) to the current schema.

Schema-1 rows did not describe their own experiment. Migration computes what they lack from
their stored configs: the experiment fingerprint (their trials keep protocol 1, so they are never
pooled with newer results), the network label, the coordinates moved, and the normalisation of
their task. This is the one place that needs the task's code: envs without a registered R_low
get the random-policy floor measured on each trial's own evaluation seeds, as new trials do. The
old database is kept beside the new one as ``results.sqlite.v1``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from rlsub.errors import StoreError
from rlsub.results.store import DB_NAME, Store
from rlsub.tasks import resolve_task
from rlsub.tasks.base import RANDOM_FLOOR
from rlsub.trial import TrialConfig
from rlsub.utils.seeding import derive_seed


def _moved(method: str, d: int, info: dict[str, Any]) -> int:
    """Coordinates a schema-1 trial moved, from what its info recorded."""
    extra = len(info.get("log_std") or [])
    if method == "ppo" and info.get("value_subspace", "own") == "own":
        extra += int(info.get("value_d") or d)
    if method == "reinforce" and info.get("baseline", "learned") == "learned":
        extra += d
    return d + extra


def migrate(directory: str | os.PathLike) -> int:
    """Rewrite ``DIR/results.sqlite`` in the current schema; returns the number of rows migrated."""
    directory = Path(directory)
    path = directory / DB_NAME
    if not path.exists():
        raise StoreError(f"no results database at {path}")
    try:
        old = sqlite3.connect(path)
        version = old.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        if version is None or version[0] != "1":
            raise StoreError(f"{path} has schema version {version and version[0]}: nothing to migrate")
        old.row_factory = sqlite3.Row
        rows = [dict(r) for r in old.execute("SELECT * FROM trials")]
        curves = old.execute("SELECT key, idx, env_steps, mean, best FROM curves ORDER BY key, idx").fetchall()
        old.close()
    except sqlite3.DatabaseError as e:
        raise StoreError(f"results database {path} is corrupted or unreadable: {e}") from None
    by_key: dict[str, list[tuple]] = {}
    for key, _, steps, mean, best in curves:
        by_key.setdefault(key, []).append((steps, mean, best))
    tmp_dir = directory / ".migrating"
    tmp_dir.mkdir(exist_ok=True)
    for p in tmp_dir.glob(f"{DB_NAME}*"):  # a migration killed halfway
        p.unlink()
    try:
        with Store(tmp_dir) as store:
            for r in rows:
                config = TrialConfig.from_dict(json.loads(r["config"]))
                task = resolve_task(config.env, config.env_def)
                norm = task.normalisation()
                info = json.loads(r["info"] or "{}")
                low, low_source = norm.low, norm.low_source
                if low is None:
                    returns = task.random_returns(config.eval_episodes, derive_seed(config.seed, "test"),
                                                  derive_seed(config.seed, "random-floor"))
                    low, low_source = float(sum(returns) / len(returns)), RANDOM_FLOOR
                store.add(
                    r["key"], env=r["env"], kind=r["kind"], method=r["method"], projection=r["projection"],
                    d=r["d"], is_full=bool(r["is_full"]), D=r["n_params"], seed=r["seed"],
                    config=json.loads(r["config"]), fingerprint=config.fingerprint(),
                    network=task.network_label(config.hidden, config.family, config.init), measure=norm.measure,
                    moved=_moved(r["method"], r["d"], info) if r["status"] == "done" else 0,
                    r_low=low, r_low_source=low_source, r_best=norm.best, r_best_source=norm.best_source,
                    solved=norm.solved, status=r["status"], final_returns=json.loads(r["final_returns"] or "[]"),
                    env_steps=r["env_steps"], wall_time=r["wall_time"], artifact=r["artifact"], info=info,
                    error=r["error"], curve=by_key.get(r["key"]),
                )
        os.replace(path, directory / f"{DB_NAME}.v1")
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(tmp_dir / DB_NAME, path)
    finally:
        for p in tmp_dir.glob(f"{DB_NAME}*"):
            p.unlink()
        tmp_dir.rmdir()
    return len(rows)


__all__ = ["migrate"]
