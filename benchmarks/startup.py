"""Start-up: ``rlsub sweep`` wall time, this code against an older commit's, in one run.

    python benchmarks/startup.py [--ref REF] [--reps 5] [--skip-main] [--quick] [--json FILE]

Two commands, each run as a fresh ``python -m rlsub.cli.main`` process, old and new interleaved rep by rep
(the machine's load hits both alike), medians reported:

* (a) a one-trial sweep: ``sweep --env CartPole-v1 --method cmaes --dims 4 --seeds 1 --budget 2000``,
  almost all start-up (imports, pycma, numba, the d_int table);
* (b) the README's main job: ``--dims 1,2,4,8,16,32 --seeds 5 --budget 60000`` (30 trials, 2 workers).

The old code is ``REF`` (default: ``BEFORE``, the last commit before issue 20's start-up work), exported with ``git archive`` into a
cache directory laid out as the installed package (``rlsub/``, ``rlsub/agents``, ``rlsub/envs``) and put
first on ``PYTHONPATH``, so the venv's editable install of this tree is not what it imports (checked: every
rlsub module it loads must come from there). The directory is kept per commit, so numba's cache next to
its sources is compiled once, by the untimed warm-up run of each side. The new code is this working tree
as installed. Targets (issue 20): (a) new/old <= 0.40, (b) new/old <= 0.70; printed both as the ratio of
the medians and as the median of each rep's back-to-back pair. After the runs the main
job's stores are compared trial by trial (key, fingerprint, final mean/std, final returns, env steps):
the start-up work must not change a result. Then where a process's start-up goes: fresh interpreters
importing torch, pycma (whole, and as rlsub imports it), numba, and ``rlsub.sweeps.run``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from common import Result, bench_main, skipped, standard_arguments

#: The code the issue's start-up targets are measured against (main before issue 20's start-up work).
BEFORE = "0dbaece"

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rlsub-bench"
BASE = ["sweep", "--env", "CartPole-v1", "--method", "cmaes", "--no-progress"]
ONE_TRIAL = BASE + ["--dims", "4", "--seeds", "1", "--budget", "2000"]
MAIN_JOB = BASE + ["--dims", "1,2,4,8,16,32", "--seeds", "5", "--budget", "60000"]
TARGETS = {"one-trial sweep": 0.40, "README main job": 0.70}
_COMPARED = "key, fingerprint, final_mean, final_std, final_returns, env_steps, status"


def add_arguments(p: argparse.ArgumentParser) -> None:
    standard_arguments(p)
    p.add_argument("--ref", default=BEFORE, help=f"the old code's git ref (default: {BEFORE}, before the start-up work)")
    p.add_argument("--reps", type=int, default=5, help="timed runs of each command per side")
    p.add_argument("--skip-main", action="store_true", help="time the one-trial sweep only")


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


def stage(ref: str) -> Path:
    """``ref``'s rlsub as an importable tree (cached per commit); returns the directory for PYTHONPATH."""
    sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    dest = CACHE / f"startup-{sha[:12]}"
    if not (dest / "rlsub" / "__init__.py").exists():
        tmp = Path(tempfile.mkdtemp(prefix="stage-", dir=CACHE.mkdir(parents=True, exist_ok=True) or CACHE))
        data = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", sha, "rlsub", "agents", "envs"],
                              check=True, capture_output=True).stdout
        with tarfile.open(fileobj=BytesIO(data)) as tar:
            tar.extractall(tmp, filter="data")
        (tmp / "agents").rename(tmp / "rlsub" / "agents")  # the package-dir mapping of pyproject.toml
        (tmp / "envs").rename(tmp / "rlsub" / "envs")
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    return dest


#: Where the timed processes start: not the repository root, whose rlsub/ would shadow PYTHONPATH's copy
#: of the old code (a script's or ``-m``'s own directory comes first on sys.path).
NEUTRAL = tempfile.gettempdir()


def _env(pythonpath: Path | None) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def check_imports(pythonpath: Path | None, root: Path) -> None:
    """Every rlsub module a sweep loads comes from ``root`` (the staged copy, or this tree)."""
    code = ("import sys, json; import rlsub.cli.main, rlsub.sweeps.run, rlsub.agents.cmaes, rlsub.envs.cartpole_batch; "
            "print(json.dumps({n: getattr(m, '__file__', None) for n, m in sys.modules.items() "
            "if n == 'rlsub' or n.startswith('rlsub.')}))")
    out = subprocess.run([sys.executable, "-c", code], env=_env(pythonpath), check=True, capture_output=True,
                         text=True, cwd=NEUTRAL).stdout
    stray = {n: f for n, f in json.loads(out).items() if f and not Path(f).resolve().is_relative_to(root.resolve())}
    if stray:
        raise SystemExit(f"startup benchmark: modules imported from outside {root}: {stray}")


def run_once(argv: list[str], pythonpath: Path | None, out: Path) -> float:
    """Wall seconds of one ``python -m rlsub.cli.main ARGV --out OUT`` (a fresh OUT: nothing to skip)."""
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rlsub.cli.main", *argv, "--out", str(out.resolve())],
                          env=_env(pythonpath), capture_output=True, text=True, cwd=NEUTRAL)
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"startup benchmark: {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return dt


def trials(out: Path) -> list[tuple]:
    con = sqlite3.connect(out / "results.sqlite")
    try:
        return con.execute(f"SELECT {_COMPARED} FROM trials ORDER BY key").fetchall()
    finally:
        con.close()


def import_times(reps: int) -> dict[str, float]:
    """Median wall of fresh interpreters doing only this (this tree), interleaved."""
    snippets = {
        "python itself": "pass",
        "import torch": "import torch",
        "import cma (whole)": "import cma",
        # as rlsub.agents.cmaes.import_pycma does (without importing rlsub.agents, which imports torch)
        "import cma (as rlsub does)": "from rlsub.utils.optional_imports import import_without; import_without('cma', ('matplotlib', 'scipy.stats'))",
        "import numba": "import numba",
        "import rlsub.sweeps.run (torch, tasks, lockstep)": "import rlsub.sweeps.run",
    }
    times: dict[str, list[float]] = {k: [] for k in snippets}
    for _ in range(reps):
        for name, code in snippets.items():
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=_env(None), check=True, capture_output=True, cwd=NEUTRAL)
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def run(args) -> list[Result]:
    results: list[Result] = []
    cases = {"one-trial sweep": ONE_TRIAL}
    if not (args.skip_main or args.quick):
        cases["README main job"] = MAIN_JOB
    reps = 1 if args.quick else max(1, args.reps)
    try:
        ref = args.ref
        old = None if args.quick else stage(ref)
    except (OSError, subprocess.CalledProcessError) as e:
        old = None
        if not args.quick:
            why = e.stderr.strip()[:120] if isinstance(e, subprocess.CalledProcessError) else str(e)
            return [skipped("startup", "old vs new", f"cannot export the old code ({why})")]
    sides = {"new": None} if old is None else {"old": old, "new": None}
    check_imports(None, ROOT)
    if old is not None:
        check_imports(old, old)
        print(f"# start-up: old = {ref} ({_git('rev-parse', '--short', ref)}), staged in {old}; new = {ROOT}")
    with tempfile.TemporaryDirectory(prefix="rlsub-startup-") as tmp:
        outs = {(case, side): Path(tmp) / f"{side}-{i}" for i, case in enumerate(cases) for side in sides}
        for case, argv in cases.items():  # untimed: numba's cache, the OS's file cache
            for side, path in sides.items():
                run_once(argv, path, outs[case, side])
        times: dict[tuple[str, str], list[float]] = {k: [] for k in outs}
        for rep in range(reps):
            for case, argv in cases.items():
                order = list(sides.items()) if rep % 2 == 0 else list(sides.items())[::-1]
                for side, path in order:
                    times[case, side].append(run_once(argv, path, outs[case, side]))
                    print(f"  rep {rep + 1}/{reps} {case} {side}: {times[case, side][-1]:.2f} s", flush=True)
        for case in cases:
            new = statistics.median(times[case, "new"])
            if old is None:
                results.append(Result("startup", case, "wall", "s", new, note="quick: this code only, no baseline"))
                continue
            base = statistics.median(times[case, "old"])
            # Each rep's pair ran back to back: the median of their ratios shrugs off a load spike in one rep.
            paired = statistics.median(n / o for n, o in zip(times[case, "new"], times[case, "old"]))
            same = trials(outs[case, "old"]) == trials(outs[case, "new"])
            results.append(Result("startup", case, "wall", "s", new, "old code", base, target=1 / TARGETS[case],
                                  note=f"new/old = {new / base:.2f} of the medians, {paired:.2f} median of the reps' "
                                  f"pairs (target <= {TARGETS[case]:.2f}); trials {'identical' if same else 'DIFFER'} "
                                  "old vs new",
                                  extra={"old_s": times[case, "old"], "new_s": times[case, "new"], "paired": paired,
                                         "identical": same}))
            if not same:
                raise SystemExit(f"startup benchmark: {case}: stored trials differ between old and new code")
    for name, t in ({} if args.quick else import_times(reps)).items():
        results.append(Result("startup", "where it goes (fresh interpreter)", name, "s", t))
    return results


if __name__ == "__main__":
    sys.exit(bench_main(__doc__, add_arguments, run))
