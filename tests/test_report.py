"""The comparison report: files, table content and computed sentences."""

import csv

from rlsub.report import comparisons, reference_rows, write_report
from rlsub.store import Store
from tests_helpers import stored


def fill(store, env, kind, dint, D, low=0.0, best=500.0, network="MLP 64-64"):
    for d in [1, 2, 4, 8, 16, 32, 64]:
        for seed in range(3):
            perf = 1.0 if d >= dint else 0.3
            store.add(f"{env}-{d}-{seed}", **stored(env=env, kind=kind, d=d, D=D, seed=seed, fingerprint=env,
                                                    network=network, r_low=low, r_best=best,
                                                    final_returns=[low + perf * (best - low)]))


def test_report_files_and_content(tmp_path, monkeypatch):
    import figure_check

    figures = figure_check.record(monkeypatch)
    with Store(tmp_path / "a") as s:
        fill(s, "CartPole-v1", "rl", 4, 4610)
    with Store(tmp_path / "b") as s:
        fill(s, "InvertedPendulum-v5", "rl", 32, 4545, best=1000.0)
    index = write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "rep", n_boot=200)
    rep = tmp_path / "rep"
    for name in ["index.html", "index.md", "dint.csv", "dint.json"]:
        assert (rep / name).stat().st_size > 0
    assert sorted(figures) == ["dint_bars.png", "performance_vs_d.png"]
    for name, (fig, dpi) in figures.items():
        figure_check.check_png(rep / name, fig, dpi)
    # One panel per task: its mean normalised performance at each tested d, and a mark at its d_int90.
    curves, _ = figures["performance_vs_d.png"]
    panels = {ax.get_title(): ax for ax in curves.axes if ax.get_visible()}
    assert sorted(panels) == ["CartPole-v1", "InvertedPendulum-v5"]
    for task, dint in (("CartPole-v1", 4), ("InvertedPendulum-v5", 32)):
        line = next(ln for ln in panels[task].lines if ln.get_marker() == "o")
        ds = [1, 2, 4, 8, 16, 32, 64]
        assert list(line.get_xdata()) == ds
        assert list(line.get_ydata()) == [1.0 if d >= dint else 0.3 for d in ds]
        assert any(list(ln.get_xdata()) == [dint, dint] for ln in panels[task].lines)  # the d_int90 mark
    # The bars: each task's measured d_int90, smallest first.
    bars, _ = figures["dint_bars.png"]
    measured = next(c for c in bars.axes[0].containers if c.get_label().startswith("measured"))
    assert [p.get_height() for p in measured.patches] == [4, 32]
    assert index == rep / "index.html"
    rows = {r["task"]: r for r in csv.DictReader((rep / "dint.csv").open())}
    assert rows["CartPole-v1"]["d_int90"] == "4"
    assert rows["CartPole-v1"]["compression D/d_int90"] == "1152x"
    assert rows["CartPole-v1"]["network"] == "MLP 64-64"
    assert rows["CartPole-v1"]["measure"] == "mean episode return"  # what the numbers are, per row
    assert rows["CartPole-v1"]["paper d_int90 (Li et al. 2018)"].startswith("25 (DQN")
    assert rows["InvertedPendulum-v5"]["d_int90"] == "32"
    md = (rep / "index.md").read_text()
    assert "CartPole-v1 (CMA-ES, dense) is 8x easier than InvertedPendulum-v5 (CMA-ES, dense)" in md
    html = (rep / "index.html").read_text()
    assert 'src="performance_vs_d.png"' in html and 'src="dint_bars.png"' in html


def test_reference_is_shipped_with_the_package():
    rows = reference_rows()
    mnist_fc = [r for r in rows if r.task == "MNIST" and r.network.startswith("FC")]
    assert mnist_fc and mnist_fc[0].dint == "750" and mnist_fc[0].D == 199210


def test_no_sentences_for_a_single_task():
    assert comparisons([]) == []
