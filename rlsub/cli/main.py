"""Command-line interface: ``rlsub run | sweep | dint | curves | report | replay | envs | methods``.

Every user error (unknown env/method/projection, bad d, malformed config, corrupted store or
solution, unwritable output) prints one line ``rlsub: error: ...`` and exits with status 2.

The project modules a command runs are imported inside its function, on purpose:
``rlsub --help`` and a typo'd ``--env``/``--method`` answer before torch is imported.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rlsub.cli.parser import build_parser
from rlsub.cli.readers import cmd_curves, cmd_dint, cmd_envs, cmd_methods, cmd_report
from rlsub.errors import ConfigError, RlsubError


def _params(items: Sequence[str] | None) -> dict[str, str]:
    """``--param NAME=VALUE`` pairs as strings; each method types them against its config."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--param expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = v.strip()
    return out


#: ``--hidden`` words for no hidden layer (a linear policy, D = obs·act + act); so is ``--hidden ""``.
LINEAR_WORDS = ("", "none", "linear")


def _widths(items: list[str] | None) -> tuple[int, ...] | list[tuple[int, ...]] | None:
    """``--hidden`` values: one size list, or several (repeated flag or ';'-separated)."""
    if not items:
        return None
    sizes = [_hidden(t) for item in items for t in (item.split(";") if item.strip() else [item])
             if t.strip() or not item.strip()]
    return sizes if len(sizes) > 1 else sizes[0]


def _hidden(text: str | list[str] | None) -> tuple[int, ...] | None:
    if isinstance(text, list):
        if len(text) > 1:
            raise ConfigError("rlsub run takes one --hidden (sweeps take several)")
        text = text[0]
    if text is None:
        return None
    if text.strip().lower() in LINEAR_WORDS:  # no hidden layer: the linear policy obs -> act (+ bias)
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--hidden expects comma-separated layer sizes, got {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise ConfigError(f"--hidden expects positive layer sizes, got {text!r}")
    return sizes


def _dim(text: str) -> int | None:
    from rlsub.sweeps.spec import parse_dims

    dims = parse_dims(text, option="--dim")
    if len(dims) != 1:
        raise ConfigError(f"--dim takes one dimension (or 'full'), got {text!r}")
    return dims[0]


def _env_arg(args) -> str:
    env = args.env or getattr(args, "task", None)
    if not env:
        raise ConfigError("give --env (or --task)")
    return env


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.threads < 1:
        print(f"rlsub: error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    if args.command in ("run", "sweep") and not getattr(args, "config", None):
        from rlsub.cli.names import quick_check

        # Before torch is imported (seconds): a typo in --env or --method is refused at once.
        methods = [m.strip() for m in (args.method or "").split(",") if m.strip()]
        problem = quick_check(args.env or args.task, methods)
        if problem:
            print(f"rlsub: error: {problem}", file=sys.stderr)
            return 2
    if args.command == "sweep" and _pooled(args):
        from rlsub.execution.worker_pool import start_early  # a light module: the workers' server imports while this process does

        start_early()
    import torch

    from rlsub.utils.console import plain_warnings

    plain_warnings()
    torch.set_num_threads(args.threads)
    try:
        return COMMANDS[args.command](args) or 0
    except RlsubError as e:
        print(f"rlsub: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"rlsub: interrupted; {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("rlsub: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stderr.close()
        return 0


class Interrupted(Exception):
    """Ctrl-C in a sweep, with what the store holds now (how many trials this run stored)."""


def _stored(out) -> int:
    """Trials in ``out``'s store (0 when there is none yet)."""
    from rlsub.results.store import DB_NAME, Store

    if not (Path(out) / DB_NAME).exists():
        return 0
    try:
        with Store(out, create=False) as store:
            return store.count()
    except RlsubError:
        return 0


def _pooled(args) -> bool:
    """Whether a sweep will likely run in worker processes (more than one trial, more than one worker)."""
    if args.backend != "local" or (args.workers or os.cpu_count() or 1) <= 1:
        return False
    if args.config:
        return True
    count = 1
    for text in (args.env or args.task or "", args.method or "", args.projection or "", args.dims or ""):
        count *= max(1, len([t for t in text.split(",") if t.strip()]))
    return count * _seed_count(args.seeds) > 1


def _seed_count(text: str | None) -> int:
    """How many seeds ``--seeds`` names (``N``, ``A-B`` ranges, lists; default 3), without importing the sweep."""
    text = (text or "3").strip()
    if text.isascii() and text.isdigit():
        return int(text)
    n = 0
    for item in (t.strip() for t in text.split(",")):
        lo, _, hi = item.partition("-")
        ok = lo.isascii() and hi.isascii() and lo.isdigit() and hi.isdigit()
        n += max(1, int(hi) - int(lo) + 1) if ok else 1  # a bad item is refused later, by the sweep's parser
    return n


def cmd_run(args) -> int:
    from rlsub.execution.runner import commit, execute
    from rlsub.results.store import Store
    from rlsub.sweeps.plan import check_init
    from rlsub.tasks import resolve_projection, resolve_task, typed_params
    from rlsub.trial import TrialConfig

    task = resolve_task(_env_arg(args))
    method, dim = args.method or task.method_names()[0], _dim(args.dim)
    params = typed_params(task, method, _params(args.param))
    hidden = _hidden(args.hidden)
    if dim is not None and dim > (D := task.native_dimension(hidden, args.family)):
        raise ConfigError(f"subspace dimension d={dim} exceeds the network's parameter count D={D} ({task.name})")
    init = check_init(task, hidden, args.family, args.init)
    config = TrialConfig(
        env=task.name, method=method, dim=dim,
        projection=resolve_projection(args.projection or "auto", task, dim, method, hidden, args.family),
        seed=args.seed, budget=args.budget, episodes=args.episodes,
        eval_episodes=20 if args.eval_episodes is None else args.eval_episodes,
        hidden=hidden, params=tuple(sorted(params.items())), device=args.device or "cpu", family=args.family,
        init=init, revision=task.revision,
    )
    if method == "cmaes" and dim is not None and dim > params.get("diagonal_above", 1000):
        print(f"note: cmaes runs sep-CMA (diagonal covariance) at d = {dim} > diagonal_above")
    with Store(args.out) as store:
        if args.backend == "ray":  # --- ray backend hook: populations across Ray actors
            from rlsub.execution.ray_backend import execute_on_ray

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
    from rlsub.sweeps.spec import SweepSpec, load_sweep_config

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
    if args.until_ci is not None and not args.until_ci > 1:
        raise ConfigError(f"--until-ci must be > 1 (a ratio hi/lo of the CI), got {args.until_ci}")
    if args.max_trials is not None and args.until_ci is None:
        raise ConfigError("--max-trials caps --until-ci: give --until-ci R too")
    if args.on != "dint90" and args.until_ci is None and not args.adaptive:
        raise ConfigError(f"--on {args.on} picks the statistic of --until-ci or --adaptive: give one of them")
    if args.max_trials is not None and args.max_trials < 1:
        raise ConfigError(f"--max-trials must be >= 1, got {args.max_trials}")
    if not 0 < args.threshold <= 1.5:
        raise ConfigError(f"--threshold must be in (0, 1.5], got {args.threshold}")
    from rlsub.cli.explain import sep_cma_note
    from rlsub.sweeps.plan import plan_sweep

    note = sep_cma_note(plan_sweep(spec))  # every env, method, parameter and d checked: nothing written yet
    if note:
        print(note)
    before = _stored(out)
    try:
        return _sweep(spec, out, args, workers, opts)
    except KeyboardInterrupt:
        now = _stored(out)
        raise Interrupted(f"{now - before} trial(s) finished in this run and are stored in {out} ({now} in all); "
                          "rerun the same command to resume") from None


def _sweep(spec, out, args, workers, opts) -> int:
    from rlsub.analysis.dint import compute_dint, format_table
    from rlsub.results.store import Store
    from rlsub.sweeps.run import run_sweep

    if args.adaptive:
        if args.backend != "local":  # --- ray backend hook
            raise ConfigError("--adaptive runs with --backend local only")
        from rlsub.sweeps.adaptive import adaptive_search, format_adaptive

        results = adaptive_search(spec, out, d_min=args.dmin, d_max=args.dmax, resolution=args.resolution,
                                  threshold=args.threshold, workers=workers, progress=not args.no_progress,
                                  on=args.on)
        print(format_adaptive(results, args.threshold))
        crashed = 0
        if args.until_ci is not None:
            if isinstance(spec.hidden, list):
                raise ConfigError("--until-ci with --adaptive takes one network width")
            crashed = sum(_sharpen(replace(spec, envs=[r.env], methods=[r.method], projections=[r.projection],
                                           dims=sorted(d for d, _ in r.probes) + ([None] if None in spec.dims else [])),
                                   out, args, workers, opts) for r in results)
        with Store(out, create=False) as store:
            print(format_table(compute_dint(store.rows(), threshold=args.threshold)))
        return 1 if crashed else 0
    if args.until_ci is not None:
        crashed = _sharpen(spec, out, args, workers, opts)
        with Store(out, create=False) as store:
            print(format_table(compute_dint(store.rows(), threshold=args.threshold)))
        return 1 if crashed else 0
    counts = run_sweep(spec, out, workers=workers, progress=not args.no_progress, lockstep=not args.no_lockstep,
                       notify=print,
                       backend=args.backend, address=args.address,  # --- ray backend hook
                       data_dir=args.data_dir or opts.get("data_dir"))
    print(f"trials: {counts['total']} total, {counts['skipped']} already stored, {counts['done']} done, "
          f"{counts['failed']} failed, {counts['crashed']} crashed")
    with Store(out, create=False) as store:
        print(format_table(compute_dint(store.rows(), threshold=args.threshold)))
    return 1 if counts["crashed"] else 0


def _sharpen(spec, out, args, workers, opts) -> int:
    """Run ``--until-ci``; returns how many trials crashed."""
    from rlsub.sweeps.sharpen import format_sharpen, sharpen

    results = sharpen(spec, out, ratio=args.until_ci, max_trials=args.max_trials, threshold=args.threshold,
                      on=getattr(args, "on", "dint90"), echo=print, workers=workers, progress=not args.no_progress, lockstep=not args.no_lockstep, notify=print,
                      backend=args.backend, address=args.address,  # --- ray backend hook
                      data_dir=args.data_dir or opts.get("data_dir"))
    print(format_sharpen(results, args.until_ci))
    return sum(r.crashed for r in results)


def _sweep_fields(args) -> dict[str, Any]:
    """The ``SweepSpec`` fields given on the command line (with ``--config``, they override the file's)."""
    from rlsub.sweeps.spec import parse_dims, parse_seeds

    def names(text: str) -> list[str]:
        return [t.strip() for t in text.split(",") if t.strip()]

    out: dict[str, Any] = {}
    if args.env or args.task:
        out["envs"] = names(_env_arg(args))
    if args.method:
        out["methods"] = names(args.method)
    if args.dims:
        items = args.dims.split(",")
        if any(not t.strip() for t in items) and any(t.strip() for t in items):
            raise ConfigError(f"--dims has an empty item in {args.dims!r}: give a comma-separated list such as 1,2,4,full")
        out["dims"] = parse_dims(args.dims)
    if args.seeds is not None:
        out["seeds"] = parse_seeds(args.seeds)
    if args.projection:
        out["projections"] = names(args.projection)
    if args.hidden:
        out["hidden"] = _widths(args.hidden)
    for name in ("budget", "episodes", "eval_episodes", "family", "init", "device", "batch_seeds"):
        if getattr(args, name) is not None:
            out[name] = getattr(args, name)
    return out


def cmd_replay(args) -> int:
    from rlsub.execution.replay import replay

    rep = replay(args.file, episodes=args.episodes, seed=args.seed, data_dir=args.data_dir)
    print(rep)
    return 0


def cmd_atlas(args) -> int:
    from rlsub.atlas.protocol import run_command

    print(run_command(args.action, args.files, args.out, args.root, args.workers, args.whole_grid))
    return 0


def cmd_migrate(args) -> int:
    from rlsub.results.migrate import migrate

    n = migrate(args.dir)
    print(f"migrated {n} trials in {args.dir} to the current schema (the old database is kept as results.sqlite.v1)")
    return 0


COMMANDS = {"run": cmd_run, "sweep": cmd_sweep, "dint": cmd_dint, "curves": cmd_curves, "replay": cmd_replay,
            "report": cmd_report,
            "envs": cmd_envs, "methods": cmd_methods, "migrate": cmd_migrate, "atlas": cmd_atlas}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
