"""Results store and sweeps: atomic rows, resume after SIGKILL, corruption errors."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from tests_helpers import stored

from rlsub.errors import StoreError
from rlsub.results.store import Store
from rlsub.sweeps.run import run_sweep
from rlsub.sweeps.spec import SweepSpec


def _row(**kw):
    return stored(**{"config": {"a": 1}, "final_returns": [1.0, 3.0], **kw})


def test_add_is_idempotent_and_roundtrips(tmp_path):
    with Store(tmp_path) as s:
        assert s.add("k1", **_row(), curve=[(5, 1.0, 2.0), (10, 2.0, 3.0)])
        assert not s.add("k1", **_row(final_returns=[9.0]))
        (row,) = list(s.rows())
        assert row.final_mean == 2.0 and row.D == 100 and row.config == {"a": 1}
        assert s.curve("k1") == [(5, 1.0, 2.0), (10, 2.0, 3.0)]


def test_corrupted_database_is_a_clear_error(tmp_path):
    (tmp_path / "results.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="corrupted"):
        Store(tmp_path)


def test_foreign_database_is_rejected(tmp_path):
    sqlite3.connect(tmp_path / "results.sqlite").execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(StoreError, match="not an rlsub results database"):
        Store(tmp_path, create=False)


def test_missing_database(tmp_path):
    with pytest.raises(StoreError, match="no results database"):
        Store(tmp_path / "nope", create=False)


def test_sweep_skips_finished_trials(tmp_path):
    spec = SweepSpec(envs=["CartPole-v1"], methods=["cmaes"], dims=[1, 2], seeds=[0, 1], budget=1500, eval_episodes=2)
    first = run_sweep(spec, tmp_path, workers=1, progress=False)
    assert first["done"] == 4 and first["skipped"] == 0
    again = run_sweep(spec, tmp_path, workers=1, progress=False)
    assert again["done"] == 0 and again["skipped"] == 4
    with Store(tmp_path) as s:
        assert s.count() == 4
        for r in s.rows():
            assert (tmp_path / r.artifact).exists()


def test_parallel_sweep_equals_serial(tmp_path):
    spec = SweepSpec(envs=["CartPole-v1"], methods=["cmaes"], dims=[2, 3], seeds=[0], budget=1500, eval_episodes=2)
    run_sweep(spec, tmp_path / "a", workers=1, progress=False)
    run_sweep(spec, tmp_path / "b", workers=2, progress=False)
    with Store(tmp_path / "a") as a, Store(tmp_path / "b") as b:
        ra = {r.key: r.final_returns for r in a.rows()}
        rb = {r.key: r.final_returns for r in b.rows()}
    assert ra == rb and len(ra) == 2


def test_sweep_killed_with_sigkill_resumes_without_loss_or_duplicates(tmp_path):
    # --no-lockstep: trials finish one by one, so the kill lands between stored trials on any machine
    # (a lockstep group of 12 equal-budget trials stores them in one burst, and a fast CI machine saw all
    # 12 before the kill); lockstep groups resume the same way, a group at a time.
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "rlsub.cli.main", "sweep", "--env", "CartPole-v1", "--dims", "1,2,3,4,5,6",
           "--seeds", "2", "--budget", "3000", "--eval-episodes", "2", "--workers", "1", "--no-lockstep",
           "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    before: dict = {}
    try:
        for _ in range(600):
            time.sleep(0.05)
            try:
                with Store(out, create=False) as s:
                    before = {r.key: r.final_returns for r in s.rows()}
            except StoreError:  # not created yet, or still being initialised
                continue
            if len(before) >= 1:
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with Store(out, create=False) as s:
        at_kill = {r.key: r.final_returns for r in s.rows()}
    assert 1 <= len(before) and set(before) <= set(at_kill)
    assert len(at_kill) < 12, "the sweep finished before it was killed: nothing was resumed"
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with Store(out, create=False) as s:
        after = {r.key: r.final_returns for r in s.rows()}
        assert s.count() == 12
    for k, v in at_kill.items():
        assert after[k] == v


def test_toml_sweep_registers_envs_in_worker_processes(tmp_path):
    """Env definitions in the TOML file travel with each trial to spawned workers (and to replay)."""
    from rlsub.cli.main import main

    cfg = tmp_path / "sweep.toml"
    cfg.write_text(
        """
[sweep]
env = "ShortPointMass-v0"
method = "cmaes"
dims = [2, 3]
seeds = 1
budget = 600
eval_episodes = 2
workers = 2

[[envs]]
id = "ShortPointMass-v0"
entry_point = "rlsub.envs.point_mass:PointMassEnv"
max_episode_steps = 50
return_low = -60.0
return_best = -3.0
"""
    )
    assert main(["sweep", "--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    with Store(tmp_path / "o", create=False) as s:
        rows = list(s.rows())
    assert len(rows) == 2 and all(r.env == "ShortPointMass-v0" for r in rows)
    assert rows[0].config["env_def"]["id"] == "ShortPointMass-v0"
    assert main(["replay", str(tmp_path / "o" / rows[0].artifact)]) == 0
    # A fresh process that never saw the TOML file still computes d_int from the stored definition.
    proc = subprocess.run([sys.executable, "-m", "rlsub.cli.main", "dint", str(tmp_path / "o")], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert "R_base=-3" in proc.stdout


def test_dying_worker_is_one_clear_error_and_rerun_resumes(tmp_path, monkeypatch, capsys):
    """A worker killed mid-sweep (OOM killer, kill -9) ends the sweep with one line; a rerun completes it."""
    from rlsub.cli.main import main

    args = ["sweep", "--env", "CartPole-v1", "--dims", "2,3", "--seeds", "2", "--budget", "800", "--eval-episodes", "2",
            "--workers", "2", "--no-progress", "--out", str(tmp_path)]
    monkeypatch.setenv("RLSUB_TEST_KILL_WORKER", "1")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "a worker process died" in err and "rerun the same sweep to resume" in err
    monkeypatch.delenv("RLSUB_TEST_KILL_WORKER")
    assert main(args) == 0
    with Store(tmp_path, create=False) as s:
        assert s.count() == 4
