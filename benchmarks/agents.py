"""Update-step time of DQN and PPO in a subspace vs. the same agent in full space (CartPole's network).

``ppo`` is the trainer's step (policy and value coordinates through one stacked projection);
``ppo-2P`` the same step with the value net in a separate subspace (its own P, two projections).

Every variant (full space, dense d, Fastfood d) is timed side by side in one run: rounds are
interleaved so that load on the machine affects all variants alike; the median per step is reported.
Each timed block starts with a few untimed steps: the dense variants stream an 18 MB P through
the caches, and without the warm-up the variant timed next pays for refilling them (~0.1 ms per
step over 20 steps), which no real trainer running one variant does.

    python benchmarks/agents.py [--dim 1000] [--rounds 15] [--steps 20] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch
from common import Result, bench_main

from rlsub.agents.dqn.single import DQNConfig, ReplayBuffer, td_loss
from rlsub.agents.gradient_common import Head, value_network
from rlsub.agents.ppo import PPOConfig, make_value_subspace, ppo_loss
from rlsub.tasks import trial_context
from rlsub.trial import TrialConfig, TrialContext
from rlsub.utils.seeding import np_generator, torch_generator


def dqn_stepper(ctx: TrialContext):
    """One DQN gradient step (batch 64: TD target, Huber loss, backward, clip, Adam)."""
    cfg = DQNConfig()
    policy = ctx.policy
    theta = policy.theta_d
    with torch.no_grad():
        target = policy.params(theta.detach().clone())
    opt = torch.optim.Adam([theta], lr=cfg.lr)
    rng = np_generator(0, "bench")
    buf = ReplayBuffer(4096, tuple(ctx.spec.obs_shape))
    n = 4096
    obs = rng.standard_normal((n, *ctx.spec.obs_shape)).astype(np.float32)
    buf.add(obs, rng.integers(0, ctx.spec.action.n, n), rng.standard_normal(n), obs[::-1], rng.random(n) < 0.05)

    def step() -> None:
        loss = td_loss(policy, theta, target, buf.sample(cfg.batch_size, rng), cfg, ctx.device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([theta], cfg.max_grad_norm)
        opt.step()

    return step


def ppo_stepper(ctx: TrialContext, fuse: bool = True):
    """One PPO minibatch step (256 samples: policy + own-subspace value net, backward, clip, Adam).

    ``fuse``: the trainer's value subspace (θ_v through the policy's P, one stacked projection);
    False: the value net in a separate subspace with its own P (two projections per step).
    """
    cfg = PPOConfig()
    policy = ctx.policy
    if fuse:
        vsub = make_value_subspace(ctx, cfg, policy)
    else:
        vsub = ctx.subspace(value_network(ctx), name="value")
    head = Head.create(ctx.spec.action, 0.0, True, ctx.device)
    params = [policy.theta_d, vsub.theta_d]
    opt = torch.optim.Adam(params, lr=cfg.lr, eps=1e-5)
    g = torch_generator(0, "bench")
    mb = cfg.minibatch_size
    dev = ctx.device
    obs = torch.randn(mb, *ctx.spec.obs_shape, generator=g).to(dev)
    raw = torch.randint(0, ctx.spec.action.n, (mb,), generator=g).to(dev)
    old_logp = torch.full((mb,), -0.69, device=dev)
    adv, ret = torch.randn(mb, generator=g).to(dev), torch.randn(mb, generator=g).to(dev)

    def step() -> None:
        loss = ppo_loss(cfg, policy, vsub, vsub.theta_d, head, obs, raw, old_logp, adv, ret)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        opt.step()

    return step


def products_stepper(ctx: TrialContext):
    """The two P products of one update step alone: Pθ_d forward, Pᵀg backward (dense: 2 passes over P)."""
    theta = ctx.policy.theta_d
    grad = torch.randn(ctx.policy.D, generator=torch_generator(0, "bench")).to(ctx.device)

    def step() -> None:
        theta.grad = None
        ctx.policy.projection(theta).backward(grad)

    return step


def run(args: argparse.Namespace) -> list[Result]:
    """Median update-step time of each agent in a subspace (dense, Fastfood, sparse) against full space.

    A ``dense P products alone`` row per agent times just Pθ_d and Pᵀg in the same rounds: a floor
    under the dense step (memory-bound on CPU: both products stream all D·d floats of P).
    """
    variants = [("full", None, "dense"), (f"dense d={args.dim}", args.dim, "dense"),
                (f"fastfood d={args.dim}", args.dim, "fastfood"), (f"sparse d={args.dim}", args.dim, "sparse")]
    agents = {"dqn": dqn_stepper, "ppo": ppo_stepper, "ppo-2P": lambda ctx: ppo_stepper(ctx, fuse=False)}
    products = f"dense P products alone d={args.dim}"
    steppers, times, D = {}, {}, None
    sync = torch.cuda.synchronize if torch.device(args.device).type == "cuda" else (lambda: None)
    print(f"[agents] update steps on {args.device} ...", flush=True)
    for agent, make in agents.items():
        for label, dim, proj in [*variants, (products, args.dim, "dense")]:
            ctx = trial_context(TrialConfig(args.env, method=agent.split("-")[0], dim=dim, projection=proj, seed=0,
                                           device=args.device))
            D = ctx.policy.D
            step = products_stepper(ctx) if label == products else make(ctx)
            for _ in range(3):  # warm-up (allocations, lazy init)
                step()
            steppers[agent, label], times[agent, label] = step, []
    for _ in range(args.rounds):  # interleaved, so machine noise hits every variant alike
        for key, step in steppers.items():
            for _ in range(3):
                step()
            sync()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            sync()
            times[key].append((time.perf_counter() - t0) / args.steps)
    results = []
    for agent in agents:
        case = f"{args.env} D={D} {agent}" + ("" if args.device == "cpu" else f" {args.device}")
        base = statistics.median(times[agent, "full"])
        for label, _, _ in variants[1:]:
            t = statistics.median(times[agent, label])
            # ratio = full/subspace; the target "subspace <= 1.5x full" is ratio >= 1/1.5 ~ 0.67.
            results.append(Result("agents", case, f"update step, {label} vs full space", "ms",
                                  1e3 * t, "full space", 1e3 * base, target=0.67))
        t = statistics.median(times[agent, products])
        gbps = 2 * D * args.dim * 4 / t / 1e9
        results.append(Result("agents", case, f"{products} vs full-space step", "ms", 1e3 * t, "full space", 1e3 * base,
                              note=f"floor under the dense step: 2 passes over P at {gbps:.0f} GB/s"))
    return results


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--env", default="CartPole-v1")
    ap.add_argument("--dim", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=20, help="update steps per variant and round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="torch device of the networks and projections (cpu, cuda)")
    ap.add_argument("--json", help="write the results here")


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
