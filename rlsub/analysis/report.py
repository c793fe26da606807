"""The comparison report: d_int90 across tasks and methods as a table, figures, notes and sentences.

``rlsub report DIR [DIR ...] --out REPORT_DIR`` writes ``index.html`` and ``index.md`` (which link
everything), ``dint.csv``, ``dint.json`` and the figures ([`rlsub.analysis.report_figures`][rlsub.analysis.report_figures]):
``learning_curves.png`` (every seed's training curve per d, the baseline's beside them),
``performance_vs_d.png`` (one panel per task), ``dint_bars.png`` and, for width sweeps,
``dint_vs_D.png``. A group whose baseline is below the reference is shown apart and never as a
d_int; a paper value stands beside a bar only where its protocol (method and D) matches ours.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rlsub.analysis.curves import learning_curves, plot_learning_curves
from rlsub.analysis.dint import BELOW_REFERENCE, DintResult, compute_dint
from rlsub.analysis.dint_notes import advice, fmt_ci, fmt_cross, fmt_estimate, reading_notes, success_dimension
from rlsub.analysis.estimator import compare_estimates
from rlsub.analysis.report_figures import plot_bars, plot_performance, plot_widths, valid, why_empty
from rlsub.results.store import Store

#: How our task names map onto rows of the paper's table (task, network).
PAPER_NAMES = {
    "CartPole-v1": ("CartPole", "FC"),
    "InvertedPendulum-v5": ("InvertedPendulum", "FC"),
    "Pong": ("Pong", "ConvNet"),
    "ALE/Pong-v5": ("Pong", "ConvNet"),
    "InvertedPendulum-li2018": ("InvertedPendulum", "FC"),
    "CartPole-v0-li2018": ("CartPole", "FC"),
    "Humanoid-li2018": ("Humanoid", "FC 256-256"),
    "Pong-li2018": ("Pong", "ConvNet"),
    "mnist-fc": ("MNIST", "FC 784-200-200-10"),
    "mnist-lenet": ("MNIST", "LeNet"),
}

METHOD_NAMES = {"cmaes": "CMA-ES", "es": "ES", "dqn": "DQN", "ppo": "PPO", "reinforce": "REINFORCE",
                "adam": "Adam", "sgd": "SGD", "supervised": "SGD/Adam"}


@dataclass
class ReferenceRow:
    """One published value from Li et al. 2018."""

    task: str
    kind: str
    method: str
    network: str
    D: int | None
    dint: str
    note: str
    measured_on: str = ""
    """The env, network and D the number was measured on, as the reference states them."""


def reference_rows() -> list[ReferenceRow]:
    """The paper's d_int90 values shipped with rlsub (see rlsub/data/README.md)."""
    text = resources.files("rlsub").joinpath("data/li2018_dint90.csv").read_text()
    out = []
    for r in csv.DictReader(io.StringIO(text)):
        out.append(ReferenceRow(r["task"], r["kind"], r["method"], r["network"],
                                int(r["D"]) if r["D"] else None, r["d_int90"], r["source_note"],
                                r.get("measured_on") or ""))
    return out


def paper_value(env: str) -> ReferenceRow | None:
    match = PAPER_NAMES.get(env)
    if not match:
        return None
    for r in reference_rows():
        if r.task == match[0] and r.network == match[1]:
            return r
    return None


def paper_match(r: DintResult) -> tuple[ReferenceRow | None, bool]:
    """The paper's row for ``r``'s task, and whether its protocol matches ours (same method and D): only
    then is it drawn beside our bar; otherwise the report says so in a note."""
    ref = paper_value(r.env)
    if ref is None:
        return None, False
    return ref, ref.method.lower() == r.method.lower() and ref.D is not None and ref.D == r.D


def _paper_number(r: DintResult) -> float | None:
    ref, same = paper_match(r)
    if not same or ref is None:
        return None
    try:
        return float(str(ref.dint).lstrip(">"))
    except ValueError:
        return None


def label(r: DintResult) -> str:
    extra = f", {r.label}" if r.label else ""
    return f"{r.env} ({METHOD_NAMES.get(r.method, r.method)}, {r.projection}{extra})"


def comparisons(results: list[DintResult], limit: int = 40, on: str = "d50") -> list[str]:
    """Sentences comparing pairs of d_int estimates by a test ([`compare_estimates`][rlsub.analysis.estimator.compare_estimates]): "X is N×
    easier than Y" only when the two-sample bootstrap CI of d_int(Y)/d_int(X) excludes 1, else "not
    distinguishable". Groups whose baseline is below the task's reference are left out (no d_int), and so
    are pairs in which neither task reaches the threshold (no ratio to test). Pairs of different tasks
    come first; at most ``limit`` pairs, and a last line says how many were left out. ``on``: the
    statistic compared, ``d50`` (default: the one five seeds place best) or ``dint`` (d_int90)."""
    measured = [r for r in results if r.computable and r.estimator is not None and not r.baseline_below_reference]
    pairs = [(a, b) for i, a in enumerate(measured) for b in measured[i + 1:]
             if a.estimate is not None or b.estimate is not None]
    pairs.sort(key=lambda p: p[0].env == p[1].env)
    out = [compare_estimates((label(a), a.estimator), (label(b), b.estimator), seed=k, on=on).sentence
           for k, (a, b) in enumerate(pairs[:limit])]
    if len(pairs) > limit:
        out.append(f"({len(pairs) - limit} more pair(s) not tested here: at most {limit} comparisons are made.)")
    return out


def comparisons_note(n: int, level: float = 0.9) -> str:
    """What ``n`` tests at ``level`` each mean together: about (1 - level)·n false "easier" claims if no pair differed."""
    pct = int(round(level * 100))
    return (f"{n} comparison(s), each a {pct}% test on the ratio of two estimates: if no pair truly differed, "
            f"about {(1 - level) * n:.1f} of them would still read \"easier\" by chance.")


def width_series(results: list[DintResult]) -> dict[tuple[str, str, str, str], list[DintResult]]:
    """Experiments that differ only in the network's hidden sizes, by D (one series per task, method,
    projection and remaining settings): Li et al.'s claim is that d_int varies little across them."""
    by: dict[tuple[str, str, str, str], dict[int, DintResult]] = {}
    for r in results:
        if r.dims and r.dims[0].mean is not None:
            rest = json.dumps({k: v for k, v in r.experiment.items() if k != "hidden"}, sort_keys=True, default=str)
            by.setdefault((r.env, r.method, r.projection, rest), {})[r.D] = r
    return {k: [v[D] for D in sorted(v)] for k, v in by.items() if len(v) >= 2}


def write_report(dirs: list[str | Path], out: str | Path, threshold: float = 0.9, n_boot: int = 2000,
                 reference: bool = True, compare_on: str = "d50") -> Path:
    """Compute d_int for every store in ``dirs`` and write the report files into ``out``; the ratio tests
    compare ``compare_on`` (``d50`` or ``dint``)."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    references: dict[str, float] = {}
    for d in dirs:
        with Store(d, create=False) as store:
            rows.extend(store.rows())
            references.update(store.references())  # an atlas protocol's reference, where one is recorded
    results = compute_dint(rows, threshold=threshold, n_boot=n_boot, references=references)
    table = _table(results, reference)
    _write_csv(out / "dint.csv", table)
    (out / "dint.json").write_text(json.dumps([r.to_dict() for r in results], indent=2))
    figures: list[tuple[str, str, str]] = []  # (heading, file, caption)
    groups = learning_curves(dirs)
    if any(len(c.steps) for g in groups for cs in g.by_d.values() for c in cs):
        figures.append(("Learning curves", plot_learning_curves(groups, out / "learning_curves.png").name,
                        "Training curves of every trial: one thin line per seed, one colour per d; black: the "
                        "full-space baseline's seeds; red dashed: the reference score the baseline is held to."))
    if results:
        figures.append(("Performance against d", plot_performance(results, out / "performance_vs_d.png", threshold, _short),
                        f"Mean normalised performance per tested d (shaded: 90% CI); dotted: the d_int estimate; thick "
                        f"bar on the {threshold:.0%} line: its 90% CI, an arrow where it is open (beyond the largest "
                        f"tested d). Grey dashed: {BELOW_REFERENCE}, drawn apart and without a d_int."))
        figures.append(("d_int90 by experiment", plot_bars(results, out / "dint_bars.png",
                                                           _paper_number if reference else (lambda r: None), label),
                        "Estimates with their 90% CIs, groups with a valid baseline only (log scale; an arrow: the "
                        "upper bound is beyond the largest tested d). A paper value stands beside a bar only where "
                        "its method and D match; see the notes for the others."))
    widths = width_series([r for r in results if valid(r)])
    if widths:
        figures.append(("d_int90 across network widths",
                        plot_widths(widths, out / "dint_vs_D.png", lambda m: METHOD_NAMES.get(m, m)),
                        "Experiments that differ only in the network's hidden sizes (valid groups only)."))
    sentences = comparisons(results, on=compare_on)
    if sentences:
        sentences.insert(0, comparisons_note(sum(not s.startswith("(") for s in sentences)))
    notes = report_notes(results, reference)
    why_none = "" if sentences else no_comparisons_reason(results)
    _write_markdown(out / "index.md", table, figures, sentences, notes, why_none, threshold, dirs, results)
    _write_html(out / "index.html", table, figures, sentences, notes, why_none, threshold, dirs, results)
    return out / "index.html"


def _short(r: DintResult) -> str:
    extra = f", {r.label}" if r.label else ""
    return f"{METHOD_NAMES.get(r.method, r.method)}, {r.projection}{extra}"


def report_notes(results: list[DintResult], reference: bool = True) -> list[str]:
    """Every group's notes, what the numbers say that a reader could miss, advice, and why a paper value
    is not drawn beside a bar."""
    out = []
    for r in results:
        for n in r.notes + reading_notes(r):
            out.append(f"{label(r)}: {n}")
        tip = advice(r)
        if tip:
            out.append(f"{label(r)}: next: {tip}")
        ref, same = paper_match(r) if reference else (None, False)
        if ref is not None and not same:
            out.append(f"{label(r)}: Li et al. 2018 report d_int90 = {ref.dint} for {ref.task} with "
                       f"{METHOD_NAMES.get(ref.method, ref.method.upper())} on {ref.measured_on}; this group is "
                       f"{METHOD_NAMES.get(r.method, r.method)} with D = {r.D:,}, a different protocol, so that value "
                       "is not drawn beside it.")
    return out


def no_comparisons_reason(results: list[DintResult]) -> str:
    """Why no pair was compared."""
    with_dint = [r for r in results if valid(r) and r.estimator is not None and r.estimate is not None]
    if not results:
        return "None tested: no subspace trials in these stores."
    if len(with_dint) >= 1 and len([r for r in results if valid(r)]) >= 2:
        return "None tested: no pair with a ratio to test (neither group of each pair reaches 90% of its baseline)."
    return (f"None tested: a comparison needs two groups with a valid d_int; {len(with_dint)} of {len(results)} "
            "have one. " + why_empty([r for r in results if r not in with_dint]).replace("No valid d_int90 to draw. ", ""))


def _table(results: list[DintResult], reference: bool) -> list[dict[str, str]]:
    table = []
    d50s = {id(r): success_dimension(r) for r in results}
    show_d50 = any(v is not None for v in d50s.values())
    for r in results:
        top = r.dims[-1].d
        ok = valid(r)
        at = next((s for s in r.dims if s.d == r.dint), None)
        none = "none (baseline below reference)" if r.computable and not ok else "not computable (see notes)"
        row = {
            "task": r.env,
            "kind": r.kind,
            "method": METHOD_NAMES.get(r.method, r.method),
            "projection": r.projection,
            "experiment": r.label or "-",
            "network": r.network,
            "D": str(r.D),
            "d_int90 (estimate)": fmt_estimate(r) if ok else none,
            "90% CI": fmt_ci(r.estimate_ci, top) if ok else "-",
            "grid d_int90": ("-" if not ok else str(r.dint) if r.dint else f">{top}"),
            "baseline vs reference": (BELOW_REFERENCE if r.baseline_below_reference else
                                      ("-" if r.reference is None or not r.computable else "at or above")),
            "moved at d_int90": str(at.moved) if at and ok else "-",
            "compression D/d_int90": (f"{'>=' if r.at_lowest else ''}{r.compression:.0f}x" if r.compression else "-"),
            "seeds": str(r.seeds),
            "P(reach 90% of baseline) = 1/2 at d": (
                "-" if not ok else f"{fmt_cross(r.reach_d50, None, top)} {fmt_ci(r.reach_ci, top)}"),
            "P(env solved) = 1/2 at d": (f"{r.success_d50:.3g}" if r.success_d50 else
                                         ("-" if r.dims[0].p_success is None else f">{top}")),
            "measure": r.measure or "-",
            "baseline": r.baseline.describe(),
            "floor": r.floor.describe() if r.floor else "-",
        }
        if show_d50:
            d50 = d50s[id(r)]
            row["d50 (success dimension)"] = fmt_cross(d50[0], d50[1], top) if d50 is not None and ok else "-"
        if reference:
            ref, same = paper_match(r)
            row["paper d_int90 (Li et al. 2018)"] = (
                f"{ref.dint} ({ref.method.upper()}, {ref.measured_on})" if ref and same
                else "not comparable (other protocol; see notes)" if ref else "-")
        table.append(row)
    return table


#: The columns of the report's main table (the others go to the details table and the CSV).
SUMMARY = ["task", "method", "projection", "experiment", "network", "D", "d_int90 (estimate)", "90% CI",
           "grid d_int90", "d50 (success dimension)", "baseline vs reference", "compression D/d_int90", "seeds",
           "paper d_int90 (Li et al. 2018)"]
DETAILS = ["task", "method", "experiment", "baseline", "floor", "measure", "moved at d_int90",
           "P(reach 90% of baseline) = 1/2 at d", "P(env solved) = 1/2 at d"]


def _write_csv(path: Path, table: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        if not table:
            f.write("no results\n")
            return
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)


def _method_text(threshold: float) -> str:
    pct = f"{threshold * 100:.0f}"
    return (f"d50 (success dimension): the d where half the seeds reach {threshold:.0%} of the full-space baseline, "
            f"from a fitted success curve with a 90% CI; rank tasks by it, and the comparisons test it. "
            f"d_int{pct} (estimate): where the expected mean normalised performance crosses {threshold:.0%} of the "
            f"baseline, from a fitted curve where one is calibrated (else an isotonic fit; the notes say which), with a "
            f"90% CI over the seeds and the baseline's seeds (\">N\": beyond the largest tested d). Grid d_int{pct}: the "
            f"smallest tested d whose mean reaches it (Li et al., ICLR 2018). A group whose baseline is below the "
            f"task's reference score (the env's solved threshold, or a protocol's) is marked \"{BELOW_REFERENCE}\" "
            f"and shown apart: 90% of an untrained baseline is not an intrinsic dimension.")


def _md_table(table: list[dict[str, str]], cols: list[str]) -> str:
    if not table:
        return "_no results_\n"
    cols = [c for c in cols if c in table[0]]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in table]
    return "\n".join(lines) + "\n"


def _write_markdown(path, table, figures, sentences, notes, why_none, threshold, dirs, results) -> None:
    parts = ["# Intrinsic dimension report\n", _method_text(threshold) + " Sources: "
             + ", ".join(f"`{d}`" for d in dirs) + ".\n", "## Summary\n"]
    parts.append(_md_table(table, SUMMARY) if table else
                 "_No subspace trials in these stores yet: run `rlsub sweep --env ENV --dims 1,2,4,8,full --out DIR`._\n")
    parts += ["## Notes\n", ("\n".join(f"- {n}" for n in notes) if notes else "_none_") + "\n"]
    parts += ["## Comparisons\n", ("\n".join(f"- {s}" for s in sentences) if sentences else why_none) + "\n"]
    for heading, name, caption in figures:
        parts += [f"## {heading}\n", f"![{heading}]({name})\n", caption + "\n"]
    if table:
        parts += ["## Details\n", _md_table(table, DETAILS)]
    parts += ["Data: [dint.csv](dint.csv), [dint.json](dint.json)\n"]
    path.write_text("\n".join(parts))


_CSS = """body{font-family:system-ui,sans-serif;max-width:1240px;margin:1.5em auto;padding:0 12px;color:#222;
line-height:1.4}h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
.scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}th{background:#f3f3f3;text-align:left}
td{overflow-wrap:break-word}tr.invalid td{color:#777;background:#fafafa}img{max-width:100%;height:auto}
figure{margin:0 0 1em 0}figcaption{font-size:13px;color:#444}p.empty{color:#555;font-style:italic}
ul.notes li{font-size:14px;overflow-wrap:anywhere}"""


def _html_table(table: list[dict[str, str]], cols: list[str], cls: str) -> str:
    esc = html.escape
    cols = [c for c in cols if c in table[0]]
    body = "".join(f'<tr class="{"invalid" if r["baseline vs reference"] == BELOW_REFERENCE else "valid"}">'
                   + "".join(f"<td>{esc(r[c])}</td>" for c in cols) + "</tr>" for r in table)
    return (f'<div class="scroll"><table class="{cls}"><tr>{"".join(f"<th>{esc(c)}</th>" for c in cols)}</tr>'
            f"{body}</table></div>")


def _write_html(path, table, figures, sentences, notes, why_none, threshold, dirs, results) -> None:
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
             "content=\"width=device-width\"><title>rlsub intrinsic dimension report</title>"
             f"<style>{_CSS}</style></head><body>", "<h1>Intrinsic dimension report</h1>",
             f"<p>{esc(_method_text(threshold))} Sources: {esc(', '.join(str(d) for d in dirs))}.</p>",
             "<h2 id=\"summary\">Summary</h2>"]
    if table:
        parts.append(_html_table(table, SUMMARY, "summary"))
        below = sum(r["baseline vs reference"] == BELOW_REFERENCE for r in table)
        if below:
            parts.append(f"<p>Grey rows ({below}): {esc(BELOW_REFERENCE)}; no d_int is given for them.</p>")
    else:
        parts.append("<p class=\"empty\">No subspace trials in these stores yet: run <code>rlsub sweep --env ENV "
                     "--dims 1,2,4,8,full --out DIR</code>, then this report again.</p>")
    parts.append("<h2 id=\"notes\">Notes</h2>")
    parts.append("<ul class=\"notes\">" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>" if notes
                 else "<p class=\"empty\">No notes: every group has a valid baseline and nothing to flag.</p>")
    parts.append("<h2 id=\"comparisons\">Comparisons</h2>")
    parts.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in sentences) + "</ul>" if sentences
                 else f"<p class=\"empty\">{esc(why_none)}</p>")
    for heading, name, caption in figures:
        parts.append(f"<h2>{esc(heading)}</h2><figure><img src=\"{esc(name)}\" alt=\"{esc(heading)}\">"
                     f"<figcaption>{esc(caption)}</figcaption></figure>")
    if not results:
        parts.append("<p class=\"empty\">No figures: there is nothing to draw yet.</p>")
    if table:
        parts += ["<h2 id=\"details\">Details</h2>", _html_table(table, DETAILS, "details")]
    parts.append("<p><a href=\"dint.csv\">dint.csv</a> · <a href=\"dint.json\">dint.json</a> · "
                 "<a href=\"index.md\">index.md</a></p></body></html>")
    path.write_text("\n".join(parts))
