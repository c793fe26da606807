"""The commands that read stores and registries and write nothing but their output: ``dint``, ``curves``,
``report``, ``envs`` and ``methods`` ([`rlsub.cli.main`][rlsub.cli.main] dispatches to them). Heavy modules are imported
inside each function, so ``rlsub --help`` stays light."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rlsub.errors import ConfigError


def cmd_dint(args) -> int:
    from rlsub.analysis.dint import compute_dint, format_table
    from rlsub.results.store import Store

    if not 0 < args.threshold <= 1.5:
        raise ConfigError(f"--threshold must be in (0, 1.5], got {args.threshold}")
    with Store(args.dir, create=False) as store:
        results = compute_dint(store.rows(), threshold=args.threshold, baseline=args.baseline, n_boot=args.boot,
                               references=store.references())
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


def _check_out_dir(out: str) -> None:
    """A report directory that can be created (or reused): not a file, not under a file, writable."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {out} is an existing file; give a directory (it is created, or reused)")
    parent = next((p for p in [path, *path.parents] if p.exists()), Path("."))
    if not parent.is_dir():
        raise ConfigError(f"--out {out}: {parent} is a file, so no directory can be made under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: {parent} is not writable")


def cmd_curves(args) -> int:
    from rlsub.analysis.curves import format_curves, learning_curves, plot_learning_curves

    if args.out:
        if not args.out.lower().endswith(".png"):
            raise ConfigError(f"--out takes a .png file, got {args.out!r}")
        target = Path(args.out)
        if target.is_dir() or not target.parent.resolve().is_dir() or not os.access(target.parent.resolve(), os.W_OK):
            raise ConfigError(f"--out {args.out}: cannot write a file there")
    groups = learning_curves([args.dir])
    if args.out:
        print(f"learning curves written: {plot_learning_curves(groups, args.out)} ({len(groups)} experiment(s))")
    else:
        print(format_curves(groups, width=args.width))
    return 0


def cmd_report(args) -> int:
    from rlsub.analysis.report import write_report

    _check_out_dir(args.out)

    index = write_report(args.dirs, args.out, threshold=args.threshold, n_boot=args.boot,
                         reference=not args.no_reference, compare_on={"dint90": "dint"}.get(args.compare_on, "d50"))
    print(f"report written: {index} (and {index.with_suffix('.md')})")
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
    print("its floor R_low measured per trial (the mean return of a uniformly random policy), a default --budget of")
    print("200k env steps, and Gymnasium's reward_threshold (if any) as its reference: set your own with")
    print("solved_threshold in a TOML [[envs]] entry when that threshold cannot be reached.")
    return 0


def cmd_methods(args) -> int:
    from rlsub.cli.explain import format_method, format_methods

    print(format_method(args.name) if args.name else format_methods())
    return 0
