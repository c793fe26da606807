"""A NaN or infinite observation ends a direct-search trial exactly as a NaN reward does, on every
evaluation path, with one line naming the env and the step (``NonFiniteObservation``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlsub.cli.main import main
from rlsub.errors import NonFiniteObservation, NonFiniteReturn
from rlsub.evaluation.population import PopulationEvaluator
from rlsub.results.store import Store
from rlsub.subspace import Subspace
from rlsub.tasks.rl import env_task

BAD_STEP = 5


class BadObsEnv(gym.Env):
    """Pays 1 per step for 20 steps; its observation turns non-finite (``VALUE``) at step ``BAD_STEP``."""

    VALUE = float("nan")
    observation_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(3, 0.1 * action, np.float32)
        if self.t >= BAD_STEP:
            obs[1] = self.VALUE
        return obs, 1.0, False, self.t >= 20, {}


class InfObsEnv(BadObsEnv):
    VALUE = float("inf")


class BoxBadObsEnv(BadObsEnv):
    """The same with a Box action (the tanh-scaled action head)."""

    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def step(self, action):
        return super().step(int(np.asarray(action)[0] > 0))


class NaNRewardEnv(BadObsEnv):
    """Finite observations, a NaN reward at step ``BAD_STEP``: the behaviour to mirror."""

    def step(self, action):
        obs, _, term, trunc, info = super().step(action)
        return np.nan_to_num(obs), float("nan") if self.t == BAD_STEP else 1.0, term, trunc, info


class NaNOnSecondResetEnv(BadObsEnv):
    """Finite observations until an env object's second reset (once ``ARMED``), which returns NaN;
    episodes of even seeds end at step 2, the others at step 6."""

    ARMED = False

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.n_resets = getattr(self, "n_resets", 0) + 1
        if seed is not None:
            self.length = 2 if seed % 2 == 0 else 6
        if self.ARMED and self.n_resets > 1:
            obs[0] = np.nan
        return obs, info

    def step(self, action):
        self.t += 1
        return np.zeros(3, np.float32), 1.0, self.t >= self.length, False, {}


MESSAGE = f"returned a non-finite observation at step {BAD_STEP}"


class _Sub(gym.vector.SyncVectorEnv):
    """Not a plain SyncVectorEnv: no slot interface, so evaluations take the whole-batch path."""


class _SendRecv(gym.vector.SyncVectorEnv):
    """Async-style ``send``/``recv`` (like ale_py's AtariVectorEnv): the pipelined whole-batch path."""

    pending = None

    def send(self, actions):
        assert self.pending is None, "step already in flight"
        self.pending = actions

    def recv(self):
        actions, self.pending = self.pending, None
        return self.step(actions)


def _evaluator(env: str, vec: type | None = None, pipeline: bool = True) -> PopulationEvaluator:
    task = env_task(env)
    if vec is not None:
        task.make_vec = lambda n: vec([task.make for _ in range(n)])
    spec = task.policy_spec(hidden=(4,))
    return PopulationEvaluator(task, Subspace(spec.build(0), d=2, projection="dense", seed=0), spec, pipeline=pipeline)


@pytest.mark.parametrize("cls", ["BadObsEnv", "InfObsEnv", "BoxBadObsEnv"])
@pytest.mark.parametrize("path", ["scheduled", "whole-batch", "pipelined"])
def test_every_evaluation_path_raises_naming_env_and_step(cls, path):
    env = f"test_nonfinite_obs:{cls}"
    vec = {"scheduled": None, "whole-batch": _Sub, "pipelined": _SendRecv}[path]
    ev = _evaluator(env, vec, pipeline=path == "pipelined")
    for _ in range(2):  # the pipelined path must not leave a step in flight for the next evaluation
        with pytest.raises(NonFiniteObservation) as err:
            ev.evaluate(np.zeros((4, 2)), 2, 0)
        assert str(err.value) == f"environment {env} {MESSAGE}"
        assert isinstance(err.value, NonFiniteReturn)  # every path that ends a trial on NaN rewards catches it
    assert (ev._rollout is not None) == (path == "scheduled")
    assert ev._async is (True if path == "pipelined" else None)
    ev.close()


def test_a_nan_reward_is_still_named_as_a_reward():
    with pytest.raises(NonFiniteReturn, match="non-finite reward") as err:
        _evaluator("test_nonfinite_obs:NaNRewardEnv").evaluate(np.zeros((2, 2)), 1, 0)
    assert not isinstance(err.value, NonFiniteObservation)


def test_only_counted_episodes_are_checked_resets_included():
    """Whole-batch: a copy whose episode ended is autoreset into a NaN observation, which is ignored
    (its return is booked). Scheduled: a copy's next job starts from that reset, a counted episode's
    observation at step 0, which ends the evaluation."""
    env = "test_nonfinite_obs:NaNOnSecondResetEnv"
    ev = _evaluator(env, _Sub, pipeline=False)
    NaNOnSecondResetEnv.ARMED = True  # after resolve_env's env checker, which resets an env twice
    try:
        res = ev.evaluate(np.zeros((2, 2)), 2, 0)  # copies seeded 0..3: even seeds end at step 2
        np.testing.assert_array_equal(res.returns, [[2.0, 6.0], [2.0, 6.0]])
        ev = _evaluator(env)
        ev.max_slots = 2  # 4 jobs on 2 env copies: the second job of a copy starts from its second reset
        with pytest.raises(NonFiniteObservation, match=f"^environment {env} returned a non-finite observation at step 0$"):
            ev.evaluate(np.zeros((2, 2)), 2, 0)
    finally:
        NaNOnSecondResetEnv.ARMED = False


def test_the_bookkeeping_kernel_and_its_numpy_form_both_see_the_observation():
    import rlsub.evaluation.slot_rollout as rollout

    k = 6
    for fn in (rollout._count_step, rollout._count_step_numpy):
        obs = np.zeros((k, 3), np.float32)
        args = lambda: (np.ones(k), np.zeros(k, bool), np.zeros(k, bool), None, np.zeros(k), np.zeros(k, np.int64),  # noqa: E731
                        0, np.zeros(k, bool))
        assert fn(*args(), obs)[1]
        obs[4, 2] = np.inf
        assert not fn(*args(), obs)[1]
        assert fn(*args())[1]  # no observations given: rewards only


def _run_and_stored(tmp_path, capsys, env: str, *extra: str) -> tuple[int, str, list]:
    code = main([*extra, "--env", env, "--method", "cmaes", "--budget", "400", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    with Store(tmp_path) as s:
        rows = [(r.status, r.error) for r in s.rows(status=None)]
    return code, err, rows


def test_rlsub_run_fails_the_trial_as_a_nan_reward_does(tmp_path, capsys):
    env = "test_nonfinite_obs:BadObsEnv"
    code, err, rows = _run_and_stored(tmp_path / "obs", capsys, env, "run", "--dim", "2")
    ref_code, _, ref_rows = _run_and_stored(tmp_path / "reward", capsys, "test_nonfinite_obs:NaNRewardEnv", "run",
                                            "--dim", "2")
    assert code == ref_code == 1
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("rlsub: error:")]
    assert lines == [f"rlsub: error: trial failed: environment {env} {MESSAGE}"]
    assert [s for s, _ in rows] == [s for s, _ in ref_rows] == ["failed"]
    assert rows[0][1] == f"environment {env} {MESSAGE}"
    assert not (tmp_path / "obs" / "solutions").exists()


def test_a_sweep_stores_its_trials_as_failed_as_for_nan_rewards(tmp_path, capsys):
    env = "test_nonfinite_obs:BadObsEnv"
    args = ("sweep", "--dims", "1,2", "--seeds", "2", "--workers", "1")
    code, _, rows = _run_and_stored(tmp_path / "obs", capsys, env, *args)
    ref_code, _, ref_rows = _run_and_stored(tmp_path / "reward", capsys, "test_nonfinite_obs:NaNRewardEnv", *args)
    assert code == ref_code
    assert len(rows) == len(ref_rows) == 4
    assert all(status == "failed" and error == f"environment {env} {MESSAGE}" for status, error in rows)
    assert all(status == "failed" for status, _ in ref_rows)
