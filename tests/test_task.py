"""Numbers a researcher can trust: the Task protocol, self-describing rows, floors, experiments kept apart."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from tests_helpers import stored

from rlsub.analysis.dint import compute_dint, format_table
from rlsub.cli.main import main
from rlsub.errors import ConfigError, StoreError
from rlsub.execution.runner import commit, execute
from rlsub.results.store import Store
from rlsub.solution import load_solution
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.run import run_sweep
from rlsub.sweeps.spec import SweepSpec
from rlsub.tasks import resolve_task, typed_params
from rlsub.tasks.base import RANDOM_FLOOR, Task
from rlsub.tasks.supervised import SupervisedTask
from rlsub.trial import TrialConfig
from rlsub.utils.seeding import derive_seed

NEG = "tests_helpers:NegativeDrift"


@pytest.mark.parametrize("name,kind,D,label,budget", [
    ("CartPole-v1", "rl", 4 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2, "MLP 64-64", 300),
    ("digits-fc", "supervised", 8_970, "FC 64-64", 200),
    (NEG, "rl", 2 * 64 + 64 + 64 * 64 + 64 + 64 * 3 + 3, "MLP 64-64", 300),
])
def test_rl_and_supervised_tasks_implement_one_protocol(name, kind, D, label, budget):
    """RL envs and supervised datasets answer the one ``Task`` protocol the same way: D is the trained
    network's size, the default method trains a trial of that D, and ``run_stream`` gives each trial
    what ``run`` gives it alone."""
    task: Task = resolve_task(name)
    assert task.kind == kind and task.native_dimension() == D and task.network_label() == label
    assert json.loads(json.dumps(task.settings())) == resolve_task(name).settings()  # a stable, storable fingerprint part
    method = task.method_names()[0]
    assert method == ("adam" if kind == "supervised" else "cmaes")
    assert task.method_params(method)() is not None and typed_params(task, method, {}) == {}  # defaults exist
    configs = [TrialConfig(name, method=method, dim=4, seed=s, budget=budget, eval_episodes=3) for s in (0, 1)]
    alone = [task.run(c) for c in configs]
    for r in alone:
        assert (r.D, r.d, r.theta_d.shape) == (D, 4, (4,)) and len(r.final_returns) == (1 if kind == "supervised" else 3)
    together = dict((c.key(), r) for c, r in task.run_stream(configs))
    for c, r in zip(configs, alone):
        np.testing.assert_array_equal(together[c.key()].theta_d, r.theta_d)
        assert together[c.key()].final_returns == r.final_returns
    assert isinstance(resolve_task("digits-fc"), SupervisedTask)
    assert resolve_task(NEG).normalisation().low is None  # nothing registered: a floor will be measured
    assert resolve_task("CartPole-v1").normalisation().low == 0.0


def _random_floor_by_hand(config: TrialConfig) -> float:
    """The mean return of uniformly random actions on the trial's evaluation seeds, computed here
    with Gymnasium directly (copy i of a vector env reset with the test seed)."""
    n = config.eval_episodes
    env = gym.vector.SyncVectorEnv([lambda: gym.make(f"rlsub-plugin/{NEG.replace(':', '.')}", max_episode_steps=10_000)
                                    for _ in range(n)], autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    env.action_space.seed(derive_seed(config.seed, "random-floor") % 2**31)
    env.reset(seed=derive_seed(config.seed, "test") % 2**31)
    total, done = np.zeros(n), np.zeros(n, bool)
    while not done.all():
        _, r, term, trunc, _ = env.step(env.action_space.sample())
        total[~done] += r[~done]
        done |= term | trunc
    env.close()
    return float(total.mean())


def test_negative_reward_plugin_gets_a_measured_floor_and_a_dint(tmp_path):
    spec = SweepSpec(envs=[NEG], methods=["cmaes"], dims=[2, None], seeds=[0, 1], budget=3000, eval_episodes=5)
    run_sweep(spec, tmp_path, workers=1, progress=False)
    with Store(tmp_path, create=False) as s:
        rows = list(s.rows())
    assert len(rows) == 4 and all(r.r_low_source == RANDOM_FLOOR for r in rows)
    for r in rows:
        assert r.r_low == pytest.approx(_random_floor_by_hand(TrialConfig.from_dict(r.config)))
    (res,) = compute_dint(rows, n_boot=200)
    assert res.floor.source == RANDOM_FLOOR and res.floor.value < res.baseline.value < 0
    assert res.dims[0].mean is not None and np.isfinite(res.dims[0].mean)
    # Normalised with the measured floor and the measured baseline, nothing else.
    sub = [r.final_mean for r in rows if r.d == 2]
    floor = np.mean([r.r_low for r in rows])
    base = np.mean([r.final_mean for r in rows if r.is_full])
    assert res.dims[0].mean == pytest.approx(np.mean([(x - floor) / (base - floor) for x in sub]))
    text = format_table([res])
    assert "measured: random policy" in text and "nan" not in text


def test_two_budgets_in_one_store_are_two_labelled_experiments(tmp_path):
    for budget in (600, 1200):
        run_sweep(SweepSpec(envs=["CartPole-v1"], methods=["cmaes"], dims=[2, None], seeds=[0, 1], budget=budget,
                            eval_episodes=2), tmp_path, workers=1, progress=False)
    with Store(tmp_path, create=False) as s:
        rows = list(s.rows())
    results = compute_dint(rows, n_boot=100)
    assert sorted(r.label for r in results) == ["budget 1200", "budget 600"]
    for r in results:
        budget = int(r.label.split()[1])
        mine = [x for x in rows if x.config["budget"] == budget]
        assert r.dims[0].seeds == 2 and r.baseline.seeds == 2
        assert r.baseline.value == pytest.approx(np.mean([x.final_mean for x in mine if x.is_full]))
    assert "[budget 600]" in format_table(results)


def test_a_plugin_store_is_analysed_where_the_plugin_cannot_be_imported(tmp_path, monkeypatch):
    plug = tmp_path / "plug"
    plug.mkdir()
    marker = tmp_path / "imported.txt"
    (plug / "farplug.py").write_text(textwrap.dedent(f"""
        import gymnasium as gym, numpy as np
        open({str(marker)!r}, "a").write("x")

        class Walk(gym.Env):
            observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
            action_space = gym.spaces.Discrete(2)
            def reset(self, *, seed=None, options=None):
                super().reset(seed=seed)
                self.x, self.t = float(self.np_random.uniform(-1, 1)), 0
                return np.array([self.x], np.float32), {{}}
            def step(self, a):
                self.x += 0.1 if a else -0.1
                self.t += 1
                return np.array([self.x], np.float32), -abs(self.x), False, self.t >= 20, {{}}
    """))
    monkeypatch.syspath_prepend(str(plug))
    out = tmp_path / "store"
    assert main(["sweep", "--env", "farplug:Walk", "--dims", "1,full", "--seeds", "1", "--budget", "400",
                 "--eval-episodes", "2", "--workers", "1", "--no-progress", "--out", str(out)]) == 0
    imports = marker.read_text()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for cmd in (["dint", str(out)], ["report", str(out), "--out", str(tmp_path / "rep"), "--boot", "100"]):
        p = subprocess.run([sys.executable, "-m", "rlsub.cli.main", *cmd], cwd=tmp_path, env=env, capture_output=True,
                           text=True)
        assert p.returncode == 0, p.stderr
    assert "farplug:Walk | cmaes | dense" in subprocess.run(
        [sys.executable, "-m", "rlsub.cli.main", "dint", str(out)], cwd=tmp_path, env=env, capture_output=True,
        text=True).stdout
    assert marker.read_text() == imports  # analysing the store never imported the plug-in


def test_descriptions_never_change_a_key():
    a = TrialConfig("X-v0", dim=4, env_def={"id": "X-v0", "base": "CartPole-v1", "description": "one"})
    b = TrialConfig("X-v0", dim=4, env_def={"id": "X-v0", "base": "CartPole-v1", "description": "two"})
    c = TrialConfig("X-v0", dim=4, env_def={"id": "X-v0", "base": "CartPole-v1", "max_episode_steps": 100})
    assert a.key() == b.key() and a.fingerprint() == b.fingerprint()
    assert a.key() != c.key() and a.fingerprint() != c.fingerprint()


def test_fingerprint_is_the_config_without_d_seed_and_projection():
    base = TrialConfig("CartPole-v1", dim=4, seed=0, projection="dense", budget=1000)
    assert base.fingerprint() == TrialConfig("CartPole-v1", dim=8, seed=3, projection="sparse", budget=1000).fingerprint()
    assert base.fingerprint() == TrialConfig("CartPole-v1", dim=None, seed=1, budget=1000).fingerprint()
    for other in (dict(budget=2000), dict(hidden=(32,)), dict(episodes=3), dict(params=(("sigma0", 0.5),))):
        assert TrialConfig("CartPole-v1", dim=4, **{"budget": 1000, **other}).fingerprint() != base.fingerprint()


@pytest.mark.parametrize("text,value", [("False", False), ("false", False), ("0", False), ("no", False),
                                        ("True", True), ("1", True)])
def test_boolean_params_are_booleans(text, value):
    task = resolve_task("CartPole-v1")
    assert typed_params(task, "dqn", {"double": text}) == {"double": value}


def test_params_are_typed_against_the_method_config():
    task = resolve_task("CartPole-v1")
    assert typed_params(task, "dqn", {"lr": "1e-3", "batch_size": "32"}) == {"lr": 1e-3, "batch_size": 32}
    assert typed_params(task, "cmaes", {"sigma0": "none"}) == {"sigma0": None}
    assert typed_params(task, "cmaes", {"popsize": 8}) == {"popsize": 8}  # a TOML integer
    with pytest.raises(ConfigError, match="unknown hyper-parameter 'dubble'"):
        typed_params(task, "dqn", {"dubble": "1"})
    with pytest.raises(ConfigError, match="batch_size='1.5'"):
        typed_params(task, "dqn", {"batch_size": "1.5"})
    with pytest.raises(ConfigError, match="double='maybe'"):
        typed_params(task, "dqn", {"double": "maybe"})
    sup = resolve_task("digits-fc")
    assert typed_params(sup, "adam", {"lr": "0.01", "epochs": "2"}) == {"lr": 0.01, "epochs": 2.0}


def test_param_false_reaches_the_trial_as_false(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", "--env", "CartPole-v1", "--method", "dqn", "--dim", "4", "--budget", "300",
                 "--eval-episodes", "1", "--param", "double=False", "--param", "learning_starts=100",
                 "--out", str(out)]) == 0
    with Store(out, create=False) as s:
        (row,) = list(s.rows())
    assert row.config["params"]["double"] is False
    assert row.info["dqn_config"]["double"] is False


def test_toml_params_are_typed_too(tmp_path):
    from rlsub.sweeps.spec import load_sweep_config

    cfg = tmp_path / "s.toml"
    cfg.write_text('[sweep]\nenv = "CartPole-v1"\nmethod = "dqn"\ndims = [2]\n[sweep.params.dqn]\ndouble = "false"\n')
    spec, _ = load_sweep_config(cfg)
    (trial,) = plan_sweep(spec).trials[:1]
    assert dict(trial.params) == {"double": False}
    cfg.write_text('[sweep]\nenv = "CartPole-v1"\nmethod = "dqn"\ndims = [2]\n[sweep.params.dqn]\nlr = "fast"\n')
    spec, _ = load_sweep_config(cfg)
    with pytest.raises(ConfigError, match="lr='fast'"):
        plan_sweep(spec)


def test_execute_writes_nothing_and_commit_writes_solution_then_row(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = TrialConfig("CartPole-v1", dim=2, budget=300, eval_episodes=2)
    result = execute(config)
    assert list(tmp_path.iterdir()) == []  # a worker on another machine writes nothing
    assert result["solution"]["theta_d"].shape == (2,) and result["fingerprint"] == config.fingerprint()
    out = tmp_path / "driver"
    with Store(out) as store:
        row = commit(store, out, config, result)
        (stored_row,) = list(store.rows())
    sol = load_solution(out / row["artifact"])
    assert np.array_equal(sol.theta_d, result["solution"]["theta_d"])
    assert stored_row.network == "MLP 64-64" and stored_row.moved == 2 and stored_row.D == 4610
    assert stored_row.r_low == 0.0 and stored_row.r_best == 500.0 and stored_row.solved == 475.0


def test_ppo_rows_say_how_many_coordinates_moved(tmp_path):
    spec = SweepSpec(envs=["CartPole-v1"], methods=["ppo"], dims=[4], seeds=[0], budget=256, eval_episodes=1,
                     params={"ppo": {"num_envs": 2, "num_steps": 64, "epochs": 1}})
    run_sweep(spec, tmp_path, workers=1, progress=False)
    with Store(tmp_path, create=False) as s:
        (row,) = list(s.rows())
    assert row.moved == 8  # θ_d of the policy and the value net's own 4 coordinates
    (res,) = compute_dint([row], n_boot=50)
    assert any("moved more coordinates than d" in n for n in res.notes)


def test_baseline_not_above_the_floor_is_one_note_not_nan_everywhere():
    from rlsub.results.store import TrialRow

    def row(d, mean, full=False):
        f = stored(d=d, is_full=full, projection="identity" if full else "dense", r_low=-10.0,
                   r_low_source=RANDOM_FLOOR)
        for k in ("final_returns", "env_steps", "wall_time"):
            f.pop(k)
        return TrialRow(key=f"{d}{full}{mean}", final_mean=mean, final_std=0, final_returns=[mean], env_steps=1,
                        wall_time=0, artifact=None, info={}, error=None, **f)

    (res,) = compute_dint([row(2, -12.0), row(8, -11.0), row(100, -12.0, full=True)], n_boot=50)
    assert res.dint is None and all(s.mean is None for s in res.dims)
    # Two facts, one note each: the floor makes normalising impossible, and a baseline below the
    # reference (CartPole's 475) is no d_int in any case.
    assert len(res.notes) == 2 and sum("not above the floor" in n for n in res.notes) == 1
    assert res.baseline_below_reference and res.compression is None
    text = format_table([res])
    assert "nan" not in text.lower() and text.count("note:") == 2


V1_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (key TEXT PRIMARY KEY, env TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'rl', method TEXT NOT NULL,
    projection TEXT NOT NULL, d INTEGER NOT NULL, is_full INTEGER NOT NULL, n_params INTEGER NOT NULL,
    seed INTEGER NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL, final_mean REAL, final_std REAL,
    final_returns TEXT, env_steps INTEGER, wall_time REAL, artifact TEXT, info TEXT, error TEXT, finished_at REAL NOT NULL);
CREATE TABLE curves (key TEXT NOT NULL, idx INTEGER NOT NULL, env_steps INTEGER NOT NULL, mean REAL, best REAL,
    PRIMARY KEY (key, idx));
INSERT INTO meta VALUES ('schema_version', '1');
"""


def _v1_store(path: Path) -> dict[str, float]:
    """A store as rlsub wrote it before schema 2 (CartPole CMA-ES, 2 seeds per d)."""
    path.mkdir()
    db = sqlite3.connect(path / "results.sqlite")
    db.executescript(V1_SCHEMA)
    means = {}
    for d, rets in {2: [100.0, 200.0], 4: [470.0, 480.0], 8: [500.0, 500.0]}.items():
        for seed, r in enumerate(rets):
            cfg = {"env": "CartPole-v1", "method": "cmaes", "dim": d, "projection": "dense", "seed": seed,
                   "budget": 60000, "episodes": None, "eval_episodes": 20, "hidden": None, "params": {},
                   "family": None, "env_def": None, "device": "cpu"}
            key = TrialConfig.from_dict(cfg).key()
            db.execute("INSERT INTO trials VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (key, "CartPole-v1", "rl", "cmaes", "dense", d, 0, 4610, seed, json.dumps(cfg), "done",
                        r, 0.0, json.dumps([r]), 1000, 1.0, None, "{}", None, 0.0))
            db.execute("INSERT INTO curves VALUES (?,?,?,?,?)", (key, 0, 1000, r, r))
            means[key] = r
    db.commit()
    db.close()
    return means


def test_old_stores_say_how_to_migrate_and_migrate(tmp_path, capsys):
    old = tmp_path / "old"
    means = _v1_store(old)
    with pytest.raises(StoreError, match=f"rlsub migrate {old}"):
        Store(old, create=False)
    assert main(["dint", str(old)]) == 2
    assert "rlsub migrate" in capsys.readouterr().err
    assert main(["migrate", str(old)]) == 0
    assert (old / "results.sqlite.v1").exists()
    with Store(old, create=False) as s:
        rows = list(s.rows())
        assert s.curve(rows[0].key)
    assert {r.key: r.final_mean for r in rows} == means  # keys kept: a rerun of the old sweep skips them
    assert all(r.config.get("protocol", 1) == 1 and r.moved == r.d for r in rows)
    (res,) = compute_dint(rows, n_boot=200)
    assert res.dint == 4 and res.baseline.value == 500.0  # (475 - 0) / 500 >= 0.9


def test_help_texts_print_plain_percent_signs(capsys):
    for argv in (["--help"], ["sweep", "--help"], ["dint", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        assert "90%" in text and "%%" not in text


def test_warnings_are_plain_lines():
    from rlsub.utils.console import plain

    assert plain("\x1b[33mWARN: obs is not within the observation space\x1b[0m") == "obs is not within the observation space"


def test_typos_are_refused_before_torch_is_imported():
    code = ("import sys\nfrom rlsub.cli.main import main\nrc = main(['run', '--env', 'CartPol-v1', '--dim', '4', '--out', 'x'])\n"
            "print(rc, 'torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.split() == ["2", "False"]
    assert "unknown environment 'CartPol-v1'" in p.stderr and "CartPole-v1" in p.stderr


def test_a_sweeps_driver_never_imports_pycma(tmp_path):
    """pycma (with scipy.stats and matplotlib, ~1 s) is the workers' business: the driver plans,
    stores and analyses without it, so its start-up does not delay the workers'."""
    code = ("import sys\nfrom rlsub.cli.main import main\n"
            f"rc = main(['sweep', '--env', 'CartPole-v1', '--method', 'cmaes', '--dims', '1,2', '--seeds', '1', "
            f"'--budget', '500', '--workers', '2', '--no-progress', '--out', {str(tmp_path / 'out')!r}])\n"
            "print(rc, 'cma' in sys.modules, 'scipy.stats' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.split()[-3:] == ["0", "False", "False"], p.stderr[-2000:]


def test_quick_check_names_mirror_the_registries():
    from rlsub.agents import METHODS
    from rlsub.cli.names import METHOD_NAMES, PRESET_NAMES, SUPERVISED_NAMES
    from rlsub.envs.presets import PRESETS
    from rlsub.tasks.supervised import SUPERVISED_TASKS

    assert set(METHOD_NAMES) == set(METHODS) | set(resolve_task("digits-fc").method_names())
    assert set(SUPERVISED_NAMES) == set(SUPERVISED_TASKS)
    # Built-in presets come first (TOML registrations of other tests are added later).
    assert PRESET_NAMES == tuple(PRESETS)[: len(PRESET_NAMES)]


def test_lockstep_sweep_stores_what_one_at_a_time_stores(tmp_path):
    spec = SweepSpec(envs=["CartPole-v1"], methods=["cmaes", "es"], dims=[1, 4, None], seeds=[0, 1], budget=1500,
                     eval_episodes=3, projections=["dense", "sparse"])
    got = {}
    for name, kw in {"lockstep": dict(workers=2), "alone": dict(workers=2, lockstep=False),
                     "inline": dict(workers=1)}.items():
        counts = run_sweep(spec, tmp_path / name, progress=False, **kw)
        assert counts["done"] == 20 and counts["crashed"] == 0
        with Store(tmp_path / name, create=False) as s:
            got[name] = {r.key: (r.final_returns, r.env_steps, r.fingerprint) for r in s.rows()}
            curves = {r.key: s.curve(r.key) for r in s.rows()}
        got[name + "-curves"] = curves
    assert got["lockstep"] == got["alone"] == got["inline"]
    assert got["lockstep-curves"] == got["alone-curves"]
