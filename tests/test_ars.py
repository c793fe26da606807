"""ARS (rlsub.agents.ars): its update on a toy problem, its top-b selection, its lockstep runs, the
linear policy it is usually run with, and the atlas's ARS protocol files."""

from pathlib import Path

import numpy as np
import pytest
from tests_helpers import alone, assert_same_result

from rlsub.agents import METHODS, get_method
from rlsub.agents.ars import ARS, ARSConfig, ars_step, top_directions
from rlsub.errors import ConfigError
from rlsub.tasks import trial_context
from rlsub.tasks.lockstep import LOCKSTEP_METHODS, LockstepStats, run_lockstep
from rlsub.trial import TrialConfig

ROOT = Path(__file__).resolve().parents[1]
ARS_PROTOCOLS = sorted((ROOT / "atlas" / "protocols").glob("*_ars*.toml"))


# -- the update ------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["v1", "v1-t"])
def test_ars_solves_a_quadratic(version):
    d = 20
    target = np.random.default_rng(7).normal(size=d)

    def f(X):
        return -np.sum((X - target) ** 2, axis=1)

    opt = ARS(d, seed=3, config=ARSConfig(n_directions=16, top_b=8, step_size=0.05, nu=0.05, version=version))
    start = float(np.linalg.norm(opt.mean - target))
    for _ in range(400):
        X = opt.ask()
        opt.tell(X, f(X))
    assert np.linalg.norm(opt.mean - target) < 0.05 * start
    assert opt.best[1] > f(np.zeros((1, d)))[0]


def test_top_b_picks_the_directions_with_the_best_max_return():
    r_plus = np.array([1.0, 9.0, 3.0, 0.0, 5.0])
    r_minus = np.array([8.0, 0.0, 2.0, 7.5, 0.0])
    # max(r+, r-) = [8, 9, 3, 7.5, 5]
    assert top_directions(r_plus, r_minus, 3).tolist() == [1, 0, 3]
    assert top_directions(r_plus, r_minus, 5).tolist() == [1, 0, 3, 4, 2]


def test_the_step_uses_only_the_top_b_directions_scaled_by_their_returns_std():
    deltas = np.eye(4)
    r_plus = np.array([10.0, 0.0, 1.0, 4.0])
    r_minus = np.array([0.0, 6.0, 1.5, 0.0])
    step = ars_step(deltas, r_plus, r_minus, b=2, alpha=0.5)
    used = np.array([10.0, 0.0, 0.0, 6.0])  # directions 0 (max 10) and 1 (max 6)
    sigma = np.std(used)
    expected = 0.5 / (2 * sigma) * np.array([10.0, -6.0, 0.0, 0.0])
    np.testing.assert_allclose(step, expected)
    assert ars_step(deltas, np.ones(4), np.ones(4), b=2, alpha=0.5).tolist() == [0.0] * 4


def test_ask_is_mirrored_and_seeded():
    a, b = ARS(5, seed=1), ARS(5, seed=1)
    X = a.ask()
    np.testing.assert_array_equal(X, b.ask())
    assert X.shape == (2 * ARSConfig().n_directions, 5)
    np.testing.assert_allclose(X[0::2] + X[1::2], 0.0, atol=1e-15)
    assert not np.array_equal(X, ARS(5, seed=2).ask())


def test_per_parameter_units_scale_nu_and_alpha_in_a_subspace():
    cfg = ARSConfig(nu=0.02, step_size=0.01)
    assert (ARS(36, 0, cfg, D=36).nu, ARS(36, 0, cfg, D=36).alpha) == (0.02, 0.01)  # full space: the paper's
    small = ARS(4, 0, cfg, D=36)
    assert small.nu == pytest.approx(0.06) and small.alpha == pytest.approx(0.03)
    raw = ARS(4, 0, ARSConfig(nu=0.02, per_parameter=False), D=36)
    assert raw.nu == 0.02


@pytest.mark.parametrize("bad", [dict(top_b=9), dict(top_b=0), dict(nu=0.0), dict(step_size=-1.0),
                                 dict(version="v3"), dict(n_directions=0)])
def test_bad_hyper_parameters_are_refused(bad):
    with pytest.raises(ConfigError, match="ars"):
        ARSConfig(**bad)


def test_v1_and_v2_use_all_directions_and_the_t_versions_top_b():
    assert ARSConfig(version="v2", n_directions=8, top_b=4).b == 8
    assert ARSConfig(version="v2-t", n_directions=8, top_b=4).b == 4
    assert ARSConfig(version="v1").obs_norm is False and ARSConfig().obs_norm is True


def test_ars_is_registered_and_runs_in_lockstep():
    from rlsub.cli.names import METHOD_NAMES

    assert METHODS["ars"].family == "direct" and get_method("ars").config_cls is ARSConfig
    assert "ars" in METHOD_NAMES and "ars" in LOCKSTEP_METHODS


def test_the_alive_bonus_offset_shapes_training_returns_only():
    from rlsub.agents.ars import shaped
    from rlsub.agents.direct_search import Evaluation
    from rlsub.evaluation.slot_request import EvalResult

    seen = []

    def inner():
        for kind in ("train", "check", "test"):
            res = yield Evaluation(np.zeros((2, 1)), 1, (kind, 0))
            seen.append((kind, res.returns.ravel().tolist()))
        return "done"

    gen = shaped(inner(), -1.0)
    ev = next(gen)
    res = EvalResult(np.array([[10.0], [20.0]]), 7, np.array([[3], [4]]))
    with pytest.raises(StopIteration) as stop:
        while True:
            ev = gen.send(res)
    assert stop.value.value == "done" and ev.kind == "test"
    assert seen == [("train", [7.0, 16.0]), ("check", [10.0, 20.0]), ("test", [10.0, 20.0])]
    gen = shaped(inner(), -1.0)
    next(gen)
    with pytest.raises(ConfigError, match="episode lengths"):
        gen.send(EvalResult(np.zeros((2, 1)), 0))


def test_the_scheduled_rollout_reports_episode_lengths():
    ctx = trial_context(TrialConfig(env="CartPole-v1", method="ars", dim=4, seed=0, budget=1000))
    try:
        res = ctx.evaluate(np.zeros((3, 4)), 2, "train", 0)
    finally:
        ctx.close()
    assert res.lengths is not None and res.lengths.shape == (3, 2)
    assert int(res.lengths.sum()) == res.steps
    np.testing.assert_array_equal(res.lengths, res.returns)  # CartPole pays 1 a step


# -- trials: lone and in lockstep ----------------------------------------------------------------------


def test_ars_lockstep_trials_equal_their_lone_runs():
    configs = [TrialConfig(env="CartPole-v1", method="ars", dim=dim, projection="dense", seed=seed, budget=4000,
                           eval_episodes=3, params=params)
               for dim, seed, params in ((2, 0, ()), (8, 1, (("version", "v1"),)),
                                         (4, 2, (("version", "v2"), ("n_directions", 4))),
                                         (4, 3, (("alive_bonus_offset", -0.5),)))]
    stats = LockstepStats()
    got = dict(run_lockstep(configs, trial_context, slots=24, stats=stats))
    assert set(got) == set(configs) and stats.alone == 0 and stats.mean_batch > 4
    for c in configs:
        assert_same_result(alone(c), got[c])
    assert "obs_norm" in got[configs[0]].info and "obs_norm" not in got[configs[1]].info


# -- the linear policy ------------------------------------------------------------------------------
def test_the_linear_policy_has_obs_times_act_plus_act_parameters():
    pytest.importorskip("mujoco")
    from rlsub.tasks import resolve_task

    task = resolve_task("Hopper-v5")
    assert task.native_dimension(()) == 11 * 3 + 3
    assert task.network_label(()) == "MLP linear"
    assert task.native_dimension((64, 64)) > 1000


def test_linear_policy_trials_run_in_lockstep_like_alone():
    pytest.importorskip("mujoco")
    configs = [TrialConfig(env="InvertedPendulum-v5", method="ars", dim=dim, seed=0, budget=2000, hidden=(),
                           eval_episodes=2, projection="dense") for dim in (2, None)]
    got = dict(run_lockstep(configs, trial_context, slots=16))
    for c in configs:
        assert_same_result(alone(c), got[c])
    assert got[configs[1]].D == got[configs[1]].d == 5


def test_hidden_none_and_empty_mean_the_linear_policy():
    from rlsub.cli.main import _hidden, _widths
    from rlsub.sweeps.spec import _hidden_value

    assert _hidden("none") == () and _hidden("") == () and _hidden("linear") == ()
    assert _widths(["none"]) == () and _widths([""]) == ()
    assert _widths(["none;64,64"]) == [(), (64, 64)]
    assert _hidden_value([], "x.toml") == ()
    assert _hidden_value([[], [64, 64]], "x.toml") == [(), (64, 64)]
    assert _hidden_value([64, 64], "x.toml") == (64, 64)
    with pytest.raises(ConfigError):
        _hidden_value([0], "x.toml")
    assert TrialConfig.from_dict(TrialConfig(env="CartPole-v1", method="ars", hidden=()).to_dict()).hidden == ()


# -- the atlas's ARS protocols --------------------------------------------------------------------------
def test_there_are_ars_protocols():
    assert len(ARS_PROTOCOLS) >= 2


@pytest.mark.parametrize("path", ARS_PROTOCOLS, ids=lambda p: p.stem)
def test_ars_protocol_validates(path):
    pytest.importorskip("mujoco")
    from rlsub.atlas.protocol import check_protocol, load_protocol

    p = load_protocol(path)
    check_protocol(p)
    assert p.spec.methods == ["ars"] and p.family == "mujoco"
    assert "Mania" in p.reference_source or "zoo" in p.reference_source.lower() or "Gymnasium" in p.reference_source
    assert p.cpu_hours <= 3.0  # the budget for an ARS row
    if "linear" in path.stem:
        assert p.spec.widths() == [()]
        from rlsub.tasks import resolve_task

        assert resolve_task(p.spec.envs[0]).native_dimension(()) == p.linear_params


def test_a_protocol_without_es_or_ars_is_refused(tmp_path):
    from rlsub.atlas.protocol import check_protocol, load_protocol

    f = tmp_path / "cartpole_v1.toml"
    f.write_text('[sweep]\nenv = "CartPole-v1"\nmethod = "cmaes"\ndims = [1, 2, "full"]\nseeds = 5\n'
                 'budget = 2000\nout = "atlas/stores/cartpole_v1"\n[atlas]\nfamily = "classic control"\n'
                 'network = "mlp"\nreference = 475.0\nreference_source = "test"\ncpu_hours = 0.01\nexpect = "reach"\n')
    with pytest.raises(ConfigError, match="ARS"):
        check_protocol(load_protocol(f))
    f.write_text(f.read_text().replace('"cmaes"', '"ars"'))
    check_protocol(load_protocol(f))
