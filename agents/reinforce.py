"""REINFORCE (Williams 1992) on θ_d with a learned or running baseline.

Each update runs one fresh episode in each of ``episodes`` envs (reset with a per-update seed,
strictly on-policy), computes discounted returns-to-go G_t and ascends
``Σ_t log π(a_t|s_t) (G_t - b_t)``. Baselines:

* ``learned``: a value network in its own subspace (seed derived from "value"), fitted to G_t;
* ``running``: an exponential moving average of the batch's mean return-to-go;
* ``none``.

Discrete actions use a categorical head over the logits; Box actions a Gaussian over the
pre-tanh mean (see ``agents.common``).

Subspace trials (``dim`` set) default to ``SUBSPACE`` (lr 3e-2; ``--param`` overrides): an Adam
step moves θ by ~lr·sqrt(d) against ~lr·sqrt(D) in full space, so the step size must grow. On
CartPole-v1 (d = 32, dense, seed 0, 20 test episodes) lr 5e-3 reached 187 after 300k steps,
lr 3e-2 426 after 100k and 402 after 300k. With these defaults over 3 seeds and 300k steps
(``rlsub sweep --env CartPole-v1 --method reinforce --dims 8,16,32,64,full --seeds 3 --budget 300000``)
d = 16 reaches 0.91 of the full-space return on average (one seed solves it), d = 64 solves all three;
16 episodes per update did worse (d_int90 64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlsub.agents.gradient_common import (
    Head,
    Progress,
    check,
    check_fraction,
    check_obs,
    check_positive,
    clip_grad,
    final_obs,
    make_train_envs,
    obs_tensor,
    trial_config,
    value_network,
)
from rlsub.utils.seeding import derive_seed, torch_generator


@dataclass(frozen=True)
class ReinforceConfig:
    """Hyper-parameters of REINFORCE."""

    lr: float = 5e-3
    """Adam step size on θ_d (and the baseline's coordinates, and log σ for Box actions)."""
    episodes: int = 8
    """Episodes per update (one per env, run together)."""
    gamma: float = 0.99
    baseline: str = "learned"
    """``learned`` (value net in its own subspace), ``running`` (EMA of returns) or ``none``."""
    baseline_momentum: float = 0.9
    """EMA factor of the running baseline."""
    vf_coef: float = 0.5
    norm_adv: bool = True
    ent_coef: float = 0.0
    max_grad_norm: float = 0.0
    """Gradient-norm clipping (0: none)."""
    init_log_std: float = 0.0
    learn_std: bool = True
    validation_episodes: int = 10
    early_stop: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "reinforce", "lr", "episodes")
        check_fraction(self, "reinforce", "gamma", "baseline_momentum")
        check(self.baseline in ("learned", "running", "none"), "reinforce",
              f"baseline must be 'learned', 'running' or 'none', got {self.baseline!r}")
        check(self.vf_coef >= 0, "reinforce", f"vf_coef must be >= 0, got {self.vf_coef}")
        check(self.ent_coef >= 0, "reinforce", f"ent_coef must be >= 0, got {self.ent_coef}")
        check(self.max_grad_norm >= 0, "reinforce", f"max_grad_norm must be >= 0, got {self.max_grad_norm}")
        check(self.validation_episodes >= 1, "reinforce",
              f"validation_episodes must be >= 1, got {self.validation_episodes}")


#: Defaults of subspace trials (see the module docstring).
SUBSPACE = dict(lr=3e-2)


def returns_to_go(rewards: np.ndarray, mask: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted returns-to-go of ``[T, N]`` rewards; ``mask`` marks each env's live steps."""
    G = np.zeros_like(rewards, dtype=np.float64)
    acc = np.zeros(rewards.shape[1])
    for t in reversed(range(rewards.shape[0])):
        acc = (rewards[t] + gamma * acc) * mask[t]
        G[t] = acc
    return G


def train(cfg: ReinforceConfig, ctx):
    """Train θ_d with REINFORCE for ``ctx.budget`` env steps; returns the trial's TrialResult."""
    dev = ctx.device
    policy = ctx.policy
    head = Head.create(ctx.spec.action, cfg.init_log_std, cfg.learn_std, dev)
    params = [policy.theta_d] + head.extra
    vsub = None
    if cfg.baseline == "learned":
        vsub = ctx.subspace(value_network(ctx), name="value")
        params.append(vsub.theta_d)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    gen = torch_generator(ctx.seed, "reinforce")
    N = cfg.episodes
    env, _ = make_train_envs(ctx, N, "reinforce")
    max_t = ctx.task.max_episode_steps
    progress = Progress(ctx, cfg.validation_episodes, early_stop=cfg.early_stop)
    running_b = 0.0
    steps = updates = 0
    try:
        while steps < ctx.budget:
            obs, _ = env.reset(seed=derive_seed(ctx.seed, "reinforce-episodes", updates) % 2**31)
            check_obs(ctx.task.name, steps, obs)
            xs, raws, rews, masks = [], [], [], []
            alive = np.ones(N, dtype=bool)
            ep_ret = np.zeros(N)
            with torch.no_grad():
                pp = policy.params()
                for _ in range(max_t + 1):
                    x = obs_tensor(obs, dev)
                    raw = head.sample(policy.call(pp, x), gen)
                    obs, rew, term, trunc, info = env.step(head.to_env(raw))
                    r = np.where(alive, np.asarray(rew, dtype=np.float64), 0.0)
                    xs.append(x)
                    raws.append(raw)
                    rews.append(r)
                    masks.append(alive.copy())
                    ep_ret += r
                    steps += int(alive.sum())
                    done = np.asarray(term) | np.asarray(trunc)
                    ended = alive & done  # episodes that ended now; later ones (autoresets) are ignored
                    alive &= ~done
                    check_obs(ctx.task.name, steps, obs[alive], *([final_obs(obs, info, ended)[ended]] if ended.any() else []))
                    if not alive.any():
                        break
            rew_a, mask_a = np.stack(rews), np.stack(masks)
            G = returns_to_go(rew_a, mask_a, cfg.gamma)
            live = torch.as_tensor(mask_a.reshape(-1), device=dev)
            X = torch.stack(xs).reshape(-1, *xs[0].shape[1:])[live]
            A_raw = torch.stack(raws).reshape(-1, *raws[0].shape[1:])[live]
            G_t = torch.as_tensor(G.reshape(-1), dtype=torch.float32, device=dev)[live]

            out = policy.call(policy.params(), X)
            logp, ent = head.log_prob_entropy(out, A_raw)
            loss = torch.zeros((), device=dev)
            if vsub is not None:
                v = vsub(X).squeeze(-1)
                adv = G_t - v.detach()
                loss = loss + cfg.vf_coef * 0.5 * ((v - G_t) ** 2).mean()
            elif cfg.baseline == "running":
                adv = G_t - running_b
                running_b = cfg.baseline_momentum * running_b + (1 - cfg.baseline_momentum) * float(G_t.mean())
            else:
                adv = G_t
            if cfg.norm_adv and adv.numel() > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            loss = loss - (logp * adv).mean() - cfg.ent_coef * ent.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip_grad(params, cfg.max_grad_norm)
            opt.step()
            updates += 1
            progress.log(steps + progress.check_steps, ep_ret.tolist())
            if progress.should_stop(policy.theta_d):
                break
    finally:
        env.close()
    theta = progress.finalize(policy.theta_d)
    info = {"updates": updates, "train_steps": steps, "baseline": cfg.baseline, **progress.info()}
    if head.log_std is not None:
        info["log_std"] = head.log_std.detach().cpu().tolist()
    # Every trained number counts (value net θ_v, log σ): the coordinates this method really moved.
    return ctx.result(theta, steps + progress.check_steps, progress.curve, info, moved=sum(p.numel() for p in params))


def run(ctx):
    """``--method reinforce``: build the config from ``ctx.params`` and train."""
    return train(trial_config(ReinforceConfig, ctx, "reinforce", SUBSPACE), ctx)
