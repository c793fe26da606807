"""The comparison report: files, table content and computed sentences."""

import csv

import pytest
from tests_helpers import stored

from rlsub.analysis.report import comparisons, reference_rows, write_report
from rlsub.results.store import Store


def fill(store, env, kind, dint, D, low=0.0, best=500.0, network="MLP 64-64", seeds=5, full=None):
    if full is not None:  # full-space baseline trials scoring ``full``
        for seed in range(seeds):
            store.add(f"{env}-full-{seed}", **stored(env=env, kind=kind, d=D, D=D, seed=seed, fingerprint=env,
                                                     is_full=True, projection="identity", network=network,
                                                     r_low=low, r_best=best, final_returns=[full]))
    for d in [1, 2, 4, 8, 16, 32, 64]:
        for seed in range(seeds):
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
        # the d_int90 mark, at the estimate: the fit steps from 0.3 at dint/2 to 1.0 at dint, so it crosses
        # 0.9 at (0.9 - 0.3) / 0.7 of that step in ln d
        cross = dint / 2 * 2 ** ((0.9 - 0.3) / 0.7)
        assert any(len(ln.get_xdata()) == 2 and ln.get_xdata()[0] == ln.get_xdata()[1] == pytest.approx(cross)
                   for ln in panels[task].lines)
    # The bars: each task's measured d_int90, smallest first.
    bars, _ = figures["dint_bars.png"]
    measured = next(c for c in bars.axes[0].containers if c.get_label().startswith("measured"))
    assert [p.get_height() for p in measured.patches] == pytest.approx([c / 2 * 2 ** ((0.9 - 0.3) / 0.7) for c in (4, 32)])  # the estimates
    assert index == rep / "index.html"
    rows = {r["task"]: r for r in csv.DictReader((rep / "dint.csv").open())}
    # estimate first: the fit crosses 0.9 between d = 2 (0.3) and d = 4 (1.0); the grid value beside it
    est = 2 * 2 ** (0.6 / 0.7)
    assert rows["CartPole-v1"]["d_int90 (estimate)"] == f"{est:.3g}" and rows["CartPole-v1"]["grid d_int90"] == "4"
    assert rows["CartPole-v1"]["90% CI"].startswith("[2, ")
    assert rows["CartPole-v1"]["compression D/d_int90"] == f"{4610 / est:.0f}x"
    assert rows["CartPole-v1"]["P(reach 90% of baseline) = 1/2 at d"].startswith("2.83 [2, ")
    assert rows["CartPole-v1"]["baseline vs reference"] == "at or above"
    assert rows["CartPole-v1"]["network"] == "MLP 64-64"
    assert rows["CartPole-v1"]["measure"] == "mean episode return"  # what the numbers are, per row
    assert rows["CartPole-v1"]["paper d_int90 (Li et al. 2018)"].startswith("25 (DQN")
    assert rows["InvertedPendulum-v5"]["grid d_int90"] == "32"
    md = (rep / "index.md").read_text()
    # the comparison is a test on the ratio of the estimates (29.0 / 3.62 = 8), and the report counts them
    assert "1 comparison(s), each a 90% test on the ratio of two estimates" in md
    assert ("CartPole-v1 (CMA-ES, dense) is 8x easier than InvertedPendulum-v5 (CMA-ES, dense): "
            "d_int90(InvertedPendulum-v5 (CMA-ES, dense))/d_int90(CartPole-v1 (CMA-ES, dense)) = 8x [") in md
    html = (rep / "index.html").read_text()
    assert 'src="performance_vs_d.png"' in html and 'src="dint_bars.png"' in html


def test_reference_is_shipped_with_the_package():
    rows = reference_rows()
    mnist_fc = [r for r in rows if r.task == "MNIST" and r.network.startswith("FC")]
    assert mnist_fc and mnist_fc[0].dint == "750" and mnist_fc[0].D == 199210


def test_no_sentences_for_a_single_task():
    assert comparisons([]) == []


def test_an_untrained_baseline_is_named_and_not_compared(tmp_path):
    with Store(tmp_path / "a") as s:
        fill(s, "CartPole-v1", "rl", 4, 4610, full=200.0)  # baseline mean 200 < the reference 475
        fill(s, "InvertedPendulum-v5", "rl", 32, 4545, best=1000.0)
    write_report([tmp_path / "a"], tmp_path / "rep", n_boot=200)
    rows = {r["task"]: r for r in csv.DictReader((tmp_path / "rep" / "dint.csv").open())}
    assert rows["CartPole-v1"]["baseline vs reference"] == "baseline below reference: not a d_int"
    assert rows["CartPole-v1"]["compression D/d_int90"] == "-"
    assert rows["InvertedPendulum-v5"]["baseline vs reference"] == "at or above"
    assert "## Comparisons" not in (tmp_path / "rep" / "index.md").read_text()  # the only pair has no d_int


def test_pairs_with_no_ratio_to_test_are_not_counted(tmp_path):
    """Two tasks that never reach the threshold give no ratio: that pair is not a comparison, and the
    note counts only the tests made; past the limit a line says how many pairs were left out."""
    from rlsub.analysis.dint import compute_dint

    with Store(tmp_path / "s") as s:
        fill(s, "CartPole-v1", "rl", 4, 4610)
        fill(s, "Acrobot-v1", "rl", 1000, 4803)  # never reaches 0.9 on 1..64
        fill(s, "Pendulum-v1", "rl", 1000, 4481)
    with Store(tmp_path / "s", create=False) as s:
        results = compute_dint(s.rows(), n_boot=200)
    sentences = comparisons(results)
    assert len(sentences) == 2 and all("CartPole-v1" in x for x in sentences)
    assert comparisons(results, limit=1)[-1].startswith("(1 more pair(s) not tested here")
