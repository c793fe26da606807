"""SQLite results store: one row per finished trial plus its learning curve.

A trial row is written in a single transaction when the trial has finished, so a sweep killed at
any moment (even with SIGKILL) keeps every finished trial and never records a half-finished one.
Rows are keyed by ``TrialConfig.key()``; re-running a sweep skips keys already present.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlsub.errors import StoreError

#: 2: rows describe their own experiment (fingerprint, normalisation, network, coordinates moved).
SCHEMA_VERSION = 2
DB_NAME = "results.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    key TEXT PRIMARY KEY,
    env TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'rl',
    method TEXT NOT NULL,
    projection TEXT NOT NULL,
    d INTEGER NOT NULL,
    is_full INTEGER NOT NULL,
    n_params INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    network TEXT NOT NULL,
    measure TEXT NOT NULL,
    moved INTEGER NOT NULL,
    r_low REAL,
    r_low_source TEXT NOT NULL,
    r_best REAL,
    r_best_source TEXT NOT NULL,
    solved REAL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    final_mean REAL,
    final_std REAL,
    final_returns TEXT,
    env_steps INTEGER,
    wall_time REAL,
    artifact TEXT,
    info TEXT,
    error TEXT,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS curves (
    key TEXT NOT NULL REFERENCES trials(key) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    env_steps INTEGER NOT NULL,
    mean REAL,
    best REAL,
    PRIMARY KEY (key, idx)
);
CREATE INDEX IF NOT EXISTS trials_group ON trials (fingerprint, projection, d);
"""


@dataclass(frozen=True)
class TrialRow:
    """A stored trial (what ``rlsub dint`` and reports read)."""

    key: str
    env: str
    kind: str
    method: str
    projection: str
    d: int
    is_full: bool
    D: int
    seed: int
    config: dict[str, Any]
    fingerprint: str
    """Digest of the config without d, seed and projection: rows with equal fingerprints are one experiment."""
    network: str
    measure: str
    moved: int
    """Coordinates the optimizer moved (d, or more: e.g. PPO's own-subspace value net)."""
    r_low: float | None
    r_low_source: str
    r_best: float | None
    r_best_source: str
    solved: float | None
    status: str
    final_mean: float | None
    final_std: float | None
    final_returns: list[float]
    env_steps: int | None
    wall_time: float | None
    artifact: str | None
    info: dict[str, Any]
    error: str | None


class Store:
    """The results database of one sweep directory (``DIR/results.sqlite``)."""

    def __init__(self, directory: str | os.PathLike, create: bool = True) -> None:
        self.dir = Path(directory)
        self.path = self.dir / DB_NAME
        if not create and not self.path.exists():
            raise StoreError(f"no results database at {self.path}")
        if create:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create output directory {self.dir}: {e.strerror}") from None
            if not os.access(self.dir, os.W_OK):
                raise StoreError(f"output directory {self.dir} is not writable")
        try:
            self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self._check_integrity()
            if create:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.executescript(_SCHEMA)
                self.conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            self._check_schema()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"results database {self.path} is corrupted or unreadable: {e}") from None

    def _check_integrity(self) -> None:
        row = self.conn.execute("PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {row[0] if row else 'no answer'}")

    def _check_schema(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "trials", "curves"} <= tables:
            raise StoreError(f"{self.path} is not an rlsub results database (tables: {sorted(tables)})")
        row = self.conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        version = row and row[0]
        if version == "1":
            raise StoreError(f"{self.path} was written by an older rlsub (schema 1, rows without their "
                             f"normalisation): upgrade it with 'rlsub migrate {self.dir}'")
        if version != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path} has schema version {version}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------
    def add(
        self,
        key: str,
        *,
        env: str,
        kind: str,
        method: str,
        projection: str,
        d: int,
        is_full: bool,
        D: int,
        seed: int,
        config: dict,
        fingerprint: str,
        network: str,
        measure: str,
        moved: int,
        r_low: float | None,
        r_low_source: str,
        r_best: float | None,
        r_best_source: str,
        solved: float | None,
        status: str,
        final_returns: list[float] | None = None,
        env_steps: int | None = None,
        wall_time: float | None = None,
        artifact: str | None = None,
        info: dict | None = None,
        error: str | None = None,
        curve: list[tuple] | None = None,
    ) -> bool:
        """Record a finished trial atomically; returns False if the key was already stored."""
        import numpy as np

        final_returns = [float(x) for x in (final_returns or [])]
        mean = float(np.mean(final_returns)) if final_returns else None
        std = float(np.std(final_returns)) if final_returns else None
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO trials VALUES (" + ",".join("?" * 29) + ")",
                (
                    key, env, kind, method, projection, int(d), int(is_full), int(D), int(seed),
                    json.dumps(config, sort_keys=True), fingerprint, network, measure, int(moved),
                    _real(r_low), r_low_source, _real(r_best), r_best_source, _real(solved),
                    status, mean, std, json.dumps(final_returns),
                    env_steps, wall_time, artifact, json.dumps(info or {}, default=str), error, time.time(),
                ),
            )
            inserted = cur.rowcount == 1
            if inserted and curve:
                self.conn.executemany(
                    "INSERT INTO curves VALUES (?,?,?,?,?)",
                    [(key, i, int(c[0]), float(c[1]), float(c[2]) if len(c) > 2 else None) for i, c in enumerate(curve)],
                )
            self.conn.execute("COMMIT")
            return inserted
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def set_reference(self, value: float, source: str) -> None:
        """Record the score this store's full-space baselines are held to (an atlas protocol's
        reference): ``rlsub dint`` and ``rlsub report`` then flag a baseline below it."""
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('reference', ?)",
                          (json.dumps({"value": float(value), "source": source}),))

    # -- reading --------------------------------------------------------------------------
    def reference(self) -> tuple[float, str] | None:
        """The recorded reference score and its source (None: none recorded)."""
        row = self.conn.execute("SELECT value FROM meta WHERE name='reference'").fetchone()
        if row is None:
            return None
        try:
            ref = json.loads(row[0])
            return float(ref["value"]), str(ref["source"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise StoreError(f"results database {self.path}: malformed reference {row[0]!r}: {e}") from None

    def references(self) -> dict[str, float]:
        """The recorded reference for each experiment (fingerprint) in the store, for ``compute_dint``."""
        ref = self.reference()
        if ref is None:
            return {}
        return {r[0]: ref[0] for r in self.conn.execute("SELECT DISTINCT fingerprint FROM trials")}

    def keys(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT key FROM trials")}

    def count(self, status: str | None = None) -> int:
        if status is None:
            return self.conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM trials WHERE status=?", (status,)).fetchone()[0]

    def rows(self, status: str | None = "done") -> Iterator[TrialRow]:
        sql = "SELECT * FROM trials" + (" WHERE status=?" if status else "") + " ORDER BY env, method, fingerprint, projection, d, seed"
        cur = self.conn.execute(sql, (status,) if status else ())
        names = [c[0] for c in cur.description]
        for values in cur:
            r = dict(zip(names, values))
            try:
                yield TrialRow(
                    key=r["key"], env=r["env"], kind=r["kind"], method=r["method"], projection=r["projection"],
                    d=r["d"], is_full=bool(r["is_full"]), D=r["n_params"], seed=r["seed"],
                    config=json.loads(r["config"]), fingerprint=r["fingerprint"], network=r["network"],
                    measure=r["measure"], moved=r["moved"], r_low=r["r_low"], r_low_source=r["r_low_source"],
                    r_best=r["r_best"], r_best_source=r["r_best_source"], solved=r["solved"],
                    status=r["status"], final_mean=r["final_mean"],
                    final_std=r["final_std"], final_returns=json.loads(r["final_returns"] or "[]"),
                    env_steps=r["env_steps"], wall_time=r["wall_time"], artifact=r["artifact"],
                    info=json.loads(r["info"] or "{}"), error=r["error"],
                )
            except (json.JSONDecodeError, TypeError) as e:
                raise StoreError(f"results database {self.path}: malformed row {r['key']!r}: {e}") from None

    def curve(self, key: str) -> list[tuple[int, float, float | None]]:
        return [tuple(r) for r in self.conn.execute(
            "SELECT env_steps, mean, best FROM curves WHERE key=? ORDER BY idx", (key,)
        )]


def _real(x: float | None) -> float | None:
    return None if x is None else float(x)
