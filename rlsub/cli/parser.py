"""The argument parser of ``rlsub`` (``build_parser``): every subcommand's options and help.

Only argparse here, so ``rlsub --help`` answers without importing anything heavy."""

from __future__ import annotations

import argparse
import re
import sys

DINT_HELP = (
    "d_int90 (Li et al., ICLR 2018): the smallest tested subspace dimension d whose mean normalised "
    "performance over seeds reaches 90% of the full-space baseline. Normalised performance = "
    "(R - R_low) / (R_base - R_low): R is a trial's final evaluation on fresh episodes, R_low the "
    "task's lowest return (registered, or measured per trial as the mean return of a uniformly random "
    "policy), R_base the baseline: measured by 'full' trials of the same experiment, given with "
    "--baseline, or else the registered best return (e.g. 500 for CartPole-v1)."
)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``rlsub: error: ...``, exit 2) instead of a page of usage."""

    def error(self, message: str):  # type: ignore[override]
        print(f"rlsub: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(2)


#: ``10k`` = 10,000; ``2M`` = 2,000,000; ``1G``.
_SUFFIX = {"k": 10**3, "m": 10**6, "g": 10**9}


def count(text: str) -> int:
    """A positive count as people write it: ``100000``, ``100_000``, ``100,000``, ``10k``, ``2.5M``, ``1e5``."""
    raw = text.strip().lower().replace("_", "").replace(",", "")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)([kmg]?)", raw)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a positive whole number such as 100000, 100k, 2M or 1e5, got {text!r}")
    value = float(m.group(1)) * _SUFFIX.get(m.group(2), 1)
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number (>= 1), got {text!r}")
    return int(value)


def positive_int(text: str) -> int:
    """An integer >= 1 (``--workers``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _trial_options(p: argparse.ArgumentParser, sweep: bool) -> None:
    p.add_argument("--env", help="preset name, Gymnasium id, module.path:Class, or supervised task"
                   + (" (comma-separated for several)" if sweep else ""))
    p.add_argument("--task", help="alias of --env (supervised tasks: digits-fc, digits-lenet, mnist-fc, mnist-lenet)")
    p.add_argument("--method", help="optimizer of θ_d (see 'rlsub methods'; default cmaes, adam for supervised)"
                   + (" (comma-separated for several)" if sweep else ""))
    p.add_argument("--projection",
                   help="auto (default: the fastest for this D, d and method on a CPU, see "
                   "rlsub.projections.choose_projection" + ("; one per experiment, for the largest d; "
                   "--adaptive: dense" if sweep else "; from this trial's own d, so it may differ from a sweep's pick, which "
                   "uses the sweep's largest d: name the projection to match one") + ") | dense | sparse | fastfood"
                   + (" (comma-separated for several)" if sweep else ""))
    p.add_argument("--budget", type=count,
                   help="training env steps per trial: 100000, 100k, 2M or 1e5 (default: the task preset's, see "
                   "'rlsub envs'; 200k for any other Gymnasium id; supervised tasks: training examples, default "
                   "their epochs)")
    p.add_argument("--episodes", type=int, help="training episodes per population member and generation")
    p.add_argument("--eval-episodes", type=int, help="final evaluation episodes on fresh seeds (default 20)")
    p.add_argument("--hidden", action="append",
                   help="policy hidden layer sizes, e.g. 64,64" + (
                       "; repeat it (or separate sizes by ';') to sweep network widths, e.g. --hidden 16,16 "
                       "--hidden 64,64 --hidden 256,256" if sweep else ""))
    p.add_argument("--family", help="policy network family: mlp or cnn (default: from the observation space)")
    p.add_argument("--init", choices=("torch", "he_normal", "zeros"),
                   help="θ_0 of the MLP policy: torch's init (default), he_normal, or zeros (the linear policy "
                   "only, --hidden none: the ARS paper's start, θ_D = Pθ_d)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="method hyper-parameter (repeatable); 'rlsub methods METHOD' lists them with their defaults")
    p.add_argument("--device", help="torch device (cpu, cuda; default cpu)")
    p.add_argument("--data-dir", help="directory with MNIST IDX files (supervised mnist-* tasks)")
    # --- ray backend hook
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: process pool (default); ray: trials as Ray tasks, direct-search populations "
                   "split across Ray actors (same results)")
    p.add_argument("--address", help="Ray cluster address for --backend ray (default: start a local Ray)")


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="rlsub",
        description="Measure how hard RL (and supervised) tasks are: train in random d-dimensional "
        "subspaces θ = θ_0 + P θ_d and find the intrinsic dimension d_int90.",
        epilog=DINT_HELP,
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads in this process (default 1: rlsub's networks are small and "
                    "extra threads mostly add contention; raise it for big CNNs or MNIST)")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train one trial and save its solution",
                       description="Train θ_d for one (env, method, projection, d, seed), evaluate it on "
                       "fresh episodes, store the result in OUT/results.sqlite and the solution in OUT/solutions/.")
    _trial_options(p, sweep=False)
    p.add_argument("--dim", required=True, help="subspace dimension d, or 'full' for the full-space baseline")
    p.add_argument("--seed", type=int, default=0, help="seed of θ_0, P, episodes and optimizer")
    p.add_argument("--out", required=True, help="output directory")

    p = sub.add_parser("sweep", help="run a grid of trials (resumable) and print d_int90",
                       description="Run env × method × projection × d × seed trials in parallel processes. "
                       "Finished trials are stored at once; rerunning the same sweep skips them. " + DINT_HELP)
    _trial_options(p, sweep=True)
    p.add_argument("--dims", help="comma-separated d values; 'full' adds the full-space baseline")
    p.add_argument("--seeds", help="number of seeds N (seeds 0..N-1; default 3), a range A-B (A..B inclusive) "
                   "or a comma-separated list")
    p.add_argument("--config", help="TOML sweep file ([sweep] table); options given on the command line "
                   "override the file's values")
    p.add_argument("--out", help="output directory (required unless the config gives 'out')")
    p.add_argument("--workers", type=positive_int, help="parallel processes (default: all cores)")
    p.add_argument("--batch-seeds", type=int, metavar="N",
                   help="supervised tasks: train N seeds of one configuration together (stacked θ_d; most useful on a GPU)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--no-lockstep", action="store_true",
                   help="run direct-search trials one at a time instead of as one batched computation per worker "
                   "(same stored results; for comparisons)")
    p.add_argument("--threshold", type=float, default=0.9, help="fraction of the baseline for d_int (0.9)")
    p.add_argument("--adaptive", action="store_true",
                   help="instead of a grid: double d from --dmin until the threshold is met, then bisect "
                   "on a log scale to --resolution; reuses stored trials ('full' in --dims runs the baseline first)")
    p.add_argument("--resolution", type=float, default=0.1, help="adaptive: stop when hi/lo <= 1 + this")
    p.add_argument("--dmin", type=int, default=1, help="adaptive: first d probed")
    p.add_argument("--dmax", type=int, help="adaptive: give up above this d")
    p.add_argument("--until-ci", type=float, metavar="R",
                   help="then add seeds where the crossing is decided (and a d between grid points where that helps) "
                   "until the d_int CI's hi/lo <= R or --max-trials (rlsub.sweeps.sharpen)")
    p.add_argument("--max-trials", type=int, metavar="N",
                   help="--until-ci: at most N trials per experiment, grid included (default: 4x the grid)")
    p.add_argument("--on", choices=("dint90", "d50"), default="dint90",
                   help="the statistic --until-ci sharpens and --adaptive bisects on: d_int90 (default) or d50, the "
                   "success dimension (--until-ci adds seeds at the d's around its current crossing; --adaptive "
                   "bisects to where half the seeds reach the threshold)")

    p = sub.add_parser("dint", help="print d_int90 (with CIs) from a results directory",
                       description="Compute d_int for each experiment (trials that differ only in d, seed and projection) and "
                       "projection in a store, reading only the store. " + DINT_HELP)
    p.add_argument("dir", help="sweep output directory")
    p.add_argument("--threshold", type=float, default=0.9, help="fraction of the baseline (default 0.9)")
    p.add_argument("--baseline", type=float, help="R_base to use instead of the measured or preset one")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples for confidence intervals")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("curves", help="print the learning curves of a store (or draw them with --out FILE.png)",
                       description="Learning curves (evaluation return, or accuracy, against env steps) of every "
                       "experiment in a store: per d, the median over seeds and its range; the full-space baseline "
                       "and the reference score beside them. --out FILE.png draws one panel per experiment, each "
                       "seed a thin line.")
    p.add_argument("dir", help="sweep output directory")
    p.add_argument("--out", help="write a PNG (one panel per experiment) instead of printing")
    p.add_argument("--width", type=positive_int, default=40, help="characters per terminal curve (default 40)")

    p = sub.add_parser("replay", help="rebuild a saved solution and re-evaluate it",
                       description="Rebuild θ_0 and P from the solution's spec and seed, apply its θ_d and "
                       "evaluate. By default uses the trial's own evaluation seeds, reproducing its score.")
    p.add_argument("file", help="solution .json file")
    p.add_argument("--episodes", type=int, help="evaluate on this many fresh episodes instead")
    p.add_argument("--seed", type=int, default=0, help="seed of the fresh episodes (with --episodes)")
    p.add_argument("--data-dir", help="MNIST directory for mnist-* solutions")

    p = sub.add_parser("report", help="write the comparison report (table, plots, sentences)",
                       description="Compute d_int90 with CIs for every store given and write OUT/index.html "
                       "(and index.md) linking a table, performance-vs-d plots and a bar chart of d_int90, "
                       "with the paper's published values as a separate reference column.")
    p.add_argument("dirs", nargs="+", help="sweep output directories")
    p.add_argument("--out", required=True, help="report directory (created; an existing one is reused)")
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--no-reference", action="store_true", help="leave out the paper's values")
    p.add_argument("--compare-on", choices=("d50", "dint90"), default="d50",
                   help="the statistic the 'N× easier' tests compare: d50 (default; five seeds place it best) or d_int90")

    p = sub.add_parser("migrate", help="upgrade a store written by an older rlsub",
                       description="Rewrite DIR/results.sqlite in the current schema: every row gets its experiment "
                       "fingerprint, normalisation, network and coordinates moved (this needs the tasks' code once; "
                       "later analysis does not). The old database is kept as results.sqlite.v1.")
    p.add_argument("dir", help="sweep output directory")

    p = sub.add_parser("atlas", help="the difficulty atlas: run its protocols, export atlas.csv, draw its figure",
                       description="run: a protocol's sweep (resumable), recording its CPU time; export: one CSV row "
                       "per (env, method) from each protocol's store (rlsub.atlas.protocol); figure: d_int90 with CIs on a "
                       "log-d axis from that CSV.")
    p.add_argument("action", choices=["run", "export", "figure"])
    p.add_argument("files", nargs="+", help="run, export: protocol files (atlas/protocols/*.toml); figure: atlas.csv")
    p.add_argument("--out", help="the CSV (export) or image (figure) to write")
    p.add_argument("--root", default=".", help="run, export: directory the protocols' store paths are relative to")
    p.add_argument("--workers", type=positive_int, help="run: parallel processes (default: all cores)")
    p.add_argument("--whole-grid", action="store_true",
                   help="run: every d even where the full-space baseline misses the reference (default: the "
                   "baseline first, the budget ladder while it misses, the d grid only once it reaches)")

    sub.add_parser("envs", help="list task presets", description="List environment presets and supervised tasks.")
    p = sub.add_parser("methods", help="list optimizers, or one method's hyper-parameters",
                       description="List the methods that train θ_d; with a NAME, that method's hyper-parameters "
                       "(what --param NAME=VALUE sets) with their defaults.")
    p.add_argument("name", nargs="?", help="a method: print its hyper-parameters with defaults")
    return ap
