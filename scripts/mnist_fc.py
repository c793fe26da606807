#!/usr/bin/env python
"""Supervised intrinsic-dimension sweep: test accuracy vs d, and where 90 % of the baseline is reached.

Defaults reproduce a CPU-sized version of the paper's MNIST-FC experiment (784-200-200-10,
D = 199,210, Fastfood projection, d around the paper's d_int90 ≈ 750). Any task works:

    python scripts/mnist_fc.py --data-dir ../shared/data/mnist --epochs 1
    python scripts/mnist_fc.py --task digits-fc --dims 8,16,32,64,128,256,full --seeds 0,1
    python scripts/mnist_fc.py --task digits-lenet --dims 16,64,256,full --projection dense

Prints one line per trial and a summary: mean accuracy per d, the full-space baseline (measured
if ``full`` is among the dims, else the task's fallback) and the smallest d whose mean reaches
90 % of it. Runs single-threaded by default so it can share a machine politely.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from rlsub.errors import RlsubError
from rlsub.tasks.supervised import SUPERVISED_TASKS, run_supervised_trial
from rlsub.trial import TrialConfig


def parse_dims(text: str) -> list[int | None]:
    return [None if t.strip() == "full" else int(t) for t in text.split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="mnist-fc", choices=sorted(SUPERVISED_TASKS))
    ap.add_argument("--dims", default="300,500,750,1000,full", help="comma list; 'full' = no projection")
    ap.add_argument("--seeds", default="0", help="comma list of trial seeds")
    ap.add_argument("--projection", default="fastfood", choices=["dense", "sparse", "fastfood"])
    ap.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    ap.add_argument("--epochs", type=float, default=None, help="passes over the training split")
    ap.add_argument("--budget", type=int, default=None, help="training examples (instead of --epochs)")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: rlsub.supervised.recipe's)")
    ap.add_argument("--full-lr", type=float, default=None, help="learning rate of the full-space runs")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--data-dir", default=None, help="MNIST IDX folder (else $RLSUB_DATA_DIR)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true", help="also print one JSON object per trial")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    results: dict[int | None, list[float]] = {}
    try:
        for d in parse_dims(args.dims):
            for seed in (int(s) for s in args.seeds.split(",")):
                params: dict[str, object] = {}
                lr = args.full_lr if d is None else args.lr
                if lr is not None:
                    params["lr"] = lr
                if args.epochs is not None:
                    params["epochs"] = args.epochs
                if args.batch_size is not None:
                    params["batch_size"] = args.batch_size
                config = TrialConfig(
                    env=args.task, method=args.optimizer, dim=d, projection=args.projection, seed=seed,
                    budget=args.budget, params=tuple(sorted(params.items())), device=args.device,
                )
                t = time.perf_counter()
                res = run_supervised_trial(config, data_dir=args.data_dir)
                acc = res.final_returns[0]
                results.setdefault(d, []).append(acc)
                print(f"{args.task} d={d or 'full':>6} seed={seed} D={res.D} acc={acc:.4f} "
                      f"examples={res.env_steps} lr={res.info['lr']} {time.perf_counter() - t:.1f}s", flush=True)
                if args.json:
                    print(json.dumps({"config": config.to_dict(), "acc": acc, "curve": res.curve,
                                      "wall_time": res.wall_time, "info": res.info}), flush=True)
    except RlsubError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    baseline = float(np.mean(results[None])) if None in results else SUPERVISED_TASKS[args.task].return_best
    source = "measured" if None in results else "task fallback"
    print(f"\nbaseline ({source}) = {baseline:.4f}; 90% threshold = {0.9 * baseline:.4f}")
    d_int90 = None
    for d in sorted(k for k in results if k is not None):
        mean = float(np.mean(results[d]))
        mark = mean >= 0.9 * baseline
        if mark and d_int90 is None:
            d_int90 = d
        print(f"  d={d:>6}: mean acc {mean:.4f} over {len(results[d])} seed(s){'  >= 90%' if mark else ''}")
    print(f"d_int90 ≈ {d_int90 if d_int90 is not None else '> largest d tried'} (on this grid)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
