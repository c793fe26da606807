"""Supervised intrinsic dimension: networks, subspace training on digits, MNIST, config errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rlsub.errors import ConfigError
from rlsub.subspace import Subspace
from rlsub.supervised.classifiers import build_network
from rlsub.supervised.datasets import DATA_DIR_ENV, load_digits
from rlsub.supervised.training import evaluate_subspace
from rlsub.sweeps.plan import plan_sweep
from rlsub.tasks.supervised import (
    SUPERVISED_TASKS,
    parameter_count,
    run_supervised_trial,
    run_supervised_trials_batched,
    supervised_task,
)
from rlsub.trial import TrialConfig

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared/data/mnist"
needs_mnist = pytest.mark.skipif(
    not any((MNIST_DIR / f"train-images-idx3-ubyte{s}").exists() for s in ("", ".gz")),
    reason=f"real MNIST IDX files not found in {MNIST_DIR}",
)


def cfg(env: str = "digits-fc", dim: int | None = 32, seed: int = 0, budget: int | None = None, **params) -> TrialConfig:
    return TrialConfig(env=env, method="adam", dim=dim, seed=seed, budget=budget, params=tuple(sorted(params.items())))


def test_parameter_counts_match_paper():
    assert parameter_count("mnist-fc") == 199_210  # 784-200-200-10
    assert parameter_count("mnist-lenet") == 44_426  # Li et al. 2018's LeNet
    assert parameter_count("digits-fc") == 8_970
    assert parameter_count("digits-lenet") == 19_754
    assert parameter_count("digits-fc", hidden=(32,)) == 64 * 32 + 32 + 32 * 10 + 10


@pytest.mark.parametrize("name, shape", [("digits-fc", (1, 8, 8)), ("digits-lenet", (1, 8, 8)), ("mnist-lenet", (1, 28, 28))])
def test_theta_d_zero_reproduces_theta_0(name, shape):
    net = build_network(SUPERVISED_TASKS[name], shape, seed=3)
    x = torch.rand(5, *shape, generator=torch.Generator().manual_seed(0))
    ref = net(x)
    sub = Subspace(build_network(SUPERVISED_TASKS[name], shape, seed=3), 16, "dense", 3)
    torch.testing.assert_close(sub(x), ref, rtol=0, atol=0)
    assert ref.shape == (5, 10)


def test_theta_0_depends_on_seed_only():
    task, shape = SUPERVISED_TASKS["digits-fc"], (1, 8, 8)
    torch.manual_seed(123)
    a = torch.cat([p.flatten() for p in build_network(task, shape, 1).parameters()])
    state = torch.random.get_rng_state()
    b = torch.cat([p.flatten() for p in build_network(task, shape, 1).parameters()])
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    c = torch.cat([p.flatten() for p in build_network(task, shape, 2).parameters()])
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_subspace_training_learns_digits():
    res = run_supervised_trial(cfg(dim=64))
    acc = res.final_returns[0]
    assert len(res.final_returns) == 1
    assert acc > 0.5, acc  # chance is 0.1; d=64 typically reaches ~0.75
    assert res.D == 8970 and res.d == 64 and res.theta_d.shape == (64,)
    assert np.abs(res.theta_d).sum() > 0
    train_size = load_digits().train_size
    assert res.env_steps == 30 * train_size  # default: 30 epochs
    assert len(res.curve) == 5 and res.curve[-1][0] == res.env_steps and res.curve[-1][2] == acc
    assert res.curve[-1][1] > res.curve[0][1]  # running training accuracy improves
    info = res.info
    assert info["dataset"] == "digits" and info["network"] == "fc"
    assert info["train_size"] == train_size and info["test_size"] == 359
    assert info["optimizer"] == "adam" and info["lr"] == 3e-2 and info["batch_size"] == 32
    assert not info["diverged"] and len(info["train_loss_curve"]) == 5


def test_bigger_subspace_does_better():
    small = run_supervised_trial(cfg(dim=4, epochs=10)).final_returns[0]
    big = run_supervised_trial(cfg(dim=256, epochs=10)).final_returns[0]
    assert big > small + 0.3, (small, big)


def test_deterministic():
    a = run_supervised_trial(cfg(dim=16, budget=3000, eval_points=3))
    b = run_supervised_trial(cfg(dim=16, budget=3000, eval_points=3))
    assert a.final_returns == b.final_returns and a.curve == b.curve
    np.testing.assert_array_equal(a.theta_d, b.theta_d)
    c = run_supervised_trial(cfg(dim=16, budget=3000, eval_points=3, seed=1))
    assert not np.array_equal(a.theta_d, c.theta_d)


def test_full_space_baseline():
    res = run_supervised_trial(cfg(dim=None, epochs=10))
    assert res.D == res.d == 8970 and res.theta_d.shape == (8970,)
    assert res.info["lr"] == 3e-3  # the full space has its own default learning rate
    assert res.final_returns[0] > 0.9


def test_budget_counts_examples():
    res = run_supervised_trial(cfg(budget=1000, eval_points=2))
    assert res.env_steps == 1000 and res.info["steps"] == math.ceil(1000 / 32)
    assert [c[0] for c in res.curve] == [512, 1000]  # first batch end at or past 500
    # Across an epoch boundary (1438 examples) the short last batch of the epoch counts too.
    res = run_supervised_trial(cfg(budget=1500, batch_size=100, eval_points=1))
    assert res.env_steps == 1500 and res.info["steps"] == 15 + 1  # 14x100 + 38, then 62


@pytest.mark.parametrize("projection", ["dense", "sparse", "fastfood"])
def test_lenet_learns_through_every_projection(projection):
    """A LeNet in a 128-d subspace learns through each projection: test accuracy well above its own θ_0's
    (chance, 0.0975 on this split) after two epochs of Adam."""
    from rlsub.supervised.datasets import load_dataset

    config = TrialConfig(env="digits-lenet", method="adam", dim=128, projection=projection, budget=3000)
    res = run_supervised_trial(config)
    data = load_dataset("digits")
    sub = Subspace(build_network(supervised_task("digits-lenet"), data.image_shape, 0), 128, projection, 0)
    _, _, x_test, y_test = data.tensors(torch.device("cpu"))
    at_init = evaluate_subspace(sub, x_test, y_test)
    assert res.D == 19754 and res.d == 128 and res.info["network"] == "lenet"
    assert at_init < 0.12 and res.final_returns[0] > at_init + 0.08


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"params": (("lr", 0.0),)}, "lr must be > 0"),
        ({"params": (("lr", float("nan")),)}, "lr must be a finite number"),
        ({"params": (("lr", "fast"),)}, "lr must be a finite number"),
        ({"params": (("batch_size", 0),)}, "batch_size must be >= 1"),
        ({"params": (("batch_size", 2.5),)}, "batch_size must be an integer"),
        ({"params": (("epochs", 0),)}, "epochs must be > 0"),
        ({"params": (("eval_points", 0),)}, "eval_points must be >= 1"),
        ({"params": (("lrate", 0.1),)}, "unknown supervised param"),
        ({"params": (("optimizer", "rmsprop"),)}, "optimizer must be one of"),
        ({"params": (("optimizer", "sgd"),)}, "conflicts"),
        ({"params": (("momentum", 0.5),)}, "momentum applies to optimizer sgd only"),
        ({"params": (("epochs", 2),), "budget": 100}, "not both"),
        ({"method": "cmaes"}, "trained by gradient descent"),
        ({"env": "cifar-fc"}, "unknown supervised task"),
        ({"env": "digits-lenet", "hidden": (10,)}, "FC networks only"),
    ],
)
def test_config_errors(kwargs, message):
    base = {"env": "digits-fc", "method": "adam", "dim": 8, "budget": None}
    config = TrialConfig(**{**base, **kwargs})
    with pytest.raises(ConfigError, match=message):
        run_supervised_trial(config)


def test_method_supervised_takes_optimizer_from_params():
    config = TrialConfig(env="digits-fc", method="supervised", dim=8, budget=320,
                         params=(("momentum", 0.5), ("optimizer", "sgd")))
    res = run_supervised_trial(config)
    assert res.info["optimizer"] == "sgd" and res.info["momentum"] == 0.5 and res.info["lr"] == 1.0


def test_fc_hidden_override():
    res = run_supervised_trial(TrialConfig(env="digits-fc", method="adam", dim=8, budget=320, hidden=(16,)))
    assert res.D == 64 * 16 + 16 + 16 * 10 + 10


def test_mnist_needs_data_dir(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(ConfigError, match="MNIST needs a data directory"):
        run_supervised_trial(TrialConfig(env="mnist-fc", method="adam", dim=8, budget=10))


def test_supervised_task():
    assert supervised_task("mnist-lenet").network == "lenet"
    assert all(t.kind == "supervised" and t.return_low == 0.0 for t in SUPERVISED_TASKS.values())


@needs_mnist
def test_mnist_fc_short_run():
    config = TrialConfig(env="mnist-fc", method="adam", dim=750, projection="fastfood", budget=128 * 40, params=(("eval_points", 1),))
    res = run_supervised_trial(config, data_dir=str(MNIST_DIR))
    assert res.D == 199_210 and res.d == 750 and res.env_steps == 5120
    assert res.info["train_size"] == 60000 and res.info["test_size"] == 10000
    assert res.final_returns[0] > 0.3  # 40 steps already lift it well above chance (0.1)


@needs_mnist
@pytest.mark.slow
def test_mnist_lenet_learns(monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(MNIST_DIR))
    config = TrialConfig(env="mnist-lenet", method="adam", dim=400, projection="fastfood", budget=128 * 400)
    res = run_supervised_trial(config)
    assert res.D == 44_426 and res.final_returns[0] > 0.7


def test_batched_matches_one_at_a_time():
    configs = [cfg(dim=16, budget=2000, eval_points=2, seed=s) for s in (0, 1, 2)]
    batched = run_supervised_trials_batched(configs)
    for config, b in zip(configs, batched):
        a = run_supervised_trial(config)
        np.testing.assert_array_equal(b.theta_d, a.theta_d)  # each seed's own arithmetic (docs/guide/determinism.md)
        assert b.final_returns == a.final_returns and b.curve == a.curve
        assert b.env_steps == a.env_steps and b.info["batched"] == 3 and b.d == 16
    sparse = [TrialConfig(env="digits-lenet", method="adam", dim=8, projection="sparse", seed=s, budget=320) for s in (0, 1)]
    assert len(run_supervised_trials_batched(sparse)) == 2
    with pytest.raises(ConfigError, match="differ in seed only"):
        run_supervised_trials_batched([cfg(dim=16, seed=0), cfg(dim=32, seed=1)])
    with pytest.raises(ConfigError, match="distinct seeds"):
        run_supervised_trials_batched([cfg(dim=16, seed=0), cfg(dim=16, seed=0)])


def test_group_trials_batches_supervised_seeds_only():
    from rlsub.sweeps.run import group_trials

    sup = [TrialConfig("digits-fc", method="adam", dim=d, seed=s, budget=320) for d in (8, 16) for s in range(3)]
    rl = [TrialConfig("CartPole-v1", method="cmaes", dim=4, seed=s) for s in range(2)]
    units = group_trials(sup[:3] + rl + sup[3:], 2)
    assert [[(c.env, c.dim, c.seed) for c in u] for u in units] == [
        [("digits-fc", 8, 0), ("digits-fc", 8, 1)], [("digits-fc", 8, 2)],
        [("CartPole-v1", 4, 0)], [("CartPole-v1", 4, 1)],
        [("digits-fc", 16, 0), ("digits-fc", 16, 1)], [("digits-fc", 16, 2)],
    ]
    assert group_trials(sup, 1) == [[c] for c in sup]


def test_sweep_with_batched_seeds_stores_every_trial(tmp_path):
    from rlsub.results.store import Store
    from rlsub.solution import load_solution
    from rlsub.sweeps.run import run_sweep
    from rlsub.sweeps.spec import SweepSpec

    spec = SweepSpec(envs=["digits-fc"], methods=["adam"], dims=[8], seeds=[0, 1, 2, 3], budget=640, batch_seeds=3)
    counts = run_sweep(spec, tmp_path / "s", workers=1, progress=False)
    assert counts["done"] == 4 and counts["crashed"] == 0
    with Store(tmp_path / "s", create=False) as store:
        rows = {r.seed: r for r in store.rows()}
    assert sorted(rows) == [0, 1, 2, 3]
    assert [rows[s].info.get("batched") for s in range(4)] == [3, 3, 3, None]  # 3 together, then 1 alone
    alone = run_supervised_trial(TrialConfig("digits-fc", method="adam", dim=8, seed=1, budget=640))
    stored = load_solution(tmp_path / "s" / rows[1].artifact)
    np.testing.assert_array_equal(stored.theta_d, alone.theta_d)
    again = run_sweep(spec, tmp_path / "s", workers=1, progress=False)
    assert again["skipped"] == 4 and again["done"] == 0


def test_batch_seeds_must_be_positive():
    from rlsub.sweeps.spec import SweepSpec

    with pytest.raises(ConfigError, match="batch_seeds must be an integer >= 1"):
        plan_sweep(SweepSpec(envs=["digits-fc"], methods=["adam"], dims=[8], seeds=[0], batch_seeds=0))
