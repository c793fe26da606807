"""A NaN observation in a gradient agent's training loop ends the trial as a NaN reward does:
``NonFiniteObservation`` (a ``NonFiniteReturn``) naming the env and the training step."""

import gymnasium as gym
import numpy as np
import pytest

from rlsub.cli.main import main
from rlsub.errors import NonFiniteObservation, NonFiniteReturn
from rlsub.results.store import Store
from rlsub.tasks import run_trial
from rlsub.trial import TrialConfig

#: The training step whose observation is NaN (the first episode's 7th step).
NAN_AT = 7


class NaNObsEnv(gym.Env):
    """Observes (t/10, 1, -1) and pays 1 a step for 20 steps, but observation ``NAN_AT`` of every
    episode is NaN in its first coordinate (``inf`` with ``value="inf"``)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, value: str = "nan") -> None:
        self.value = float(value)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self) -> np.ndarray:
        return np.array([self.value if self.t == NAN_AT else self.t / 10, 1.0, -1.0], np.float32)

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, self.t >= 20, False, {}


class InfObsEnv(NaNObsEnv):
    def __init__(self) -> None:
        super().__init__("inf")


ENV = "test_nonfinite_obs_agents:NaNObsEnv"
MESSAGE = f"environment {ENV} returned a non-finite observation (nan) at training step {NAN_AT}"


def _config(method, env=ENV, **params):
    return TrialConfig(env, method=method, dim=2, seed=0, budget=200, eval_episodes=2,
                       params=tuple(sorted(params.items())))


@pytest.mark.parametrize("method, params", [
    ("dqn", {}),
    ("dqn", {"engine": "batched"}),
    ("ppo", {"num_envs": 1, "num_steps": 16}),
    ("reinforce", {"episodes": 1}),
])
def test_a_nan_observation_ends_the_trial_at_its_step(method, params):
    with pytest.raises(NonFiniteObservation) as e:
        run_trial(_config(method, **params))
    assert str(e.value) == MESSAGE
    assert isinstance(e.value, NonFiniteReturn)  # every path that fails a trial on NaN rewards catches it


def test_inf_is_refused_too_and_several_envs_name_the_trials_step():
    with pytest.raises(NonFiniteObservation, match=r"\(inf\) at training step 7$"):
        run_trial(_config("dqn", "test_nonfinite_obs_agents:InfObsEnv"))
    # 4 envs step together: the NaN comes back with the 7th step of each, i.e. training step 4·7
    with pytest.raises(NonFiniteObservation, match=f"at training step {4 * NAN_AT}$"):
        run_trial(_config("ppo", num_envs=4, num_steps=16))


def test_the_cli_fails_the_trial_as_for_a_nan_reward(tmp_path, capsys):
    from tests_helpers import NaNEnv  # noqa: F401  (registers rlsub-test/NaNCli-v0: NaN reward at step 3)

    def run(env, out):
        code = main(["run", "--env", env, "--method", "dqn", "--dim", "2", "--budget", "100",
                     "--eval-episodes", "2", "--out", str(out)])
        return code, capsys.readouterr().err.strip().splitlines()

    code, err = run(ENV, tmp_path / "obs")
    assert code != 0 and err == [f"rlsub: error: trial failed: {MESSAGE}"]
    assert not (tmp_path / "obs" / "solutions").exists()  # no θ_d was stored
    with Store(tmp_path / "obs") as s:
        assert [r.error for r in s.rows(status="failed")] == [MESSAGE] and not list(s.rows(status="done"))
    # exactly what a NaN reward gets: the same exit status and one line
    reward_code, reward_err = run("rlsub-test/NaNCli-v0", tmp_path / "reward")
    assert reward_code == code and len(reward_err) == 1 and "non-finite reward" in reward_err[0]


class SometimesNaNEnv(NaNObsEnv):
    """``NaNObsEnv`` whose observations turn NaN only in the streams of some seeds (half of them)."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        if seed is not None:  # the trial's first reset fixes its stream
            self.value = float("nan") if self.np_random.random() < 0.5 else 0.5
        return self._obs(), info


def test_a_failing_trial_leaves_its_batch_mates_numbers_alone():
    from rlsub.agents.dqn.batched import run_batched
    from rlsub.agents.dqn.single import resolve_config
    from rlsub.tasks import trial_context

    def outcomes(configs):
        items = ((c, ctx, *resolve_config(ctx)) for c in configs for ctx in [trial_context(c)])
        return dict(run_batched(items, close_contexts=True))

    configs = [TrialConfig("test_nonfinite_obs_agents:SometimesNaNEnv", method="dqn", dim=2, seed=s, budget=120,
                           eval_episodes=1, params=(("engine", "batched"), ("learning_starts", 40), ("train_freq", 8)))
               for s in range(4)]
    alone = {c: outcomes([c])[c] for c in configs}
    failed = [c for c in configs if isinstance(alone[c], NonFiniteObservation)]
    assert 0 < len(failed) < len(configs)  # seeds of both kinds
    together = outcomes(configs)
    for c in configs:
        if c in failed:
            assert isinstance(together[c], NonFiniteObservation)
            assert str(together[c]).endswith(f"at training step {NAN_AT}")
        else:
            assert together[c].final_returns == alone[c].final_returns and together[c].curve == alone[c].curve
            np.testing.assert_array_equal(together[c].theta_d, alone[c].theta_d)
