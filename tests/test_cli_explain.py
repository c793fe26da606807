"""The terminal explains itself (issue 32): every method and its hyper-parameters, ``rlsub dint``'s legend and
advice, learning curves, and every argument refused in one line before anything is written."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from test_cli import in_process as _in_process
from test_cli import one_error_line

from rlsub.cli.main import main
from rlsub.cli.parser import build_parser
from rlsub.results.store import Store


def in_process(capsys, *args):
    """``test_cli.in_process``, with argparse's refusals (SystemExit 2) as an exit status."""
    import subprocess

    try:
        return _in_process(capsys, *args)
    except SystemExit as e:
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, e.code, captured.out, captured.err)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from report_store import demo_store

    path = tmp_path_factory.mktemp("demo") / "s"
    demo_store(path)
    return path


# -- methods ------------------------------------------------------------------------------------------------
def test_methods_lists_every_method(capsys):
    from rlsub.agents import METHODS
    from rlsub.cli.names import METHOD_NAMES

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines()[1:] if line.strip() and not line.startswith(("direct", "'"))}
    assert set(METHODS) | {"adam", "sgd"} <= listed
    assert set(METHOD_NAMES) <= listed  # everything --method accepts
    assert "rlsub methods NAME" in out


@pytest.mark.parametrize("name", ["cmaes", "es", "dqn", "ppo", "reinforce", "adam", "sgd"])
def test_method_prints_each_hyper_parameter_with_default_and_a_line(capsys, name):
    from rlsub.cli.explain import method_config

    assert main(["methods", name]) == 0
    out = capsys.readouterr().out.splitlines()
    for f in dataclasses.fields(method_config(name)):
        (line,) = [ln for ln in out if ln.split()[:1] == [f.name]]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        shown = repr(default) if isinstance(default, str) else str(default)
        assert shown in line.split(), (f.name, line)
        meaning = line.split(shown, 1)[1].strip()
        assert meaning and meaning != "-", f"{name}.{f.name} has no explanation"


def test_cmaes_sigma0_is_explained(capsys):
    assert main(["methods", "cmaes"]) == 0
    out = capsys.readouterr().out
    assert "sigma0" in out and "Initial step size" in out and "diagonal_above" in out and "1000" in out


def test_unknown_method_is_one_line(capsys):
    proc = in_process(capsys, "methods", "cmaez")
    line = one_error_line(proc, "unknown method 'cmaez'")
    assert proc.returncode == 2 and proc.stdout == "" and "cmaes" in line  # names the method meant, prints nothing else


# -- dint: no number for invalid groups, a legend, advice, and an unreachable threshold named ----------------
def test_dint_legend_advice_and_invalid_groups(capsys, demo):
    assert main(["dint", str(demo), "--boot", "200"]) == 0
    out = capsys.readouterr().out
    blocks = {b.splitlines()[0].split(" | ")[0] + "/" + b.splitlines()[0].split("D=")[-1]: b
              for b in out.split("\n\n") if " | " in b.splitlines()[0]}
    for key in ("Pusher-v5/6215", "Acrobot-v1/4611"):
        block = blocks[key]
        assert "d_int90: none: baseline below reference: not a d_int" in block
        assert "d_int90 =" not in block and "compression" not in block and "P(seed reaches" not in block
    assert "next: the CI is open above (>16): extend --dims past 16" in blocks["CartPole-v1/17410"]
    assert "--until-ci 2" in blocks["CartPole-v1/17410"]
    last = out.strip().splitlines()[-1]
    assert last.startswith("columns: d = subspace dimension") and "reach90 =" in last and "* = the mean reaches 90%" in last
    pusher = blocks["Pusher-v5/6215"]
    assert "threshold looks unreachable" in pusher and "solved_threshold" in pusher and "[[envs]]" in pusher
    assert "subspace runs beat the full-space baseline at every tested d" in pusher
    # CartPole's undertrained-looking groups are not told their threshold is unreachable (registered floor)
    assert "unreachable" not in blocks["CartPole-v1/4610"]


def test_advice_for_an_open_or_wide_ci():
    """One line of what to run next, from the estimate's CI alone (any estimator)."""
    from types import SimpleNamespace

    from rlsub.analysis.dint_notes import advice

    def result(estimate, ci, seeds=5):
        return SimpleNamespace(computable=True, baseline_below_reference=False, estimate=estimate, estimate_ci=ci,
                               seeds=seeds, dims=[SimpleNamespace(d=d) for d in (1, 2, 4, 8, 16)])

    wide = advice(result(7.0, (4.0, 16.0)))
    # ln(4)/ln(2) = 2: about 4x the seeds at the two d's around the crossing, 5 -> 20: 2 x 15 = 30 more trials
    assert wide.startswith("the CI is wide (hi/lo = 4.0): --until-ci 2 adds about 30 trials")
    assert advice(result(7.0, (4.0, None))).startswith("the CI is open above (>16): extend --dims past 16 (e.g. add 32,64)")
    assert advice(result(None, (16.0, None))) == "not reached up to d = 16: extend --dims past 16 (e.g. add 32,64)"
    assert advice(result(7.0, (5.0, 9.0))) is None  # narrow: nothing to add
    # the policy's own D bounds what a larger grid can add (a linear HalfCheetah policy: D = 108)
    small = result(39.0, (11.0, None))
    small.D, small.dims = 108, [SimpleNamespace(d=d) for d in (1, 8, 64)]
    assert advice(small) == ("the CI is open above (>64): d = 64 is already over half the policy's D = 108, so a "
                             "larger d nears the full space; --until-ci 2 to add seeds where the crossing is decided")
    small.D = 200
    assert advice(small).startswith("the CI is open above (>64): extend --dims past 64 (e.g. add 128), or --until-ci 2")
    below = result(7.0, (4.0, None))
    below.baseline_below_reference = True
    assert advice(below) is None  # no d_int, no advice on its CI


# -- curves -------------------------------------------------------------------------------------------------
def test_curves_in_the_terminal_and_as_png(capsys, demo, tmp_path):
    assert main(["curves", str(demo), "--width", "20"]) == 0
    out = capsys.readouterr().out
    assert "CartPole-v1 | cmaes | dense | MLP 64-64 D=4610" in out
    block = next(b for b in out.split("\n\n") if b.startswith("CartPole-v1 | cmaes | dense | MLP 64-64"))
    line = next(ln for ln in block.splitlines() if ln.strip().startswith("d=8 "))
    assert any(ch in line for ch in "▁▂▃▄▅▆▇█") and "5 seeds" in line
    assert "reference 475" in block and "     full  " in block
    png = tmp_path / "c.png"
    assert main(["curves", str(demo), "--out", str(png)]) == 0
    assert png.stat().st_size > 10_000 and "learning curves written" in capsys.readouterr().out
    one_error_line(in_process(capsys, "curves", str(demo), "--out", str(tmp_path / "c.txt")), "takes a .png")
    one_error_line(in_process(capsys, "curves", str(tmp_path / "nothing")), "no results database")


# -- every argument checked before anything is written -------------------------------------------------------
@pytest.mark.parametrize("args,needle", [
    (["--budget", "0"], "argument --budget: expected a positive whole number"),
    (["--budget", "10x"], "argument --budget: expected a positive whole number"),
    (["--method", "dqn", "--param", "engine=batchd"], "engine must be one of single, batched, got 'batchd'"),
    (["--param", "sigma0=0"], "sigma0 must be > 0"),
    (["--param", "sigma=0.5"], "(did you mean sigma0?); known: diagonal_above, popsize, restarts, sigma0 ('rlsub methods cmaes'"),
    (["--workers", "0"], "argument --workers: must be >= 1"),
    (["--dims", "1,2,,4"], "--dims has an empty item"),
    (["--dims", "1,2,"], "--dims has an empty item"),
])
def test_refused_in_one_line_before_a_store_exists(tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    base = ["sweep", "--env", "CartPole-v1", "--seeds", "1", "--no-progress", "--out", str(out)]
    if "--dims" not in args:
        base += ["--dims", "1,full"]
    one_error_line(in_process(capsys, *base, *args), needle)
    assert not out.exists()  # no folder, no empty results.sqlite


@pytest.mark.parametrize("text,value", [("10k", 10_000), ("1e5", 100_000), ("100_000", 100_000), ("2.5M", 2_500_000),
                                        ("1500", 1500)])
def test_budget_shorthands(text, value):
    assert build_parser().parse_args(["sweep", "--env", "CartPole-v1", "--budget", text]).budget == value


def test_env_typo_suggestions_are_distinct():
    from rlsub.cli.names import quick_check

    msg = quick_check("CartPol-v1", [])
    names = msg.split("did you mean ")[1].rstrip("?)").split(", ")
    assert names[0] == "CartPole-v1" and len(names) == len(set(names))


def test_report_out_bad_paths_are_one_line(tmp_path, capsys, demo):
    f = tmp_path / "file"
    f.write_text("x")
    one_error_line(in_process(capsys, "report", str(demo), "--out", str(f)), "is an existing file")
    one_error_line(in_process(capsys, "report", str(demo), "--out", str(f / "sub")), "is a file")
    assert f.read_text() == "x"


def test_report_out_unwritable_is_one_line(tmp_path, capsys, demo):
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.access(ro, os.W_OK):  # root writes past mode bits; procfs refuses even root a new entry
        ro = Path("/proc/self")
        if not ro.is_dir() or os.access(ro, os.W_OK):
            pytest.skip("no directory here that this user cannot write")
    proc = in_process(capsys, "report", str(demo), "--out", str(ro / "rep"))
    line = one_error_line(proc, "is not writable")
    assert proc.returncode == 2 and str(ro) in line and not (ro / "rep").exists()  # refused before anything is written


def test_ctrl_c_says_how_many_trials_were_stored(tmp_path, capsys, monkeypatch):
    from tests_helpers import stored

    import rlsub.sweeps.run

    out = tmp_path / "o"
    with Store(out) as s:  # one trial from an earlier run
        s.add("old", **stored(d=1))

    def interrupted(spec, out_dir, **kw):
        with Store(out_dir) as s:
            s.add("a", **stored(d=2))
            s.add("b", **stored(d=3))
        raise KeyboardInterrupt

    monkeypatch.setattr(rlsub.sweeps.run, "run_sweep", interrupted)
    proc = in_process(capsys, "sweep", "--env", "CartPole-v1", "--dims", "1,2", "--no-progress", "--out", str(out))
    assert proc.returncode == 130
    assert proc.stderr.strip() == (f"rlsub: interrupted; 2 trial(s) finished in this run and are stored in {out} "
                                   "(3 in all); rerun the same command to resume")


def test_sep_cma_is_said_once(tmp_path, capsys, monkeypatch, caplog):
    import rlsub.sweeps.run
    from rlsub.agents.cmaes import CMAES, CMAESConfig

    monkeypatch.setattr(rlsub.sweeps.run, "run_sweep",
                        lambda spec, out, **kw: {"total": 0, "skipped": 0, "done": 0, "failed": 0, "crashed": 0})
    Store(tmp_path / "o").close()
    assert main(["sweep", "--env", "CartPole-v1", "--dims", "8,16,32", "--seeds", "3", "--param", "diagonal_above=10",
                 "--no-progress", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert out.count("sep-CMA") == 1 and "d = 16, 32" in out
    with caplog.at_level(logging.WARNING):
        for seed in range(3):  # what a sweep's trials do: nothing at WARNING over the progress bar
            CMAES(d=20, seed=seed, config=CMAESConfig(diagonal_above=10))
    assert "sep-CMA" not in caplog.text


def test_default_budget_is_stated(capsys):
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["sweep"].format_help().split())
    assert "200k for any other Gymnasium id" in help_text and "100k, 2M or 1e5" in help_text
    assert main(["envs"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "a default --budget of 200k env steps" in out and "solved_threshold" in out


def test_curves_of_a_baseline_alone_use_the_stores_recorded_reference(tmp_path):
    """An atlas row whose grid has not run: its only curves are the baseline's, drawn against the reference
    its protocol recorded (not the env's registered threshold)."""
    from tests_helpers import stored

    from rlsub.analysis.curves import learning_curves

    with Store(tmp_path / "s") as st:
        st.add("full-0", **stored(d=4610, D=4610, is_full=True, projection="identity", fingerprint="fp", solved=475.0,
                                  final_returns=[300.0]))
        st.set_reference(325.0, "a protocol's reference")
    (group,) = learning_curves([tmp_path / "s"])
    assert group.projection == "full space only" and group.reference == 325.0
