"""The default projection is ``auto``: resolved before any key is made, announced in one line, and never
pooled with (or silently repeating) trials a store holds under another projection."""

from dataclasses import replace

import pytest

from rlsub.analysis.dint import compute_dint
from rlsub.cli.main import main
from rlsub.errors import ConfigError
from rlsub.projections import choose_projection, explain_projection
from rlsub.results.store import Store
from rlsub.sweeps.adaptive import adaptive_search
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.spec import SweepSpec, load_sweep_config, parse_seeds

CARTPOLE = dict(envs=["CartPole-v1"], methods=["cmaes", "dqn"], dims=[4, 300, None], seeds=[0, 1], budget=500,
                eval_episodes=2)


def keys(spec: SweepSpec) -> dict[tuple, str]:
    return {(c.method, c.dim, c.seed, c.projection_name): c.key() for c in plan_sweep(spec).trials}


def test_explicit_projection_keys_are_those_stored_before():
    """Keys computed with the code before ``auto`` became the default (same configs, same digests)."""
    dense = keys(SweepSpec(**CARTPOLE, projections=["dense"]))
    assert dense[("cmaes", None, 0, "identity")] == "43a6ff6a3cf9da5d4741"
    assert dense[("cmaes", 4, 0, "dense")] == "de42b7fd9abafecdc0f8"
    assert dense[("cmaes", 300, 0, "dense")] == "6a93300dd39a25d11d89"
    assert keys(SweepSpec(**CARTPOLE, projections=["sparse"]))[("cmaes", 300, 0, "sparse")] == "9c85cfb20c6c4500b17f"


def test_default_is_auto_resolved_before_keys():
    spec = SweepSpec(**CARTPOLE)
    assert spec.projections == [] and {e.auto is not None for e in plan_sweep(spec).experiments} == {True}
    got = keys(spec)
    # 4610 · 300 > 10^6: sparse for both methods, for every d of the sweep (the largest d decides).
    assert {p for (_, d, _, p) in got if d is not None} == {"sparse"}
    assert got == keys(replace(spec, projections=["sparse"]))  # the stored rows name what they used
    # The README's main job (d <= 32, D = 4,610) stays dense.
    main_job = SweepSpec(envs=["CartPole-v1"], methods=["cmaes"], dims=[1, 2, 4, 8, 16, 32], seeds=[0])
    assert keys(main_job) == keys(replace(main_job, projections=["dense"]))


def test_projection_choices_say_which_and_why():
    spec = SweepSpec(**CARTPOLE)
    choices = {(e.env, e.method): e.auto for e in plan_sweep(spec).experiments}
    assert choices[("CartPole-v1", "cmaes")][0] == "sparse" and "a population" in choices[("CartPole-v1", "cmaes")][1]
    assert "one θ_d with gradients" in choices[("CartPole-v1", "dqn")][1]
    assert "D = 4,610, largest d = 300: D·d = 1,383,000 > 10^6" in choices[("CartPole-v1", "cmaes")][1]
    # An explicit projection is the user's choice: nothing to announce.
    assert [e.auto for e in plan_sweep(SweepSpec(**CARTPOLE, projections=["dense"])).experiments] == [None, None]


@pytest.mark.parametrize("D,d,population", [(4610, 64, True), (4610, 1000, True), (4610, 1000, False),
                                            (1_700_000, 6000, True), (1_700_000, 6000, False),
                                            (1_700_000, 60_000, True), (199_210, 750, False)])
def test_explain_projection_agrees_with_choose_projection(D, d, population):
    name, why = explain_projection(D, d, population)
    assert name == choose_projection(D, d, population) and why.startswith(f"D·d = {D * d:,}")


def test_toml_default_is_auto_and_explicit_dense_stays(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('[sweep]\nenv = "CartPole-v1"\ndims = [4, 300]\nseeds = "100-101"\n')
    spec, _ = load_sweep_config(f)
    assert spec.projections == [] and spec.seeds == [100, 101]
    assert {c.projection for c in plan_sweep(spec).trials} == {"sparse"}
    f.write_text('[sweep]\nenv = "CartPole-v1"\ndims = [4, 300]\nprojection = "dense"\n')
    assert {c.projection for c in plan_sweep(load_sweep_config(f)[0]).trials} == {"dense"}


def test_adaptive_default_stays_dense(tmp_path):
    """Adaptive search does not know its largest d in advance, so its default stays dense."""
    spec = SweepSpec(envs=["CartPole-v1"], methods=["cmaes"], dims=[], seeds=[0])
    seen = []

    def probe(at_d: SweepSpec) -> dict[str, int]:
        seen.append(at_d.projections)
        return {"done": 0, "failed": 0, "skipped": 0}

    (res,) = adaptive_search(spec, tmp_path, d_max=2, probe=probe)
    assert res.projection == "dense" and seen and all(p == ["dense"] for p in seen)


def test_parse_seeds_ranges():
    assert parse_seeds("3") == parse_seeds(3) == [0, 1, 2]
    assert parse_seeds("100-104") == [100, 101, 102, 103, 104]
    assert parse_seeds("0-2,9") == [0, 1, 2, 9] and parse_seeds([7, "10-11"]) == [7, 10, 11]
    for bad in ("5-3", "1-x", "0", [1.5]):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def sweep(capsys, out, *extra):
    code = main(["sweep", "--env", "CartPole-v1", "--method", "es", "--dims", "8,300", "--seeds", "1",
                 "--budget", "400", "--eval-episodes", "1", "--workers", "1", "--no-progress", "--out", str(out),
                 *extra])
    return code, capsys.readouterr().out.splitlines()


def test_default_sweep_into_an_old_default_store_is_its_own_group(tmp_path, capsys):
    out = tmp_path / "s"
    code, lines = sweep(capsys, out, "--projection", "dense")  # what the old default stored
    assert code == 0 and not [ln for ln in lines if ln.startswith("projection:")]

    code, lines = sweep(capsys, out)  # the default now
    notes = [ln for ln in lines if ln.startswith("projection:")]
    assert code == 0 and len(notes) == 2, lines
    assert notes[0].startswith("projection: auto chose sparse for CartPole-v1 es (MLP 64-64, D = 4,610, "
                               "largest d = 300: D·d = 1,383,000 > 10^6")
    assert "used dense, not sparse" in notes[1] and "never pooled" in notes[1]
    assert "trials: 2 total, 0 already stored, 2 done" in "\n".join(lines)  # nothing skipped as if it were theirs
    with Store(out, create=False) as s:
        rows = list(s.rows())
        results = compute_dint(rows, n_boot=50)
    assert sorted((r.projection, r.d) for r in rows) == [("dense", 8), ("dense", 300), ("sparse", 8), ("sparse", 300)]
    # Two groups, one seed each: never pooled.
    assert sorted(r.projection for r in results) == ["dense", "sparse"]
    assert all(s.seeds == 1 for r in results for s in r.dims)

    code, lines = sweep(capsys, out)  # rerun: its own trials are stored; no second warning
    notes = [ln for ln in lines if ln.startswith("projection:")]
    assert code == 0 and len(notes) == 1 and "trials: 2 total, 2 already stored, 0 done" in "\n".join(lines)


def test_run_defaults_to_auto(tmp_path, capsys):
    assert main(["run", "--env", "CartPole-v1", "--dim", "2", "--budget", "300", "--eval-episodes", "1",
                 "--out", str(tmp_path / "o")]) == 0
    assert "CartPole-v1 cmaes dense d=2" in capsys.readouterr().out


def test_report_paper_column_says_what_the_reference_says(tmp_path):
    """The paper column names the env, network and D the reference gives (no 'D=?')."""
    import csv

    from tests_helpers import stored

    from rlsub.analysis.report import reference_rows, write_report

    assert all(r.measured_on for r in reference_rows())
    with Store(tmp_path / "s") as s:
        for d in (1, 2, 4):
            for method in ("dqn", "cmaes"):  # the paper's protocol, and another method on the same network
                s.add(f"cp-{method}-{d}", **stored(env="CartPole-v0-li2018", kind="rl", method=method, d=d, D=562,
                                                   seed=0, fingerprint=f"cp-{method}", network="MLP 20-20", r_low=0.0,
                                                   r_best=200.0, final_returns=[200.0]))
    write_report([tmp_path / "s"], tmp_path / "rep", n_boot=50)
    rows = {r["method"]: r for r in csv.DictReader((tmp_path / "rep" / "dint.csv").open())}
    assert rows["DQN"]["paper d_int90 (Li et al. 2018)"] == "25 (DQN, CartPole-v0, FC 4-20-20-2, D = 562)"
    # the paper's DQN number never stands beside a CMA-ES group
    assert rows["CMA-ES"]["paper d_int90 (Li et al. 2018)"] == "not comparable (other protocol; see notes)"


def test_run_full_space_with_the_default_projection(tmp_path):
    """``rlsub run --dim full`` without --projection: the baseline runs (it ignores the projection) and is
    stored exactly as under the old default (--projection dense): same key, same stored config."""
    import json
    import sqlite3

    from rlsub.cli.main import main

    common = ["run", "--env", "CartPole-v1", "--method", "es", "--dim", "full", "--budget", "300",
              "--eval-episodes", "1"]
    assert main([*common, "--out", str(tmp_path / "default")]) == 0
    assert main([*common, "--projection", "dense", "--out", str(tmp_path / "dense")]) == 0
    rows = [sqlite3.connect(tmp_path / d / "results.sqlite").execute(
        "select key, config, projection, final_returns from trials").fetchall() for d in ("default", "dense")]
    assert rows[0] == rows[1] and len(rows[0]) == 1
    assert json.loads(rows[0][0][1])["projection"] == "dense" and rows[0][0][2] == "identity"


@pytest.mark.parametrize("seeds", ["²", "-3", "1,-2", "5-2", "a-b"])
def test_bad_seeds_are_one_error_line(tmp_path, capsys, seeds):
    from rlsub.cli.main import main

    assert main(["sweep", "--env", "CartPole-v1", "--dims", "1", f"--seeds={seeds}", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlsub: error: ") and not (tmp_path / "s" / "results.sqlite").exists()


@pytest.mark.parametrize("line, message", [('workers = "x"', "workers must be an integer"), ("workers = 0", "workers must"),
                                            ("out = 5", "out must be a path")])
def test_bad_run_options_in_a_config_are_one_error_line(tmp_path, capsys, line, message):
    from rlsub.cli.main import main

    cfg = tmp_path / "s.toml"
    cfg.write_text(f'[sweep]\nenv = "CartPole-v1"\ndims = [1]\nseeds = 1\n{line}\n')
    assert main(["sweep", "--config", str(cfg), "--out", str(tmp_path / "s")]) == 2
    assert message in capsys.readouterr().err
