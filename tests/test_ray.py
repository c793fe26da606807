"""Ray backend: same numbers as the local backend, at trial and population level, through failures.

The Ray tests start a 2-CPU Ray and must run in a loopback-only network namespace (Ray otherwise
talks to itself through the machine's external address)::

    unshare -n bash -c 'ip link set lo up && . .venv/bin/activate && python -m pytest -q -m ray tests/test_ray.py'

``test_slices_match_local_evaluation`` needs no Ray and runs everywhere.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rlsub.evaluation.population import PopulationEvaluator
from rlsub.execution.ray_backend import EvalWorker, RayPopulationEvaluator, SliceEvaluator, split_bounds
from rlsub.subspace import Subspace
from rlsub.sweeps.run import run_sweep
from rlsub.sweeps.spec import SweepSpec
from rlsub.tasks.rl import env_task
from rlsub.trial import TrialConfig


def _loopback_only() -> bool:
    # socket.if_nameindex() lists the interfaces of this process's network namespace
    # (/sys/class/net still shows the host's after `unshare -n`).
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="ray not installed: pip install 'rlsub[ray]'")
    if not _loopback_only():
        pytest.skip("Ray tests run only inside a loopback-only network namespace: "
                    "unshare -n bash -c 'ip link set lo up && python -m pytest -m ray tests/test_ray.py'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def _evaluators(env_id: str, d: int, hidden=None):
    task = env_task(env_id)
    spec = task.policy_spec(hidden)

    def make() -> PopulationEvaluator:
        return PopulationEvaluator(task, Subspace(spec.build(0), d=d, projection="dense", seed=0), spec)

    return task, spec, make


@pytest.mark.parametrize("env_id", ["CartPole-v1", "PointMass-v0"])
def test_slices_match_local_evaluation(env_id):
    """Member slices (shared-RNG CartPoleVectorEnv and seed+i SyncVectorEnv) reproduce one evaluation."""
    _, _, make = _evaluators(env_id, d=3)
    thetas = np.random.default_rng(0).normal(size=(7, 3)) * 2
    ref = make().evaluate(thetas, episodes=3, seed=123)
    sliced = SliceEvaluator(make())
    for parts in (2, 3, 7):
        res = [sliced.evaluate(thetas, lo, hi, 3, 123) for lo, hi in split_bounds(7, parts)]
        assert np.array_equal(np.concatenate([r.returns for r in res]), ref.returns)
        assert sum(r.steps for r in res) == ref.steps


@pytest.mark.ray
@pytest.mark.parametrize("env_id", ["CartPole-v1", "PointMass-v0"])
def test_population_across_actors_equals_local(ray_cluster, env_id):
    ray = ray_cluster
    config = TrialConfig(env=env_id, dim=3, seed=0)
    from rlsub.tasks import trial_context

    ctx = trial_context(config)  # the trial's own θ_0 and P, as the actors rebuild them
    local = PopulationEvaluator(ctx.task, ctx.subspace(), ctx.spec)
    remote = RayPopulationEvaluator(ctx.task, ctx.subspace(), ctx.spec, "cpu", config.to_dict(), num_actors=2)
    try:
        thetas = np.random.default_rng(1).normal(size=(9, 3)) * 2
        ref = local.evaluate(thetas, 2, 77)
        got = remote.evaluate(thetas, 2, 77)
        assert np.array_equal(got.returns, ref.returns) and got.steps == ref.steps
        # An actor killed between calls is restarted (rebuilding P from the config): same numbers.
        ray.kill(remote._actors[0], no_restart=False)
        again = remote.evaluate(thetas, 2, 77)
        assert np.array_equal(again.returns, ref.returns) and again.steps == ref.steps
    finally:
        remote.close()
        local.close()


@pytest.mark.ray
def test_actor_dying_mid_evaluation_is_retried(ray_cluster, tmp_path):
    marker = str(tmp_path / "actor-died")

    class DiesOnce(EvalWorker):  # local class: Ray ships it by value
        def evaluate(self, thetas, lo, hi, episodes, seed):
            if lo > 0 and not os.path.exists(marker):
                Path(marker).touch()
                os._exit(1)  # the process dies in the middle of the call
            return super().evaluate(thetas, lo, hi, episodes, seed)

    config = TrialConfig(env="CartPole-v1", dim=3, seed=0)
    from rlsub.tasks import trial_context

    ctx = trial_context(config)
    local = PopulationEvaluator(ctx.task, ctx.subspace(), ctx.spec)
    remote = RayPopulationEvaluator(ctx.task, ctx.subspace(), ctx.spec, "cpu", config.to_dict(), num_actors=2,
                                    worker_cls=DiesOnce)
    try:
        thetas = np.random.default_rng(2).normal(size=(6, 3))
        got = remote.evaluate(thetas, 2, 5)
        assert os.path.exists(marker), "the actor never died: the test did not test a retry"
        ref = local.evaluate(thetas, 2, 5)
        assert np.array_equal(got.returns, ref.returns) and got.steps == ref.steps
    finally:
        remote.close()
        local.close()


def _spec() -> SweepSpec:
    return SweepSpec(envs=["CartPole-v1"], methods=["cmaes", "reinforce"], dims=[2, 3], seeds=[0, 1], budget=1000,
                     eval_episodes=2)


def _stored(out: Path) -> dict[str, tuple]:
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT key, final_returns, env_steps, d FROM trials ORDER BY key").fetchall()
    return {k: (r, s, d) for k, r, s, d in rows}


def _dint(out: Path) -> list[dict]:
    from rlsub.analysis.dint import compute_dint
    from rlsub.results.store import Store

    with Store(out, create=False) as store:
        return [r.to_dict() for r in compute_dint(store.rows(), n_boot=200)]


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local")
    counts = run_sweep(_spec(), out, workers=1, progress=False)
    assert counts["done"] == 8
    return out


@pytest.mark.ray
@pytest.mark.parametrize("eval_actors", [0, 2], ids=["trials", "trials+populations"])
def test_sweep_matches_local(ray_cluster, local_sweep, tmp_path, eval_actors):
    """Trials as Ray tasks (and direct-search populations split over 2 actors inside them; gradient
    trials keep their local evaluator) store the local numbers."""
    counts = run_sweep(_spec(), tmp_path, progress=False, backend="ray", ray_options={"eval_actors": eval_actors})
    assert counts == {"total": 8, "skipped": 0, "done": 8, "failed": 0, "crashed": 0}
    assert _stored(tmp_path) == _stored(local_sweep)
    assert _dint(tmp_path) == _dint(local_sweep)


@pytest.mark.ray
def test_worker_dying_mid_trial_is_retried(ray_cluster, local_sweep, tmp_path):
    marker = str(tmp_path / "worker-died")

    def dies_once(cfg, data_dir, eval_actors, threads):
        # Kill this task's worker process in the 2nd generation of one trial, the first time only.
        from rlsub import trial
        from rlsub.execution.ray_backend import _trial_task

        original = trial.TrialContext.evaluate
        if cfg.method == "cmaes" and cfg.dim == 3 and cfg.seed == 1 and not os.path.exists(marker):
            def evaluate(self, thetas, episodes, *stream):
                if stream[:2] == ("train", 1):
                    Path(marker).touch()
                    os._exit(1)
                return original(self, thetas, episodes, *stream)

            trial.TrialContext.evaluate = evaluate
        try:
            return _trial_task(cfg, data_dir, eval_actors, threads)
        finally:
            trial.TrialContext.evaluate = original

    recorded: list[int] = []
    counts = run_sweep(_spec(), tmp_path, progress=False, backend="ray", lockstep=False,
                       on_result=lambda row: recorded.append(row["config"]["seed"]),
                       ray_options={"trial_fn": dies_once, "eval_actors": 0})
    assert os.path.exists(marker), "the worker never died: the test did not test a retry"
    assert counts == {"total": 8, "skipped": 0, "done": 8, "failed": 0, "crashed": 0}
    assert len(recorded) == 8  # each trial recorded once, the retried one included
    assert _stored(tmp_path) == _stored(local_sweep)


@pytest.mark.ray
def test_lockstep_group_whose_worker_dies_is_retried_and_nothing_recorded_twice(ray_cluster, local_sweep, tmp_path):
    """A lockstep group streams its trials as they finish; its worker dies after the first one, Ray
    reruns the group, and the driver records each trial exactly once."""
    marker = str(tmp_path / "group-died")

    def dies_once(configs, data_dir):
        from rlsub.execution.ray_backend import _group_task

        for n, item in enumerate(_group_task(configs, data_dir)):
            yield item
            if n == 0 and len(configs) > 1 and not os.path.exists(marker):
                Path(marker).touch()
                os._exit(1)

    keys: list[str] = []
    counts = run_sweep(_spec(), tmp_path, progress=False, backend="ray", workers=1,
                       on_result=lambda row: keys.append(TrialConfig.from_dict(row["config"]).key()),
                       ray_options={"group_fn": dies_once, "eval_actors": 0})
    assert os.path.exists(marker), "no group worker died: the test did not test a retry"
    assert counts == {"total": 8, "skipped": 0, "done": 8, "failed": 0, "crashed": 0}
    assert len(keys) == len(set(keys)) == 8
    assert _stored(tmp_path) == _stored(local_sweep)


@pytest.mark.ray
def test_batched_seeds_on_ray_match_local(ray_cluster, tmp_path):
    """--batch-seeds groups run as one Ray task each and store what the local backend stores."""
    spec = SweepSpec(envs=["digits-fc"], methods=["adam"], dims=[8, 16], seeds=[0, 1, 2], budget=640, batch_seeds=2)
    local = run_sweep(spec, tmp_path / "local", workers=1, progress=False)
    remote = run_sweep(spec, tmp_path / "ray", progress=False, backend="ray")
    assert local == remote == {"total": 6, "skipped": 0, "done": 6, "failed": 0, "crashed": 0}
    assert _stored(tmp_path / "ray") == _stored(tmp_path / "local")
    with sqlite3.connect(tmp_path / "ray" / "results.sqlite") as db:
        batched = sorted(json.loads(i).get("batched", 1) for (i,) in db.execute("SELECT info FROM trials"))
    assert batched == [1, 1, 2, 2, 2, 2]  # seeds 0+1 together, seed 2 alone, per d


def test_backend_is_not_part_of_trial_key():
    """The backend is a process option: TrialConfig has no field for it, so keys never depend on it."""
    from rlsub import trial

    key = TrialConfig(env="CartPole-v1", dim=2).key()
    previous = trial.EVALUATOR_FACTORY
    trial.EVALUATOR_FACTORY = lambda ctx: None
    try:
        assert TrialConfig(env="CartPole-v1", dim=2).key() == key
    finally:
        trial.EVALUATOR_FACTORY = previous


@pytest.mark.ray
def test_run_on_ray_writes_its_solution_on_the_driver(ray_cluster, tmp_path, capsys):
    """``rlsub run --backend ray``: populations go to actors, the outcome comes back, and only this
    process writes the solution and the row."""
    from rlsub.cli.main import main
    from rlsub.results.store import Store
    from rlsub.solution import load_solution

    out = tmp_path / "run"
    assert main(["run", "--env", "CartPole-v1", "--dim", "2", "--budget", "400", "--eval-episodes", "2",
                 "--backend", "ray", "--out", str(out)]) == 0
    with Store(out, create=False) as s:
        (row,) = list(s.rows())
    assert load_solution(out / row.artifact).theta_d.shape == (2,)
