"""CLI: each bad input gives one clear error line and exit status 2, with nothing half-written."""

import json
import os
import subprocess
import sys

import pytest

from rlsub.cli.main import main
from rlsub.sweeps.plan import plan_sweep


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "rlsub.cli.main", *args], capture_output=True, text=True)


def one_error_line(proc, needle) -> str:
    """Checks exit status 2 and a single ``rlsub: error: ... needle ...`` line; returns that line."""
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("rlsub: error:") and needle in lines[0], lines[0]
    return lines[0]


def in_process(capsys, *args):
    """Run the CLI in this process (fast) and return an object shaped like CompletedProcess."""
    code = main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["run", "--env", "NoSuchEnv-v9", "--dim", "4"], "unknown environment 'NoSuchEnv-v9'"),
        (["run", "--env", "CartPole-v1", "--method", "sgd-magic", "--dim", "4"], "unknown method 'sgd-magic'"),
        (["run", "--env", "CartPole-v1", "--projection", "wavelet", "--dim", "4"], "unknown projection 'wavelet'"),
        (["run", "--env", "CartPole-v1", "--dim", "0"], "d must be >= 1"),
        (["run", "--env", "CartPole-v1", "--dim", "-3"], "d must be >= 1"),
        (["run", "--env", "CartPole-v1", "--dim", "999999"], "exceeds the network's parameter count D=4610"),
        (["run", "--env", "CartPole-v1", "--dim", "4", "--param", "sigma0=-1"], "sigma0 must be > 0"),
        (["run", "--env", "CartPole-v1", "--dim", "4", "--param", "bogus=1"], "unknown hyper-parameter 'bogus'"),
        (["sweep", "--env", "CartPole-v1", "--dims", ""], "give --dims"),
        (["sweep", "--env", "CartPole-v1", "--dims", ",,"], "--dims is empty"),
        (["sweep", "--env", "CartPole-v1", "--dims", "1,two"], "invalid dimension 'two'"),
        (["sweep", "--env", "CartPole-v1", "--dims", "1,2", "--seeds", "0"], "--seeds must be >= 1"),
        (["sweep", "--env", "digits-fc", "--dims", "8", "--batch-seeds", "0"], "batch_seeds must be an integer >= 1"),
    ],
)
def test_bad_input(tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    proc = in_process(capsys, *args, "--out", str(out))
    one_error_line(proc, needle)
    # Nothing half-written: no solution file, and no trial row.
    assert not (out / "solutions").exists()


def test_malformed_toml(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    out = tmp_path / "o"
    cases = [
        ("[sweep\nenv = 'CartPole-v1'", "malformed TOML"),
        ("[sweep]\nenv = 'CartPole-v1'\ndims = [1]\nbudgte = 3\n", "unknown key(s) in [sweep]: budgte"),
        ("[sweep]\nenv = 'digits-fc'\ndims = [8]\nbatch_seeds = 0\n", "'batch_seeds' must be a positive integer"),
        ("[sweep]\nenv = 'CartPole-v1'\ndims = [1, 0]\n", "d must be >= 1"),
    ]
    for text, needle in cases:
        cfg.write_text(text)
        assert needle in one_error_line(in_process(capsys, "sweep", "--config", str(cfg), "--out", str(out)), needle)
        assert not out.exists()  # refused before anything was written


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; use a path under a file instead")
def test_unwritable_output_non_root(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    assert "cannot create" in one_error_line(run_cli("run", "--env", "CartPole-v1", "--dim", "2", "--out", str(ro / "x")),
                                             "cannot create")
    assert list(ro.iterdir()) == []


def test_output_path_that_cannot_be_a_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = one_error_line(run_cli("run", "--env", "CartPole-v1", "--dim", "2", "--out", str(blocker / "sub")),
                          "cannot create output directory")
    assert str(blocker / "sub") in line
    assert blocker.read_text() == "x"  # the file in the way is left as it was


def test_corrupted_store_for_dint_and_sweep(tmp_path):
    junk = os.urandom(4096)
    (tmp_path / "results.sqlite").write_bytes(junk)
    for args in (("dint", str(tmp_path)), ("sweep", "--env", "CartPole-v1", "--dims", "2", "--out", str(tmp_path))):
        assert "results.sqlite" in one_error_line(run_cli(*args), "corrupted")
        assert (tmp_path / "results.sqlite").read_bytes() == junk  # never overwritten or "repaired"
    assert not (tmp_path / "solutions").exists()


def test_run_replay_dint_roundtrip_and_corrupted_solution(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", "--env", "CartPole-v1", "--dim", "3", "--budget", "1500", "--eval-episodes", "3",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "compression D/d = 1536.7x" in text
    (sol,) = list((out / "solutions").glob("*.json"))
    assert main(["replay", str(sol)]) == 0
    replay_text = capsys.readouterr().out
    replayed = float(replay_text.split("replayed: ")[1].split()[0])
    recorded = json.loads(sol.read_text())["metrics"]["final_mean"]
    assert replayed == pytest.approx(recorded, rel=1e-4)
    assert main(["dint", str(out), "--json"]) == 0
    (res,) = json.loads(capsys.readouterr().out)
    assert res["env"] == "CartPole-v1" and res["dims"][0]["d"] == 3

    npz = sol.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[:-7] + b"garbage")
    one_error_line(run_cli("replay", str(sol)), "corrupted (checksum mismatch)")
    sol.write_text("{not json")
    one_error_line(run_cli("replay", str(sol)), "not valid JSON")
    one_error_line(run_cli("replay", str(tmp_path / "missing.json")), "does not exist")


def test_nan_env_trial_is_recorded_as_failed(tmp_path, capsys):
    import gymnasium as gym
    from tests_helpers import NaNEnv  # noqa: F401  (registers the env)

    assert "rlsub-test/NaNCli-v0" in gym.registry
    code = main(["run", "--env", "rlsub-test/NaNCli-v0", "--dim", "2", "--budget", "100", "--out", str(tmp_path)])
    assert code == 1
    assert "non-finite" in capsys.readouterr().err
    from rlsub.results.store import Store

    with Store(tmp_path) as s:
        (row,) = list(s.rows(status="failed"))
        assert "non-finite" in row.error
    assert not (tmp_path / "solutions").exists()


def test_help_explains_dint():
    proc = run_cli("dint", "--help")
    assert proc.returncode == 0 and "smallest tested subspace dimension" in proc.stdout
    for sub in ["run", "sweep", "replay", "envs", "methods"]:
        assert run_cli(sub, "--help").returncode == 0


def test_envs_lists_presets(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "CartPole-v1" in out and "InvertedPendulum-v5" in out


def test_supervised_task_through_sweep_dint_and_replay(tmp_path, capsys):
    out = tmp_path / "sup"
    assert main(["sweep", "--task", "digits-fc", "--dims", "16,full", "--seeds", "1", "--budget", "3000",
                 "--workers", "1", "--no-progress", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "digits-fc | adam | dense | FC 64-64 D=8970" in text and "measured: full-space run, 1 seeds: 0" in text
    from rlsub.results.store import Store

    with Store(out, create=False) as s:
        rows = {r.d: r for r in s.rows()}
    assert rows[16].kind == "supervised" and 0.1 < rows[16].final_mean <= 1
    assert main(["replay", str(out / rows[16].artifact)]) == 0
    rep = capsys.readouterr().out
    assert f"test accuracy {rows[16].final_mean:.6g}" in rep


def test_auto_projection_resolves_to_a_concrete_one(tmp_path, capsys):
    from rlsub.sweeps.spec import SweepSpec

    spec = SweepSpec(envs=["CartPole-v1"], methods=["cmaes", "dqn"], dims=[8, 500, None], seeds=[0],
                     projections=["auto"])
    projs = {(c.method, c.dim): c.projection_name for c in plan_sweep(spec).trials}
    # One projection per (env, method), chosen for the largest d (4610·500 > 1e6): never mixed in a curve.
    assert projs == {("cmaes", 8): "sparse", ("cmaes", 500): "sparse", ("cmaes", None): "identity",
                     ("dqn", 8): "sparse", ("dqn", 500): "sparse", ("dqn", None): "identity"}
    assert main(["run", "--env", "CartPole-v1", "--dim", "2", "--projection", "auto", "--budget", "500",
                 "--eval-episodes", "2", "--out", str(tmp_path / "o")]) == 0
    assert "CartPole-v1 cmaes dense d=2" in capsys.readouterr().out
    proc = in_process(capsys, "sweep", "--adaptive", "--env", "CartPole-v1", "--projection", "auto",
                      "--out", str(tmp_path / "a"))
    one_error_line(proc, "--adaptive needs a concrete --projection")


def test_missing_optional_dependency_is_one_line(tmp_path, capsys):
    """LunarLander without Box2D: what to install, exit 2, nothing stored (run and sweep)."""
    pytest.importorskip("gymnasium")
    try:
        import Box2D  # noqa: F401
        pytest.skip("Box2D is installed here")
    except ImportError:
        pass
    out = tmp_path / "ll"
    proc = in_process(capsys, "run", "--env", "LunarLander-v3", "--method", "cmaes", "--dim", "2", "--budget", "100",
                      "--out", str(out))
    line = one_error_line(proc, "LunarLander-v3 needs Box2D")
    assert "pip install 'gymnasium[box2d]'" in line and not out.exists()
    proc = in_process(capsys, "sweep", "--env", "LunarLander-v3", "--dims", "2", "--out", str(out))
    one_error_line(proc, "LunarLander-v3 needs Box2D")
    assert not out.exists()


def test_missing_dependency_of_another_env_quotes_gymnasium(tmp_path, capsys):
    import gymnasium as gym

    def needs_thing(**kwargs):
        raise gym.error.DependencyNotInstalled("thing is not installed, run `pip install thing`")

    gym.register(id="rlsub-test/NeedsThing-v0", entry_point=needs_thing)
    proc = in_process(capsys, "run", "--env", "rlsub-test/NeedsThing-v0", "--dim", "2", "--out", str(tmp_path / "o"))
    one_error_line(proc, "rlsub-test/NeedsThing-v0 needs a package that is not installed: thing is not installed")
    assert not (tmp_path / "o").exists()


def test_command_line_overrides_the_config(tmp_path, capsys, monkeypatch):
    """With --config, options given on the command line win; options left out keep the file's values."""
    import rlsub.sweeps.run
    from rlsub.results.store import Store

    seen = {}

    def fake_run_sweep(spec, out, **kw):
        seen["spec"], seen["out"], seen["kw"] = spec, out, kw
        Store(out).close()
        return {"total": 0, "skipped": 0, "done": 0, "failed": 0, "crashed": 0}

    monkeypatch.setattr(rlsub.sweeps.run, "run_sweep", fake_run_sweep)
    cfg = tmp_path / "s.toml"
    cfg.write_text('[sweep]\nenv = "CartPole-v1"\nmethod = "cmaes"\ndims = [2, 4]\nseeds = 5\nbudget = 60000\n'
                   f'out = "{tmp_path / "file_out"}"\nworkers = 2\n[sweep.params.cmaes]\nsigma0 = 0.5\npopsize = 8\n')
    assert main(["sweep", "--config", str(cfg), "--no-progress"]) == 0
    spec = seen["spec"]
    assert (spec.seeds, spec.budget, spec.dims, spec.projections, spec.params) == (
        [0, 1, 2, 3, 4], 60000, [2, 4], [], {"cmaes": {"sigma0": 0.5, "popsize": 8}})
    assert (seen["out"], seen["kw"]["workers"]) == (str(tmp_path / "file_out"), 2)
    assert main(["sweep", "--config", str(cfg), "--seeds", "100-104", "--budget", "1000", "--projection", "dense",
                 "--param", "sigma0=2", "--eval-episodes", "3", "--workers", "1", "--out", str(tmp_path / "cli_out"),
                 "--no-progress"]) == 0
    spec = seen["spec"]
    assert spec.seeds == [100, 101, 102, 103, 104] and spec.budget == 1000 and spec.projections == ["dense"]
    assert spec.eval_episodes == 3 and spec.dims == [2, 4] and spec.envs == ["CartPole-v1"]
    assert spec.params == {"cmaes": {"sigma0": "2", "popsize": 8}}  # merged: the file's popsize stays
    assert (seen["out"], seen["kw"]["workers"]) == (str(tmp_path / "cli_out"), 1)
    capsys.readouterr()
