"""The comparison report: d_int90 across tasks and methods as a table, plots and sentences.

``rlsub report DIR [DIR ...] --out REPORT_DIR`` writes ``index.md`` and ``index.html`` (which
link everything), ``dint.csv``, ``dint.json``, ``performance_vs_d.png`` (one panel per task) and
``dint_bars.png`` (log scale, with the paper's published values as a separate reference).
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rlsub.analysis.dint import BELOW_REFERENCE, DintResult, compute_dint, fmt_ci, fmt_estimate
from rlsub.analysis.estimator import compare_estimates
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


def label(r: DintResult) -> str:
    extra = f", {r.label}" if r.label else ""
    return f"{r.env} ({METHOD_NAMES.get(r.method, r.method)}, {r.projection}{extra})"


def comparisons(results: list[DintResult], limit: int = 40) -> list[str]:
    """Sentences comparing pairs of d_int estimates by a test (``rlsub.analysis.estimator.compare_estimates``): "X is N×
    easier than Y" only when the two-sample bootstrap CI of d_int(Y)/d_int(X) excludes 1, else "not
    distinguishable". Groups whose baseline is below the task's reference are left out (no d_int), and so
    are pairs in which neither task reaches the threshold (no ratio to test). Pairs of different tasks
    come first; at most ``limit`` pairs, and a last line says how many were left out."""
    measured = [r for r in results if r.computable and r.estimator is not None and not r.baseline_below_reference]
    pairs = [(a, b) for i, a in enumerate(measured) for b in measured[i + 1:]
             if a.estimate is not None or b.estimate is not None]
    pairs.sort(key=lambda p: p[0].env == p[1].env)
    out = [compare_estimates((label(a), a.estimator), (label(b), b.estimator), seed=k).sentence
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
                 reference: bool = True) -> Path:
    """Compute d_int for every store in ``dirs`` and write the report files into ``out``."""
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
    plots = []
    if results:
        plots.append(_plot_curves(results, out / "performance_vs_d.png", threshold))
        plots.append(_plot_bars(results, out / "dint_bars.png", reference))
    widths = width_series(results)
    if widths:
        plots.append(_plot_widths(widths, out / "dint_vs_D.png"))
    sentences = comparisons(results)
    if sentences:
        sentences.insert(0, comparisons_note(sum(not s.startswith("(") for s in sentences)))
    _write_markdown(out / "index.md", table, plots, sentences, threshold, dirs)
    _write_html(out / "index.html", table, plots, sentences, threshold)
    return out / "index.html"


def _fmt_d(d: float | None, top: int) -> str:
    """A fitted d for the table, ``>top`` when not reached."""
    return f">{top}" if d is None else f"{d:.3g}"


def _table(results: list[DintResult], reference: bool) -> list[dict[str, str]]:
    table = []
    for r in results:
        ref = paper_value(r.env) if reference else None
        at = next((s for s in r.dims if s.d == r.dint), None)
        row = {
            "task": r.env,
            "kind": r.kind,
            "method": METHOD_NAMES.get(r.method, r.method),
            "projection": r.projection,
            "experiment": r.label or "-",
            "network": r.network,
            "D": str(r.D),
            "d_int90 (estimate)": fmt_estimate(r) if r.computable else "-",
            "90% CI": fmt_ci(r.estimate_ci, r.dims[-1].d) if r.computable else "-",
            "grid d_int90": "-" if not r.computable else str(r.dint) if r.dint else f">{r.dims[-1].d}",
            "baseline vs reference": (BELOW_REFERENCE if r.baseline_below_reference else
                                      ("-" if r.reference is None or not r.computable else "at or above")),
            "moved at d_int90": str(at.moved) if at else "-",
            "compression D/d_int90": (f"{'>=' if r.at_lowest else ''}{r.compression:.0f}x" if r.compression else "-"),
            "seeds": str(r.seeds),
            "P(reach 90% of baseline) = 1/2 at d": (
                "-" if not r.computable else f"{_fmt_d(r.reach_d50, r.dims[-1].d)} "
                f"{fmt_ci(r.reach_ci, r.dims[-1].d)}"),
            "P(env solved) = 1/2 at d": (f"{r.success_d50:.3g}" if r.success_d50 else
                                         ("-" if r.dims[0].p_success is None else f">{r.dims[-1].d}")),
            "measure": r.measure or "-",
            "baseline": r.baseline.describe(),
            "floor": r.floor.describe() if r.floor else "-",
        }
        if reference:
            row["paper d_int90 (Li et al. 2018)"] = f"{ref.dint} ({ref.method.upper()}, {ref.measured_on})" if ref else "-"
        table.append(row)
    return table


def _write_csv(path: Path, table: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        if not table:
            f.write("no results\n")
            return
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)


def _plot_curves(results: list[DintResult], path: Path, threshold: float) -> str:
    import matplotlib.pyplot as plt

    tasks = sorted({r.env for r in results})
    ncols = min(3, len(tasks))
    nrows = -(-len(tasks) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 4 * nrows), squeeze=False)
    for ax in axes.flat[len(tasks):]:
        ax.set_visible(False)
    for ax, task in zip(axes.flat, tasks):
        for r in (r for r in results if r.env == task and r.dims[0].mean is not None):
            ds = [s.d for s in r.dims]
            means = [s.mean for s in r.dims]
            name = f"{METHOD_NAMES.get(r.method, r.method)}, {r.projection}" + (f", {r.label}" if r.label else "")
            (line,) = ax.plot(ds, means, marker="o", label=name)
            ax.fill_between(ds, [s.ci[0] for s in r.dims], [s.ci[1] for s in r.dims], color=line.get_color(),
                            alpha=0.2, linewidth=0)
            if r.dims[0].p_success is not None:  # Larsen et al.'s view: fraction of seeds that solve
                ax.plot(ds, [x.p_success for x in r.dims], color=line.get_color(), linestyle="--", marker="x",
                        linewidth=1, alpha=0.7, label=f"{name}: P(solved)")
            if r.estimate:
                ax.axvline(r.estimate, color=line.get_color(), linestyle=":", linewidth=1)
        ax.axhline(threshold, color="k", linestyle="--", linewidth=1, label=f"{threshold:.0%} of baseline")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("subspace dimension d")
        ax.set_ylabel("normalised performance / P(solved)")
        ax.set_title(task)
        ax.set_ylim(-0.05, 1.15)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Mean normalised performance over seeds (shaded: 90% bootstrap CI); dotted: d_int estimate; "
                 "dashed: fraction of seeds that reach the env's solved threshold", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _plot_widths(series: dict[tuple[str, str, str, str], list[DintResult]], path: Path) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for (env, method, proj, _), rs in series.items():
        Ds = [r.D for r in rs]
        top = [r.dims[-1].d * 2 for r in rs]  # "not reached" drawn above the largest tested d
        vals = [r.estimate if r.estimate else t for r, t in zip(rs, top)]
        lo = [v - (r.estimate_ci[0] or t) for v, r, t in zip(vals, rs, top)]
        hi = [(r.estimate_ci[1] or t) - v for v, r, t in zip(vals, rs, top)]
        ax.errorbar(Ds, vals, yerr=[[max(0, x) for x in lo], [max(0, x) for x in hi]], marker="o", capsize=4,
                    label=f"{env} ({METHOD_NAMES.get(method, method)}, {proj})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("native dimension D (network width)")
    ax.set_ylabel("d_int90 estimate (90% CI)")
    ax.set_title("Intrinsic dimension across network sizes")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _plot_bars(results: list[DintResult], path: Path, reference: bool) -> str:
    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np

    rs = [r for r in results if r.estimate and not r.baseline_below_reference]
    rs.sort(key=lambda r: r.estimate)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rs) + 2), 4.5))
    x = np.arange(len(rs))
    vals = [r.estimate for r in rs]
    lo = [r.estimate - (r.estimate_ci[0] or r.estimate) for r in rs]
    hi = [(r.estimate_ci[1] or r.dims[-1].d * 2) - r.estimate for r in rs]  # open bound drawn to 2x the top d
    ax.bar(x - 0.2 if reference else x, vals, width=0.4 if reference else 0.6, yerr=[lo, hi], capsize=4,
           label="measured (rlsub), 90% CI", color="tab:blue")
    if reference:
        refs = [paper_value(r.env) for r in rs]
        ref_vals = [float(str(p.dint).lstrip(">")) if p else np.nan for p in refs]
        vals = vals + [v for v in ref_vals if v == v]
        ax.bar(x + 0.2, ref_vals, width=0.4, color="none", edgecolor="tab:gray", hatch="//",
               label="Li et al. 2018 (reference; other versions/budgets)")
    ax.set_xticks(x, [label(r).replace(" (", "\n(") for r in rs], fontsize=8)
    ax.set_yscale("log")
    top = max([v for v in vals] + [1]) * 3
    ax.set_ylim(1, top)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel("d_int90 (estimate, 90% CI)")
    ax.set_title("Intrinsic dimension d_int90 across tasks (log scale)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _md_table(table: list[dict[str, str]]) -> str:
    if not table:
        return "_no results_\n"
    cols = list(table[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in table]
    return "\n".join(lines) + "\n"


def _write_markdown(path, table, plots, sentences, threshold, dirs) -> None:
    parts = [
        "# Intrinsic dimension report\n",
        f"d_int{threshold * 100:.0f} (estimate): the d where an isotonic fit of mean normalised performance in ln d "
        f"crosses {threshold:.0%} of the full-space baseline, with a 90% CI from a bootstrap over the seeds and the "
        f"baseline's seeds (bounds at tested dims). Grid d_int{threshold * 100:.0f}: the smallest tested d whose "
        f"mean reaches it (Li et al., ICLR 2018). A group whose baseline is below the task's reference score "
        f"(the env's solved threshold) is marked \"{BELOW_REFERENCE}\". Sources: "
        + ", ".join(f"`{d}`" for d in dirs) + ".\n",
        "## Table\n",
        _md_table(table),
        "Paper values are a separate reference column (their env versions and budgets differ).\n",
    ]
    if sentences:
        parts += ["## Comparisons\n", "\n".join(f"- {s}" for s in sentences) + "\n"]
    if plots:
        parts += ["## Plots\n"] + [f"![{p}]({p})\n" for p in plots]
    parts += ["Data: [dint.csv](dint.csv), [dint.json](dint.json)\n"]
    path.write_text("\n".join(parts))


def _write_html(path, table, plots, sentences, threshold) -> None:
    esc = html.escape
    cols = list(table[0]) if table else []
    rows = "".join("<tr>" + "".join(f"<td>{esc(r[c])}</td>" for c in cols) + "</tr>" for r in table)
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>rlsub intrinsic dimension report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:14px}}img{{max-width:100%}}</style></head><body>
<h1>Intrinsic dimension report</h1>
<p>d_int{threshold * 100:.0f} (estimate): where an isotonic fit of mean normalised performance in ln d crosses
{threshold:.0%} of the full-space baseline, 90% CI from a bootstrap over the seeds and the baseline's seeds; grid
d_int{threshold * 100:.0f}: smallest tested d whose mean reaches it (Li et al., ICLR 2018).</p>
<table><tr>{''.join(f'<th>{esc(c)}</th>' for c in cols)}</tr>{rows}</table>
<ul>{''.join(f'<li>{esc(s)}</li>' for s in sentences)}</ul>
{''.join(f'<h2>{esc(p)}</h2><img src="{esc(p)}" alt="{esc(p)}">' for p in plots)}
<p><a href="dint.csv">dint.csv</a> · <a href="dint.json">dint.json</a> · <a href="index.md">index.md</a></p>
</body></html>"""
    path.write_text(doc)
