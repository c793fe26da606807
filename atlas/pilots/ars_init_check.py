"""Where linear ARS starts decides whether it learns: rlsub's ARS class driven through plain gymnasium rollouts.

    python atlas/pilots/ars_init_check.py --init zeros --squash tanh      # learns (Hopper-v5: ~3100 at ~1M steps)
    python atlas/pilots/ars_init_check.py --init torch --squash tanh      # rlsub's random θ_0 of seed 0: stalls

It bypasses rlsub's evaluator, rollout and policy kernels on purpose: the search (``rlsub.agents.ars.ARS``, V2-t
with the zoo's Hopper values and the survival-bonus offset) sees returns of episodes played here with numpy, so
a difference between the two starts cannot come from rlsub's evaluation. ``--init torch`` takes θ_0 from the
linear policy rlsub builds for seed 0 (``TrialConfig(hidden=())``); ``--init zeros`` starts at 0 as the paper
does. ``--squash clip`` clips the raw linear output to the bounds (the paper) instead of rlsub's tanh. Prints
(iteration, env steps, mean return of 3 unshaped test episodes of the current mean) every 30 iterations.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch
from gymnasium.wrappers.utils import RunningMeanStd

from rlsub.agents.ars import ARS, ARSConfig
from rlsub.tasks import trial_context
from rlsub.trial import TrialConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="Hopper-v5")
    ap.add_argument("--init", choices=("zeros", "torch"), default="zeros")
    ap.add_argument("--squash", choices=("tanh", "clip"), default="tanh")
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--offset", type=float, default=-1.0, help="alive_bonus_offset (0 for Swimmer/HalfCheetah)")
    args = ap.parse_args()

    env = gym.make(args.env)
    n, p = env.observation_space.shape[0], env.action_space.shape[0]
    D = n * p + p
    theta0 = np.zeros(D)
    if args.init == "torch":
        ctx = trial_context(TrialConfig(env=args.env, method="ars", seed=0, hidden=()))
        theta0 = ctx.policy.flat(torch.zeros(D)).detach().numpy().astype(np.float64)
        ctx.close()
    opt = ARS(D, 0, ARSConfig(), D)
    rng = np.random.default_rng(5)
    stats = RunningMeanStd(epsilon=1e-4, shape=(n,))
    mean, std = np.zeros(n), np.ones(n)

    def rollout(theta, seen=None, shaped=True):
        flat = theta0 + theta
        W, b = flat[: n * p].reshape(p, n), flat[n * p:]
        obs, _ = env.reset(seed=int(rng.integers(2**30)))
        total, steps = 0.0, 0
        for _ in range(1000):
            if seen is not None:
                seen.append(obs)
            z = W @ ((obs - mean) / std) + b
            obs, r, term, trunc, _ = env.step(np.tanh(z) if args.squash == "tanh" else np.clip(z, -1, 1))
            total += r + (args.offset if shaped else 0.0)
            steps += 1
            if term or trunc:
                break
        return total, steps

    env_steps = 0
    for it in range(args.iterations):
        X, seen = opt.ask(), []
        res = [rollout(x, seen) for x in X]
        env_steps += sum(s for _, s in res)
        opt.tell(X, np.array([r for r, _ in res]))
        stats.update(np.array(seen))
        mean, std = stats.mean.copy(), np.sqrt(np.maximum(stats.var, 1e-4))
        if it % 30 == 0 or it == args.iterations - 1:
            test = np.mean([rollout(opt.mean, shaped=False)[0] for _ in range(3)])
            print(it, env_steps, round(float(test), 1), flush=True)


if __name__ == "__main__":
    main()
