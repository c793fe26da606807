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
    assert {"fwht", "fastfood", "sparse", "rule", "rollout", "gpu"} <= benches
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

    import rlsub.evaluate as evaluate_mod
    from rlsub.envs import resolve_env
    from rlsub.evaluate import PopulationEvaluator, _mlp_plan
    from rlsub.policies import PolicySpec
    from rlsub.subspace import Subspace

    for env_id, hidden, act in (("CartPole-v1", None, "tanh"), ("Pendulum-v1", (16, 8), "relu"), ("Acrobot-v1", (8,), "elu")):
        task = resolve_env(env_id)
        base = task.policy_spec(hidden=hidden)
        spec = PolicySpec(base.obs_shape, base.action, hidden=base.hidden, activation=act)
        sub = Subspace(spec.build(0), d=5, projection="fastfood", seed=0)
        thetas = torch.randn(6, 5, generator=torch.Generator().manual_seed(1)) * 2
        fast = PopulationEvaluator(task, sub, spec).evaluate(thetas, episodes=2, seed=7)
        with mock.patch.object(evaluate_mod, "_mlp_plan", lambda *a: None):
            slow = PopulationEvaluator(task, sub, spec).evaluate(thetas, episodes=2, seed=7)
        assert fast.steps == slow.steps
        np.testing.assert_allclose(fast.returns, slow.returns, rtol=1e-5, atol=1e-4)
        assert (_mlp_plan(sub.module, len(spec.obs_shape)) is None) == (act == "elu")  # ELU: vmap path
    assert _mlp_plan(nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Tanh()), 1) is None
    assert _mlp_plan(nn.Linear(2, 2), 1) is None
    assert _mlp_plan(nn.Sequential(nn.Linear(2, 2)), 1) == [("0.weight", "0.bias", None)]
