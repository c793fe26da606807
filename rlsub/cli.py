"""Command-line interface: ``rlsub run | sweep | dint | replay | envs | methods``.

Every user error (unknown env/method/projection, bad d, malformed config, corrupted store or
solution, unwritable output) prints one line ``rlsub: error: ...`` and exits with status 2.

The project modules a command runs are imported inside its function, on purpose:
``rlsub --help`` and a typo'd ``--env``/``--method`` answer before torch is imported.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from collections.abc import Sequence

from rlsub.errors import ConfigError, RlsubError

DINT_HELP = (
    "d_int90 (Li et al., ICLR 2018): the smallest tested subspace dimension d whose mean normalised "
    "performance over seeds reaches 90% of the full-space baseline. Normalised performance = "
    "(R - R_low) / (R_base - R_low): R is a trial's final evaluation on fresh episodes, R_low the "
    "task's lowest return (registered, or measured per trial as the mean return of a uniformly random "
    "policy), R_base the baseline: measured by 'full' trials of the same experiment, given with "
    "--baseline, or else the registered best return (e.g. 500 for CartPole-v1)."
)


def _params(items: Sequence[str] | None) -> dict[str, str]:
    """``--param NAME=VALUE`` pairs as strings; each method types them against its config."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--param expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = v.strip()
    return out


def _widths(items: list[str] | None) -> tuple[int, ...] | list[tuple[int, ...]] | None:
    """``--hidden`` values: one size list, or several (repeated flag or ';'-separated)."""
    if not items:
        return None
    sizes = [_hidden(t) for item in items for t in item.split(";") if t.strip()]
    return sizes if len(sizes) > 1 else sizes[0]


def _hidden(text: str | list[str] | None) -> tuple[int, ...] | None:
    if isinstance(text, list):
        if len(text) > 1:
            raise ConfigError("rlsub run takes one --hidden (sweeps take several)")
        text = text[0]
    if text is None:
        return None
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--hidden expects comma-separated layer sizes, got {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise ConfigError(f"--hidden expects positive layer sizes, got {text!r}")
    return sizes


def _dim(text: str) -> int | None:
    from rlsub.sweep import parse_dims

    dims = parse_dims(text, option="--dim")
    if len(dims) != 1:
        raise ConfigError(f"--dim takes one dimension (or 'full'), got {text!r}")
    return dims[0]


def _env_arg(args) -> str:
    env = args.env or getattr(args, "task", None)
    if not env:
        raise ConfigError("give --env (or --task)")
    return env


def _trial_options(p: argparse.ArgumentParser, sweep: bool) -> None:
    p.add_argument("--env", help="preset name, Gymnasium id, module.path:Class, or supervised task"
                   + (" (comma-separated for several)" if sweep else ""))
    p.add_argument("--task", help="alias of --env (supervised tasks: digits-fc, digits-lenet, mnist-fc, mnist-lenet)")
    p.add_argument("--method", help="optimizer of θ_d (see 'rlsub methods'; default cmaes, adam for supervised)"
                   + (" (comma-separated for several)" if sweep else ""))
    p.add_argument("--projection",
                   help="auto (default: the fastest for this D, d and method on a CPU, see "
                   "rlsub.projections.choose_projection" + ("; one per experiment, for the largest d; "
                   "--adaptive: dense" if sweep else "") + ") | dense | sparse | fastfood"
                   + (" (comma-separated for several)" if sweep else ""))
    p.add_argument("--budget", type=int, help="training env steps per trial (default: the task preset's)")
    p.add_argument("--episodes", type=int, help="training episodes per population member and generation")
    p.add_argument("--eval-episodes", type=int, help="final evaluation episodes on fresh seeds (default 20)")
    p.add_argument("--hidden", action="append",
                   help="policy hidden layer sizes, e.g. 64,64" + (
                       "; repeat it (or separate sizes by ';') to sweep network widths, e.g. --hidden 16,16 "
                       "--hidden 64,64 --hidden 256,256" if sweep else ""))
    p.add_argument("--family", help="policy network family: mlp or cnn (default: from the observation space)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="method hyper-parameter (repeatable)")
    p.add_argument("--device", help="torch device (cpu, cuda; default cpu)")
    p.add_argument("--data-dir", help="directory with MNIST IDX files (supervised mnist-* tasks)")
    # --- ray backend hook
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: process pool (default); ray: trials as Ray tasks, direct-search populations "
                   "split across Ray actors (same results)")
    p.add_argument("--address", help="Ray cluster address for --backend ray (default: start a local Ray)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
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
    p.add_argument("--workers", type=int, help="parallel processes (default: all cores)")
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
                   "until the d_int CI's hi/lo <= R or --max-trials (rlsub.sharpen)")
    p.add_argument("--max-trials", type=int, metavar="N",
                   help="--until-ci: at most N trials per experiment, grid included (default: 4x the grid)")

    p = sub.add_parser("dint", help="print d_int90 (with CIs) from a results directory",
                       description="Compute d_int for each experiment (trials that differ only in d, seed and projection) and "
                       "projection in a store, reading only the store. " + DINT_HELP)
    p.add_argument("dir", help="sweep output directory")
    p.add_argument("--threshold", type=float, default=0.9, help="fraction of the baseline (default 0.9)")
    p.add_argument("--baseline", type=float, help="R_base to use instead of the measured or preset one")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples for confidence intervals")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

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
    p.add_argument("--out", required=True, help="report directory")
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--no-reference", action="store_true", help="leave out the paper's values")

    p = sub.add_parser("migrate", help="upgrade a store written by an older rlsub",
                       description="Rewrite DIR/results.sqlite in the current schema: every row gets its experiment "
                       "fingerprint, normalisation, network and coordinates moved (this needs the tasks' code once; "
                       "later analysis does not). The old database is kept as results.sqlite.v1.")
    p.add_argument("dir", help="sweep output directory")

    p = sub.add_parser("atlas", help="the difficulty atlas: run its protocols, export atlas.csv, draw its figure",
                       description="run: a protocol's sweep (resumable), recording its CPU time; export: one CSV row "
                       "per (env, method) from each protocol's store (rlsub.atlas); figure: d_int90 with CIs on a "
                       "log-d axis from that CSV.")
    p.add_argument("action", choices=["run", "export", "figure"])
    p.add_argument("files", nargs="+", help="run, export: protocol files (atlas/protocols/*.toml); figure: atlas.csv")
    p.add_argument("--out", help="the CSV (export) or image (figure) to write")
    p.add_argument("--root", default=".", help="run, export: directory the protocols' store paths are relative to")
    p.add_argument("--workers", type=int, help="run: parallel processes (default: all cores)")

    sub.add_parser("envs", help="list task presets", description="List environment presets and supervised tasks.")
    sub.add_parser("methods", help="list optimizers", description="List the methods that train θ_d.")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.threads < 1:
        print(f"rlsub: error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    if args.command in ("run", "sweep") and not getattr(args, "config", None):
        from rlsub.names import quick_check

        # Before torch is imported (seconds): a typo in --env or --method is refused at once.
        methods = [m.strip() for m in (args.method or "").split(",") if m.strip()]
        problem = quick_check(args.env or args.task, methods)
        if problem:
            print(f"rlsub: error: {problem}", file=sys.stderr)
            return 2
    if args.command == "sweep" and _pooled(args):
        from rlsub.pool import start_early  # a light module: the workers' server imports while this process does

        start_early()
    import torch

    from rlsub.console import plain_warnings

    plain_warnings()
    torch.set_num_threads(args.threads)
    try:
        return COMMANDS[args.command](args) or 0
    except RlsubError as e:
        print(f"rlsub: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlsub: interrupted; finished trials are stored", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stderr.close()
        return 0


def _pooled(args) -> bool:
    """Whether a sweep will likely run in worker processes (more than one trial, more than one worker)."""
    if args.backend != "local" or (args.workers or os.cpu_count() or 1) <= 1:
        return False
    if args.config:
        return True
    count = 1
    for text in (args.env or args.task or "", args.method or "", args.projection, args.dims or ""):
        count *= max(1, len([t for t in text.split(",") if t.strip()]))
    seeds = args.seeds.strip()
    return count * (int(seeds) if seeds.isdigit() else len(seeds.split(","))) > 1


def cmd_run(args) -> int:
    from rlsub.runner import commit, execute
    from rlsub.store import Store
    from rlsub.tasks import resolve_projection, resolve_task, typed_params
    from rlsub.trial import TrialConfig

    task = resolve_task(_env_arg(args))
    method, dim = args.method or task.method_names()[0], _dim(args.dim)
    params = typed_params(task, method, _params(args.param))
    hidden = _hidden(args.hidden)
    if dim is not None and dim > (D := task.native_dimension(hidden, args.family)):
        raise ConfigError(f"subspace dimension d={dim} exceeds the network's parameter count D={D} ({task.name})")
    config = TrialConfig(
        env=task.name, method=method, dim=dim,
        projection=resolve_projection(args.projection or "auto", task, dim, method, hidden, args.family),
        seed=args.seed, budget=args.budget, episodes=args.episodes,
        eval_episodes=20 if args.eval_episodes is None else args.eval_episodes,
        hidden=hidden, params=tuple(sorted(params.items())), device=args.device or "cpu", family=args.family,
        revision=task.revision,
    )
    with Store(args.out) as store:
        if args.backend == "ray":  # --- ray backend hook: populations across Ray actors
            from rlsub.ray_backend import execute_on_ray

            result = execute_on_ray(config, args.data_dir, args.address)
        else:
            result = execute(config, args.data_dir)
        row = commit(store, args.out, config, result)
    if row["status"] != "done":
        print(f"rlsub: error: trial failed: {row['error']}", file=sys.stderr)
        return 1
    art = Path(args.out) / row["artifact"]
    size = art.stat().st_size + art.with_suffix(".npz").stat().st_size
    rets = row["final_returns"]
    mean = sum(rets) / len(rets)
    print(f"{config.env} {config.method} {config.projection_name} d={row['d']} D={row['D']} seed={config.seed}")
    if row["measure"] == task.normalisation().measure:
        print(f"  final evaluation: {mean:.4g} ({row['measure']}, {len(rets)} fresh episode(s))")
    else:
        print(f"  score: {mean:.4g} ({row['measure']}, {len(rets)} episode(s))")
        if "test_mean" in row.get("info", {}):
            print(f"  greedy test: {row['info']['test_mean']:.4g} (mean episode return, fresh episodes)")
    if row["r_low_source"] == "measured: random policy":
        print(f"  floor: {row['r_low']:.4g} (mean return of a random policy on the same episodes)")
    print(f"  env steps: {row['env_steps']}, wall time: {row['wall_time']:.1f} s")
    print(f"  solution: {art} ({size} bytes), compression D/d = {row['D'] / row['d']:.1f}x")
    return 0


def cmd_sweep(args) -> int:
    from rlsub.dint import compute_dint, format_table
    from rlsub.store import Store
    from rlsub.sweep import SweepSpec, load_sweep_config, run_sweep

    opts: dict[str, Any] = {}
    given = _sweep_fields(args)
    if args.config:
        spec, opts = load_sweep_config(args.config)
        if args.param:  # merged into the file's hyper-parameters of each method
            given["params"] = {**spec.params, **{m: {**spec.params.get(m, {}), **_params(args.param)}
                                                 for m in given.get("methods", spec.methods)}}
        spec = replace(spec, **given)
    else:
        if not args.dims and not args.adaptive:
            raise ConfigError("give --dims (e.g. 1,2,4,8,full) or --config FILE")
        from rlsub.tasks import resolve_task

        envs = given.pop("envs", None) or [_env_arg(args)]
        methods = given.pop("methods", None) or [resolve_task(envs[0]).method_names()[0]]
        spec = SweepSpec(envs=envs, methods=methods, dims=given.pop("dims", []), seeds=given.pop("seeds", [0, 1, 2]),
                         params={m: _params(args.param) for m in methods} if args.param else {}, **given)
    out = args.out or opts.get("out")
    if not out:
        raise ConfigError("give --out DIR (or 'out' in the config)")
    workers = args.workers or opts.get("workers")
    if args.adaptive:
        if args.backend != "local":  # --- ray backend hook
            raise ConfigError("--adaptive runs with --backend local only")
        from rlsub.adaptive import adaptive_search, format_adaptive

        results = adaptive_search(spec, out, d_min=args.dmin, d_max=args.dmax, resolution=args.resolution,
                                  threshold=args.threshold, workers=workers, progress=not args.no_progress)
        print(format_adaptive(results, args.threshold))
        if args.until_ci:
            if isinstance(spec.hidden, list):
                raise ConfigError("--until-ci with --adaptive takes one network width")
            for r in results:
                grid = sorted(d for d, _ in r.probes) + ([None] if None in spec.dims else [])
                _sharpen(replace(spec, envs=[r.env], methods=[r.method], projections=[r.projection], dims=grid),
                         out, args, workers, opts)
        with Store(out, create=False) as store:
            print(format_table(compute_dint(store.rows(), threshold=args.threshold)))
        return 0
    if args.until_ci:
        _sharpen(spec, out, args, workers, opts)
        with Store(out, create=False) as store:
            print(format_table(compute_dint(store.rows(), threshold=args.threshold)))
        return 0
    counts = run_sweep(spec, out, workers=workers, progress=not args.no_progress, lockstep=not args.no_lockstep,
                       notify=print,
                       backend=args.backend, address=args.address,  # --- ray backend hook
                       data_dir=args.data_dir or opts.get("data_dir"))
    print(f"trials: {counts['total']} total, {counts['skipped']} already stored, {counts['done']} done, "
          f"{counts['failed']} failed, {counts['crashed']} crashed")
    with Store(out, create=False) as store:
        print(format_table(compute_dint(store.rows(), threshold=args.threshold)))
    return 1 if counts["crashed"] else 0


def _sharpen(spec, out, args, workers, opts) -> None:
    from rlsub.sharpen import format_sharpen, sharpen

    results = sharpen(spec, out, ratio=args.until_ci, max_trials=args.max_trials, threshold=args.threshold,
                      workers=workers, progress=not args.no_progress, lockstep=not args.no_lockstep, notify=print,
                      backend=args.backend, address=args.address,  # --- ray backend hook
                      data_dir=args.data_dir or opts.get("data_dir"))
    print(format_sharpen(results, args.until_ci))


def _sweep_fields(args) -> dict[str, Any]:
    """The ``SweepSpec`` fields given on the command line (with ``--config``, they override the file's)."""
    from rlsub.sweep import parse_dims, parse_seeds

    def names(text: str) -> list[str]:
        return [t.strip() for t in text.split(",") if t.strip()]

    out: dict[str, Any] = {}
    if args.env or args.task:
        out["envs"] = names(_env_arg(args))
    if args.method:
        out["methods"] = names(args.method)
    if args.dims:
        out["dims"] = parse_dims(args.dims)
    if args.seeds is not None:
        out["seeds"] = parse_seeds(args.seeds)
    if args.projection:
        out["projections"] = names(args.projection)
    if args.hidden:
        out["hidden"] = _widths(args.hidden)
    for name in ("budget", "episodes", "eval_episodes", "family", "device", "batch_seeds"):
        if getattr(args, name) is not None:
            out[name] = getattr(args, name)
    return out


def cmd_dint(args) -> int:
    from rlsub.dint import compute_dint, format_table
    from rlsub.store import Store

    if not 0 < args.threshold <= 1.5:
        raise ConfigError(f"--threshold must be in (0, 1.5], got {args.threshold}")
    with Store(args.dir, create=False) as store:
        results = compute_dint(store.rows(), threshold=args.threshold, baseline=args.baseline, n_boot=args.boot)
        failed = store.count("failed")
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        if not results:
            print("no subspace trials in this store yet")
        print(format_table(results))
        if failed:
            print(f"({failed} failed trial(s) not counted)")
    return 0


def cmd_replay(args) -> int:
    from rlsub.replay import replay

    rep = replay(args.file, episodes=args.episodes, seed=args.seed, data_dir=args.data_dir)
    print(rep)
    return 0


def cmd_report(args) -> int:
    from rlsub.report import write_report

    index = write_report(args.dirs, args.out, threshold=args.threshold, n_boot=args.boot,
                         reference=not args.no_reference)
    print(f"report written: {index} (and {index.with_suffix('.md')})")
    return 0


def cmd_atlas(args) -> int:
    from rlsub.atlas import run_command

    print(run_command(args.action, args.files, args.out, args.root, args.workers))
    return 0


def cmd_envs(args) -> int:
    from rlsub.envs import PRESETS
    from rlsub.tasks.supervised import SUPERVISED_TASKS

    print(f"{'name':<28} {'kind':<11} {'solved at':>9}  {'return range':<16} description")
    for p in PRESETS.values():
        low = f"{p.return_low:g}" if p.return_low is not None else "random"
        best = f"{p.return_best:g}" if p.return_best is not None else "?"
        solved = f"{p.solved_threshold:g}" if p.solved_threshold is not None else "-"
        print(f"{p.name:<28} {'rl':<11} {solved:>9}  {f'[{low}, {best}]':<16} {p.description}")
    for t in SUPERVISED_TASKS.values():
        print(f"{t.name:<28} {'supervised':<11} {'-':>9}  {'accuracy':<16} {t.description}")
    print("\nAny other Gymnasium id (or module.path:Class) works too, with the policy chosen from its spaces and")
    print("its floor R_low measured per trial (the mean return of a uniformly random policy).")
    return 0


def cmd_migrate(args) -> int:
    from rlsub.migrate import migrate

    n = migrate(args.dir)
    print(f"migrated {n} trials in {args.dir} to the current schema (the old database is kept as results.sqlite.v1)")
    return 0


def cmd_methods(args) -> int:
    from rlsub.agents import METHODS

    for m in METHODS.values():
        print(f"{m.name:<10} {m.family:<8} {m.description}")
    return 0


COMMANDS = {"run": cmd_run, "sweep": cmd_sweep, "dint": cmd_dint, "replay": cmd_replay, "report": cmd_report,
            "envs": cmd_envs, "methods": cmd_methods, "migrate": cmd_migrate, "atlas": cmd_atlas}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
