"""Network width as a sweep axis, and the report's d_int-vs-D view and comparison rule."""

from __future__ import annotations

import csv

import pytest
from tests_helpers import stored

from rlsub.analysis.report import comparisons, width_series, write_report
from rlsub.cli.main import _widths, build_parser
from rlsub.errors import ConfigError
from rlsub.results.store import Store
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.spec import SweepSpec, load_sweep_config


def test_hidden_sizes_are_a_sweep_axis():
    spec = SweepSpec(envs=["CartPole-v1"], methods=["cmaes"], dims=[2, None], seeds=[0], hidden=[(8,), (32, 32)])
    trials = plan_sweep(spec).trials
    assert sorted({c.hidden for c in trials}) == [(8,), (32, 32)] and len(trials) == 4
    fps = {c.hidden: {t.fingerprint() for t in trials if t.hidden == c.hidden} for c in trials}
    assert all(len(v) == 1 for v in fps.values()) and fps[(8,)] != fps[(32, 32)]  # each width its own experiment


def test_hidden_from_the_command_line_and_toml(tmp_path):
    args = build_parser().parse_args(["sweep", "--env", "CartPole-v1", "--dims", "2", "--hidden", "16,16",
                                      "--hidden", "64,64;256,256", "--out", "x"])
    assert _widths(args.hidden) == [(16, 16), (64, 64), (256, 256)]
    assert _widths(["64,64"]) == (64, 64)
    f = tmp_path / "s.toml"
    f.write_text('[sweep]\nenv = "CartPole-v1"\ndims = [2]\nhidden = [[16], [64, 64]]\n')
    assert load_sweep_config(f)[0].hidden == [(16,), (64, 64)]
    f.write_text('[sweep]\nenv = "CartPole-v1"\ndims = [2]\nhidden = [16, 16]\n')
    assert load_sweep_config(f)[0].hidden == (16, 16)
    f.write_text('[sweep]\nenv = "CartPole-v1"\ndims = [2]\nhidden = [16, "x"]\n')
    with pytest.raises(ConfigError, match="hidden"):
        load_sweep_config(f)


def _fill(store, fp, D, dint, seeds=5, hidden=None, budget=None):
    for d in (2, 4, 8, 16, 32):
        for s in range(seeds):
            perf = 0.95 if d >= dint else 0.3
            store.add(f"{fp}-{d}-{s}", **stored(d=d, D=D, seed=s, fingerprint=fp, final_returns=[500 * perf],
                                                config={"env": "CartPole-v1", "method": "cmaes", "dim": d,
                                                        "seed": s, "hidden": hidden, "budget": budget}))


def test_report_plots_dint_against_D_for_several_widths(tmp_path, monkeypatch):
    import figure_check

    figures = figure_check.record(monkeypatch)
    with Store(tmp_path / "s") as st:
        _fill(st, "narrow", 300, 8, hidden=[8])
        _fill(st, "wide", 20000, 8, hidden=[128, 128])
    write_report([tmp_path / "s"], tmp_path / "r", n_boot=200)
    fig, dpi = figures["dint_vs_D.png"]
    figure_check.check_png(tmp_path / "r" / "dint_vs_D.png", fig, dpi)
    (ax,) = fig.axes
    (series,) = ax.containers  # one task: one d_int90-vs-D series with a point per width
    data = series.lines[0]
    # plotted at the estimate: the fit steps from 0.3 at d = 4 to 0.95 at d = 8, crossing 0.9 at
    # (0.9 - 0.3) / 0.65 of that step in ln d
    cross = 4 * 2 ** ((0.9 - 0.3) / 0.65)
    assert list(data.get_xdata()) == [300, 20000] and list(data.get_ydata()) == pytest.approx([cross, cross])
    assert ax.get_xscale() == ax.get_yscale() == "log"
    rows = list(csv.DictReader((tmp_path / "r" / "dint.csv").open()))
    assert sorted(r["experiment"] for r in rows) == ["hidden 128-128", "hidden 8"]
    with Store(tmp_path / "s", create=False) as st:
        from rlsub.analysis.dint import compute_dint

        (series,) = width_series(compute_dint(st.rows(), n_boot=100)).values()
    assert [r.D for r in series] == [300, 20000] and [r.dint for r in series] == [8, 8]


def test_overlapping_cis_are_not_distinguishable(tmp_path):
    from rlsub.analysis.dint import compute_dint

    with Store(tmp_path) as st:
        _fill(st, "a", 4610, 4, budget=1000)
        _fill(st, "b", 4610, 8, budget=2000)
        # c: at d = 8 four seeds score 1.0 and one 0.5 (mean 0.9: the fit crosses exactly there), all pass at 16.
        for d in (2, 4, 8, 16, 32):
            for s in range(5):
                perf = 0.3 if d < 8 else (0.5 if d == 8 and s == 0 else 1.0)
                st.add(f"c-{d}-{s}", **stored(env="Other-v0", d=d, D=4610, seed=s, fingerprint="c",
                                              final_returns=[500 * perf]))
        results = compute_dint(st.rows(), n_boot=500)
    by = {(r.env, r.label): r for r in results}
    c = by[("Other-v0", "")]
    assert c.estimate == pytest.approx(8) and c.estimate_ci[0] <= 8 <= c.estimate_ci[1]
    text = "\n".join(comparisons(results, on="dint"))
    # the d_int90 comparison is a test on the ratio of the estimates: b's 7.6 vs c's 8, and even a vs b (2x apart)
    # are not resolved by 5 seeds whose scores sit just above the threshold
    assert ("CartPole-v1 (CMA-ES, dense, budget 2000) and Other-v0 (CMA-ES, dense) are not distinguishable: "
            "d_int90(Other-v0 (CMA-ES, dense))/d_int90(CartPole-v1 (CMA-ES, dense, budget 2000)) = 1.1x [") in text
    assert ("CartPole-v1 (CMA-ES, dense, budget 1000) and CartPole-v1 (CMA-ES, dense, budget 2000) are not "
            "distinguishable: d_int90(CartPole-v1 (CMA-ES, dense, budget 2000))/d_int90(CartPole-v1 (CMA-ES, dense, "
            "budget 1000)) = 2x [") in text
