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
    # Li et al.'s 25 is DQN on CartPole-v0 with D = 562: another protocol, said so, never beside this CMA-ES bar
    assert rows["CartPole-v1"]["paper d_int90 (Li et al. 2018)"] == "not comparable (other protocol; see notes)"
    assert rows["InvertedPendulum-v5"]["grid d_int90"] == "32"
    md = (rep / "index.md").read_text()
    # the comparison is a test on the ratio of the estimates (29.0 / 3.62 = 8), and the report counts them
    assert "1 comparison(s), each a 90% test on the ratio of two estimates" in md
    assert ("CartPole-v1 (CMA-ES, dense) is 8x easier than InvertedPendulum-v5 (CMA-ES, dense): "
            "d50(InvertedPendulum-v5 (CMA-ES, dense))/d50(CartPole-v1 (CMA-ES, dense)) = 8x [") in md
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
    md = (tmp_path / "rep" / "index.md").read_text()
    # the only pair has no d_int: no sentence, and the section says why
    assert "## Comparisons\n\nNone tested: a comparison needs two groups with a valid d_int; 1 of 2 have one." in md
    assert "is 8x easier" not in md and "not distinguishable" not in md


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


# -- what a researcher reads: invalid groups apart, open bounds open, paper values only where they compare --
def _demo(tmp_path, monkeypatch):
    import figure_check
    from report_store import demo_store

    figures = figure_check.record(monkeypatch)
    demo_store(tmp_path / "s")
    write_report([tmp_path / "s"], tmp_path / "rep", n_boot=200)
    for name, (fig, dpi) in figures.items():
        figure_check.check_png(tmp_path / "rep" / name, fig, dpi)
    return figures, {(r["task"], r["experiment"]): r for r in csv.DictReader((tmp_path / "rep" / "dint.csv").open())}


def test_invalid_groups_are_shown_apart_and_never_as_a_dint(tmp_path, monkeypatch):
    from rlsub.analysis.report_figures import INVALID_COLOR

    figures, rows = _demo(tmp_path, monkeypatch)
    for task in ("Pusher-v5", "Acrobot-v1"):
        row = rows[(task, "-")]
        assert row["baseline vs reference"] == "baseline below reference: not a d_int"
        assert row["d_int90 (estimate)"] == "none (baseline below reference)"
        assert row["90% CI"] == row["grid d_int90"] == row["compression D/d_int90"] == "-"
    assert rows[("MountainCar-v0", "-")]["d_int90 (estimate)"] == "not computable (see notes)"
    perf, _ = figures["performance_vs_d.png"]
    panels = {ax.get_title(): ax for ax in perf.axes if ax.get_visible()}
    for task in ("Pusher-v5", "Acrobot-v1"):
        ax = panels[task]
        (data,) = [ln for ln in ax.lines if ln.get_marker() == "o"]
        assert data.get_color() == INVALID_COLOR and data.get_linestyle() == "--"
        assert "not a d_int" in data.get_label()
        assert not [ln for ln in ax.lines if ln.get_linestyle() == ":"]  # no estimate mark
    # MountainCar's baseline sits on its floor: the panel says why it is empty
    assert any("not above the floor" in " ".join(t.get_text().split()) for t in panels["MountainCar-v0"].texts)
    bars, _ = figures["dint_bars.png"]
    names = [t.get_text() for t in bars.axes[0].get_xticklabels()]
    assert len(names) == 2 and all(n.startswith("CartPole-v1") for n in names)  # valid groups only
    widths, _ = figures["dint_vs_D.png"]
    assert all("Pusher" not in (c.get_label() or "") for c in widths.axes[0].containers)


def test_open_bounds_are_drawn_open_and_said_in_the_legend(tmp_path, monkeypatch):
    from rlsub.analysis.report_figures import OPEN_LABEL

    figures, rows = _demo(tmp_path, monkeypatch)
    assert rows[("CartPole-v1", "hidden 128-128")]["90% CI"].endswith(", >16]")  # tested up to 16 only
    for name in ("dint_bars.png", "performance_vs_d.png", "dint_vs_D.png"):
        fig, _ = figures[name]
        arrows = [a for ax in fig.axes for a in ax.texts if getattr(a, "arrow_patch", None) is not None]
        assert arrows, name
        labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        assert OPEN_LABEL in labels, name
    # the bar's whisker stops at the largest tested d (16), not at an invented 32
    bars, _ = figures["dint_bars.png"]
    measured = next(c for c in bars.axes[0].containers if c.get_label().startswith("measured"))
    wide = max(range(2), key=lambda i: measured.patches[i].get_height())
    segs = measured.errorbar.lines[2][0].get_segments()
    assert max(y for _, y in segs[wide]) == pytest.approx(16)
    arrow = next(a for a in bars.axes[0].texts if getattr(a, "arrow_patch", None) is not None)
    assert arrow.xy[1] > 16 and arrow.xyann[1] == pytest.approx(16)  # from 16 upward


def test_paper_value_only_beside_a_matching_protocol(tmp_path, monkeypatch):
    import figure_check

    figures = figure_check.record(monkeypatch)
    with Store(tmp_path / "a") as s:
        fill(s, "CartPole-v1", "rl", 4, 4610)  # CMA-ES, D = 4610: not the paper's DQN at D = 562
    write_report([tmp_path / "a"], tmp_path / "r1", n_boot=200)
    bars, _ = figures["dint_bars.png"]
    assert not [c for c in bars.axes[0].containers if "Li et al" in c.get_label()]
    html = (tmp_path / "r1" / "index.html").read_text()
    assert "Li et al. 2018 report d_int90 = 25 for CartPole with DQN on CartPole-v0" in html
    assert "a different protocol, so that value is not drawn beside it" in html
    with Store(tmp_path / "b") as s:  # the paper's protocol: DQN on D = 562
        for d in [1, 2, 4, 8, 16, 32, 64]:
            for seed in range(5):
                s.add(f"li-{d}-{seed}", **stored(env="CartPole-v0-li2018", method="dqn", d=d, D=562, seed=seed,
                                                 fingerprint="li", r_best=200.0, solved=195.0,
                                                 final_returns=[200.0 if d >= 16 else 60.0]))
    write_report([tmp_path / "b"], tmp_path / "r2", n_boot=200)
    bars, _ = figures["dint_bars.png"]
    (paper,) = [c for c in bars.axes[0].containers if "Li et al" in c.get_label()]
    assert [p.get_height() for p in paper.patches] == [25.0]
    rows = list(csv.DictReader((tmp_path / "r2" / "dint.csv").open()))
    assert rows[0]["paper d_int90 (Li et al. 2018)"].startswith("25 (DQN")


def test_empty_states_say_why(tmp_path, monkeypatch):
    import figure_check

    figures = figure_check.record(monkeypatch)
    with Store(tmp_path / "a") as s:
        fill(s, "CartPole-v1", "rl", 4, 4610, full=200.0)  # the only group: baseline below reference
    write_report([tmp_path / "a"], tmp_path / "rep", n_boot=200)
    bars, _ = figures["dint_bars.png"]
    (text,) = [" ".join(t.get_text().split()) for t in bars.axes[0].texts]
    assert text.startswith("No valid d_int90 to draw.") and "baseline below reference" in text
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "None tested: a comparison needs two groups with a valid d_int" in html
    assert "<ul></ul>" not in html
    # no store content at all
    Store(tmp_path / "empty").close()
    write_report([tmp_path / "empty"], tmp_path / "rep2", n_boot=200)
    html = (tmp_path / "rep2" / "index.html").read_text()
    assert "No subspace trials in these stores yet" in html and "None tested: no subspace trials" in html


def test_learning_curves_seeds_as_thin_lines_with_the_baseline_and_reference(tmp_path, monkeypatch):
    figures, _ = _demo(tmp_path, monkeypatch)
    fig, _ = figures["learning_curves.png"]
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    ax = panels["CartPole-v1 (cmaes, dense)\nMLP 64-64, D = 4,610"]
    thin = [ln for ln in ax.lines if ln.get_color() != "black" and ln.get_linestyle() == "-"]
    base = [ln for ln in ax.lines if ln.get_color() == "black"]
    assert len(thin) == 6 * 5 and len(base) == 5  # 6 d's and the baseline, 5 seeds each
    (ref,) = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert list(ref.get_ydata()) == [475.0, 475.0]


def test_html_has_headings_notes_and_comparisons(tmp_path, monkeypatch):
    _demo(tmp_path, monkeypatch)
    html = (tmp_path / "rep" / "index.html").read_text()
    for heading in ("Summary", "Notes", "Comparisons", "Learning curves", "Performance against d",
                    "d_int90 by experiment", "Details"):
        assert f">{heading}</h2>" in html
    assert ".png</h2>" not in html  # headings are words, not file names
    assert "solved_threshold" in html and "beat the full-space baseline at every tested d" in html
    assert 'class="scroll"' in html  # wide tables scroll inside themselves


def test_success_dimension_is_shown_where_the_estimate_has_one(tmp_path):
    """``d50``/``d50_ci`` (the statistics' success dimension) appear in the dint table and the report's
    table wherever the estimate carries them; before that, neither shows a d50 line or column."""
    from rlsub.analysis.dint import compute_dint, format_table
    from rlsub.analysis.report import _table

    with Store(tmp_path / "a") as s:
        fill(s, "CartPole-v1", "rl", 4, 4610)
    with Store(tmp_path / "a", create=False) as s:
        (r,) = compute_dint(s.rows(), n_boot=200)
    if getattr(r, "d50", None) is None and getattr(r.estimator, "d50", None) is None:
        assert "d50" not in format_table([r]) and "d50 (success dimension)" not in _table([r], True)[0]
        object.__setattr__(r.estimator, "d50", 5.0)
        object.__setattr__(r.estimator, "d50_ci", (3.0, float("inf")))
        assert "d50 (success dimension) = 5 [3, >64]" in format_table([r])
        assert _table([r], True)[0]["d50 (success dimension)"] == "5 [3, >64]"
    else:  # the estimator gives one itself
        assert "d50 (success dimension) = " in format_table([r])
        assert _table([r], True)[0]["d50 (success dimension)"] != "-"
