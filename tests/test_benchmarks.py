"""Smoke test: every benchmark runs at tiny sizes and writes its JSON (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_run_all_quick_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    benches = {r["bench"] for r in data["results"]}
    assert {"fwht", "fastfood", "sparse", "rule", "rollout", "gpu", "agents", "pong", "dqn", "startup", "lockstep_groups"} <= benches
    metrics = {r["metric"] for r in data["results"] if r["bench"] == "agents"}
    assert "update step, fastfood d=1000 vs full space" in metrics
    assert "dense P products alone d=1000 vs full-space step" in metrics
    assert data["machine"]["torch_threads"] >= 1
    for r in data["results"]:
        if r["metric"] != "skipped":
            assert r["value"] is not None and r["value"] > 0
    if not data["machine"]["cuda"]:
        assert "skipped: no CUDA device" in proc.stdout
    assert "ratio" in proc.stdout


def test_evaluator_mlp_fast_path_matches_vmap_path() -> None:
    """The evaluator's MLP fast path (timed by benchmarks/rollout.py) equals the vmap path it replaces."""
    from unittest import mock

    import numpy as np
    import torch
    from torch import nn

    import rlsub.evaluation.population as evaluate_mod
    from rlsub.evaluation.population import PopulationEvaluator
    from rlsub.evaluation.whole_batch import mlp_plan
    from rlsub.policies.networks import PolicySpec
    from rlsub.subspace import Subspace
    from rlsub.tasks.rl import env_task

    for env_id, hidden, act in (("CartPole-v1", None, "tanh"), ("Pendulum-v1", (16, 8), "relu"), ("Acrobot-v1", (8,), "elu")):
        task = env_task(env_id)
        base = task.policy_spec(hidden=hidden)
        spec = PolicySpec(base.obs_shape, base.action, hidden=base.hidden, activation=act)
        sub = Subspace(spec.build(0), d=5, projection="fastfood", seed=0)
        thetas = torch.randn(6, 5, generator=torch.Generator().manual_seed(1)) * 2
        fast = PopulationEvaluator(task, sub, spec).evaluate(thetas, episodes=2, seed=7)
        with mock.patch.object(evaluate_mod, "mlp_plan", lambda *a: None):
            slow = PopulationEvaluator(task, sub, spec).evaluate(thetas, episodes=2, seed=7)
        assert fast.steps == slow.steps
        np.testing.assert_allclose(fast.returns, slow.returns, rtol=1e-5, atol=1e-4)
        assert (mlp_plan(sub.module, len(spec.obs_shape)) is None) == (act == "elu")  # ELU: vmap path
    assert mlp_plan(nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Tanh()), 1) is None
    assert mlp_plan(nn.Linear(2, 2), 1) is None
    assert mlp_plan(nn.Sequential(nn.Linear(2, 2)), 1) == [("0.weight", "0.bias", None)]


def test_pong_benchmark_quick_on_cpu(tmp_path: Path) -> None:
    """benchmarks/pong.py runs the real ES loop (Fastfood, Nature CNN, AtariVectorEnv) at tiny sizes."""
    out = tmp_path / "pong.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pong.py"), "--quick", "--device", "cpu", "--json", str(out)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r, piped = json.loads(out.read_text())["results"]
    assert r["bench"] == "pong" and r["value"] > 0 and r["baseline"] > 0
    assert "policy + projection" in r["note"] and r["target"] is None  # the 20% target is for a GPU
    assert piped["metric"] == "ES loop, pipelined vs sequential evaluator" and piped["baseline"] > 0


def test_device_check_script_quick(tmp_path: Path) -> None:
    """benchmarks/device_check.sh (the one prepared GPU run) works end to end at tiny sizes on a CPU."""
    import os

    env = {**os.environ, "QUICK": "1", "SKIP_INSTALL": "1", "OUT": str(tmp_path), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "device_check.sh")], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    for name in ("projections", "agents", "pong"):
        results = json.loads((tmp_path / f"{name}.json").read_text())["results"]
        assert results, name
