"""θ_0's initialisation as a trial setting: ``init = "zeros"`` for the linear policy (the ARS paper's start)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from rlsub.errors import ConfigError
from rlsub.policies.networks import ActionSpec, PolicySpec
from rlsub.subspace import Subspace
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.spec import SweepSpec, load_sweep_config
from rlsub.tasks import resolve_task, trial_context
from rlsub.trial import TrialConfig

ROOT = Path(__file__).resolve().parent.parent


def _linear(init: str | None) -> PolicySpec:
    return PolicySpec(obs_shape=(4,), action=ActionSpec("box", shape=(2,), low=(-1.0, -1.0), high=(1.0, 1.0)),
                      hidden=(), options={} if init is None else {"init": init})


def test_zero_init_makes_theta_D_the_projection_of_theta_d():
    net = _linear("zeros").build(seed=3)
    sub = Subspace(net, 3, "dense", seed=3)
    assert torch.count_nonzero(sub.flat()) == 0  # θ_d = 0 ⇒ θ_D = θ_0 = 0
    theta = torch.tensor([0.5, -1.0, 2.0])
    P = torch.stack([sub.flat(torch.eye(3)[i]) for i in range(3)], dim=1)  # P's columns, θ_0 = 0
    torch.testing.assert_close(sub.flat(theta), P @ theta)
    assert torch.count_nonzero(_linear(None).build(seed=3)[0].weight) > 0  # torch's init is not zero


def test_zero_init_is_refused_for_hidden_layers_and_other_families():
    spec = PolicySpec(obs_shape=(4,), action=ActionSpec("discrete", n=2), hidden=(8,), options={"init": "zeros"})
    with pytest.raises(ConfigError, match="linear policy"):
        spec.build(seed=0)
    with pytest.raises(ConfigError, match="unknown MLP init"):
        _linear("ones").build(seed=0)
    with pytest.raises(ConfigError, match="linear policy"):
        plan_sweep(SweepSpec(envs=["CartPole-v1"], methods=["ars"], dims=[2], seeds=[0], init="zeros"))
    with pytest.raises(ConfigError, match="supervised"):
        plan_sweep(SweepSpec(envs=["digits-fc"], methods=["sgd"], dims=[2], seeds=[0], init="zeros"))


def test_init_reaches_the_trial_its_key_and_its_label():
    plan = plan_sweep(SweepSpec(envs=["CartPole-v1"], methods=["ars"], dims=[2, None], seeds=[0], hidden=(),
                                init="zeros"))
    assert {t.init for t in plan.trials} == {"zeros"}
    assert [e.network for e in plan.experiments] == ["MLP linear θ0=0"]
    plain = TrialConfig(env="CartPole-v1", method="ars", dim=2, hidden=())
    zero = TrialConfig(env="CartPole-v1", method="ars", dim=2, hidden=(), init="zeros")
    assert zero.key() != plain.key() and zero.fingerprint() != plain.fingerprint()  # never pooled
    assert TrialConfig.from_dict(json.loads(json.dumps(zero.to_dict()))) == zero
    ctx = trial_context(zero)
    try:
        assert torch.count_nonzero(ctx.subspace().flat()) == 0
    finally:
        ctx.close()
    assert resolve_task("CartPole-v1").network_label((), None, "zeros") == "MLP linear θ0=0"


def test_trials_stored_before_the_init_field_keep_their_keys():
    """The field is left out of the key when unset: every stored trial is still found under its key."""
    db = ROOT / "atlas" / "stores" / "swimmer_v5_ars_linear" / "results.sqlite"
    con = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)  # immutable: no -wal/-shm beside a committed store
    try:
        rows = con.execute("select key, fingerprint, config from trials").fetchall()
    finally:
        con.close()
    assert rows
    for key, fp, config in rows:
        data = json.loads(config)
        assert "init" not in data
        cfg = TrialConfig.from_dict(data)
        assert cfg.init is None and cfg.key() == key and cfg.fingerprint() == fp


def test_a_toml_sweep_and_the_cli_take_init(tmp_path):
    from rlsub.cli.main import main

    cfg = tmp_path / "s.toml"
    cfg.write_text('[sweep]\nenv = "CartPole-v1"\nmethod = "ars"\ndims = [2]\nseeds = 1\nhidden = []\n'
                   'init = "zeros"\nbudget = 500\n')
    spec, _ = load_sweep_config(cfg)
    assert spec.init == "zeros"
    out = tmp_path / "bad"
    assert main(["run", "--env", "CartPole-v1", "--method", "ars", "--init", "zeros", "--hidden", "8",
                 "--dim", "2", "--budget", "500", "--out", str(out)]) == 2
    assert not out.exists()  # refused before anything was written
    out = tmp_path / "ok"
    assert main(["run", "--env", "CartPole-v1", "--method", "ars", "--init", "zeros", "--hidden", "none",
                 "--dim", "2", "--budget", "500", "--eval-episodes", "2", "--out", str(out)]) == 0
    sol = next((out / "solutions").glob("*.json"))
    assert json.loads(sol.read_text())["config"]["init"] == "zeros"
    assert main(["replay", str(sol)]) == 0
    theta = np.load(next((out / "solutions").glob("*.npz")))["theta_d"]
    assert theta.shape == (2,)


def test_naming_the_presets_own_init_is_the_same_experiment_as_leaving_it_unset():
    from rlsub.sweeps.plan import check_init

    plain = plan_sweep(SweepSpec(envs=["CartPole-v1"], methods=["ars"], dims=[2], seeds=[0]))
    named = plan_sweep(SweepSpec(envs=["CartPole-v1"], methods=["ars"], dims=[2], seeds=[0], init="torch"))
    assert [t.key() for t in named.trials] == [t.key() for t in plain.trials]
    assert named.trials[0].init is None
    task = resolve_task("CartPole-v0-li2018")  # a preset whose own θ_0 is he_normal: torch is a choice of its own
    assert check_init(task, None, None, "he_normal") is None
    assert check_init(task, None, None, "torch") == "torch"
    assert check_init(task, None, None, None) is None
