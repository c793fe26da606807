"""PPO (Schulman et al. 2017) on θ_d: clipped objective, GAE, minibatch epochs, vectorised envs.

The policy network runs at θ_0 + P θ_d (``ctx.policy``); gradients flow through P into θ_d only.
The value network is a second MLP with the policy's architecture and either

* ``value_subspace="own"`` (default): its own d coordinates θ_v. In a subspace the value net has
  as many outputs as the policy (only the first is the value), so both networks have the same D
  and θ_v goes through the *policy's* P: θ_value = θ_0,value + P θ_v, with its own θ_0 (seed
  derived from "value"). P is independent of both θ_0, so this is still a random d-dimensional
  subspace of the value net, and one projection of the stacked [θ_d; θ_v] per minibatch serves
  both networks (half the projection work of two separate Ps). In full space it is a plain
  one-output network; or
* ``value_subspace="shared"``: the *same* θ_d as the policy through the value net's own projection,
  so the whole agent trains only d numbers (needs a subspace: not available with dim=None).

Defaults follow the RL-zoo CartPole-v1 PPO hyper-parameters (8 envs × 32 steps, 20 epochs,
γ = 0.98, λ = 0.8, lr 1e-3 annealed, no entropy bonus); they solve CartPole-v1 and
InvertedPendulum-v5 in full space. Subspace trials (``dim`` set) start from ``SUBSPACE`` instead
(CleanRL-style rollouts: 4 envs × 128 steps, 4 epochs, γ = 0.99, λ = 0.95, entropy 0.01,
lr 1e-2; ``--param`` values still override): each θ_d coordinate moves a unit-norm direction in
parameter space, so the step size must be larger.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium.wrappers.utils import RunningMeanStd

from rlsub.agents.gradient_common import (
    EpisodeTracker,
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
from rlsub.subspace import Subspace
from rlsub.utils.seeding import derive_seed, torch_generator


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters of PPO."""

    lr: float = 1e-3
    """Adam step size on θ_d (and the value coordinates, and log σ for Box actions)."""
    anneal_lr: bool = True
    """Decay the step size linearly to 0 over the budget."""
    num_envs: int = 8
    num_steps: int = 32
    """Rollout length per env; a rollout has num_envs × num_steps transitions."""
    epochs: int = 20
    minibatch_size: int = 256
    gamma: float = 0.98
    gae_lambda: float = 0.8
    clip: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    norm_adv: bool = True
    target_kl: float | None = None
    """Stop an update's epochs early when the approximate KL exceeds this (None: never)."""
    value_subspace: str = "own"
    """``own`` (value net in its own subspace) or ``shared`` (value net driven by the policy's θ_d)."""
    norm_values: bool | None = None
    """The value net learns standardised returns (running mean and std of the value targets).
    None: on with ``value_subspace="shared"``, where one θ_d takes both the policy's and the value's
    gradient: CartPole's raw returns (up to ~100) made the value loss ~10³ times the policy loss, and
    after gradient clipping the policy barely moved (d = 64: 66–73 on 3 of 4 seeds); off otherwise."""
    init_log_std: float = 0.0
    """Initial log σ of the Gaussian head (Box actions), in pre-tanh units."""
    learn_std: bool = True
    validation_episodes: int = 10
    early_stop: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "ppo", "lr", "num_envs", "num_steps", "epochs", "minibatch_size", "clip")
        check_fraction(self, "ppo", "gamma", "gae_lambda")
        check(self.ent_coef >= 0, "ppo", f"ent_coef must be >= 0, got {self.ent_coef}")
        check(self.vf_coef >= 0, "ppo", f"vf_coef must be >= 0, got {self.vf_coef}")
        check(self.max_grad_norm >= 0, "ppo", f"max_grad_norm must be >= 0 (0: no clipping), got {self.max_grad_norm}")
        check(self.target_kl is None or self.target_kl > 0, "ppo", f"target_kl must be > 0 or None, got {self.target_kl}")
        check(self.value_subspace in ("own", "shared"), "ppo",
              f"value_subspace must be 'own' or 'shared', got {self.value_subspace!r}")
        check(self.validation_episodes >= 1, "ppo", f"validation_episodes must be >= 1, got {self.validation_episodes}")


#: Hyper-parameters that solved CartPole-v1 at d = 64 (dense) where the zoo defaults did not.
SUBSPACE = dict(lr=1e-2, num_steps=128, num_envs=4, epochs=4, minibatch_size=128, gamma=0.99,
                gae_lambda=0.95, ent_coef=0.01)


class ValueNorm:
    """Running mean and variance of value targets (merged batch moments); identity when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        # No prior count: the first batch's moments replace the initial (0, 1).
        self.stats = RunningMeanStd(epsilon=0, shape=())

    @property
    def count(self) -> int:
        return self.stats.count

    @property
    def mean(self) -> float:
        return float(self.stats.mean)

    @property
    def var(self) -> float:
        return float(self.stats.var)

    @property
    def std(self) -> float:
        return max(float(np.sqrt(self.var)), 1e-4)

    def update(self, x: np.ndarray) -> None:
        """Merge the moments of every value in ``x`` (any shape)."""
        if self.enabled:
            self.stats.update(np.asarray(x).reshape(-1))

    def denorm(self, v: np.ndarray) -> np.ndarray:
        """Value-net outputs in return units."""
        return v * self.std + self.mean if self.enabled else v

    def norm(self, t: torch.Tensor) -> torch.Tensor:
        """Value targets in the value net's units."""
        return (t - self.mean) / self.std if self.enabled else t


def gae(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, next_value: np.ndarray,
        gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation over a ``[T, N]`` rollout.

    ``dones[t]`` is True when the episode ended at step t (the next observation is a reset, so
    nothing is bootstrapped across it); time-limit truncations are handled by the caller, which
    adds γ·V(final observation) to that step's reward. Returns (advantages, returns).
    """
    T = rewards.shape[0]
    adv = np.zeros_like(values, dtype=np.float64)
    last = np.zeros_like(next_value, dtype=np.float64)
    for t in reversed(range(T)):
        nv = next_value if t == T - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t].astype(np.float64)
        delta = rewards[t] + gamma * nv * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv, adv + values


def ppo_loss(cfg: PPOConfig, policy: Subspace, vsub: Subspace, v_theta: torch.Tensor, head: Head,
             obs: torch.Tensor, raw: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, ret: torch.Tensor):
    """PPO loss of one minibatch: clipped surrogate - entropy bonus + value MSE.

    Returns (loss, policy loss, value loss, ratio, log ratio); θ_d enters through P once per call.
    """
    pp, vp = actor_critic_params(policy, vsub, v_theta)
    out = policy.call(pp, obs)
    logp, ent = head.log_prob_entropy(out, raw)
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    if cfg.norm_adv and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean()
    v = vsub.call(vp, obs)[..., 0]
    v_loss = 0.5 * ((v - ret) ** 2).mean()
    loss = pg - cfg.ent_coef * ent.mean() + cfg.vf_coef * v_loss
    return loss, pg, v_loss, ratio, log_ratio


def fused(policy: Subspace, vsub: Subspace, v_theta: torch.Tensor) -> bool:
    """True when the value net's own coordinates go through the policy's P (one stacked product)."""
    return vsub.projection is policy.projection and v_theta is not policy.theta_d


def actor_critic_params(policy: Subspace, vsub: Subspace, v_theta: torch.Tensor):
    """Named parameters of the policy (at its θ_d) and of the value net (at ``v_theta``).

    With a fused value subspace, [θ_d; θ_v] is projected in one batched product.
    """
    if not fused(policy, vsub, v_theta):
        return policy.params(), vsub.params(v_theta)
    flat = policy.projection(torch.stack([policy.theta_d, v_theta]))
    return policy.unflatten(policy.theta_0 + flat[0]), vsub.unflatten(vsub.theta_0 + flat[1])


def make_value_subspace(ctx, cfg: PPOConfig, policy: Subspace) -> Subspace:
    # The full-space baseline has no subspace to share: its value net trains in its own full space,
    # so that a sweep's 'full' trial is the unrestricted method (train() records value_subspace='own').
    if cfg.value_subspace == "own" or ctx.config.dim is None:
        if ctx.config.dim is None:
            return ctx.subspace(value_network(ctx), name="value")
        vsub = ctx.subspace(value_network(ctx, out_dim=ctx.spec.action.out_dim), name="value")
        if vsub.D == policy.D:  # same shapes: share the policy's P (see the module docstring)
            vsub.projection = policy.projection
        return vsub
    net = value_network(ctx)
    return Subspace(net, policy.d, policy.projection_kind, derive_seed(ctx.seed, "value")).to(ctx.device)


def train(cfg: PPOConfig, ctx):
    """Train θ_d with PPO for ``ctx.budget`` env steps; returns the trial's TrialResult."""
    dev = ctx.device
    policy = ctx.policy
    vsub = make_value_subspace(ctx, cfg, policy)
    shared = cfg.value_subspace == "shared" and ctx.config.dim is not None
    v_theta = policy.theta_d if shared else vsub.theta_d
    vnorm = ValueNorm(shared if cfg.norm_values is None else cfg.norm_values)
    head = Head.create(ctx.spec.action, cfg.init_log_std, cfg.learn_std, dev)
    params = [policy.theta_d] + ([] if shared else [vsub.theta_d]) + head.extra
    opt = torch.optim.Adam(params, lr=cfg.lr, eps=1e-5)
    gen = torch_generator(ctx.seed, "ppo")

    N, T = cfg.num_envs, cfg.num_steps
    batch = N * T
    env, obs = make_train_envs(ctx, N, "ppo")
    check_obs(ctx.task.name, 0, obs)
    obs_shape = tuple(ctx.spec.obs_shape)
    tracker = EpisodeTracker(N)
    progress = Progress(ctx, cfg.validation_episodes, early_stop=cfg.early_stop)
    steps = updates = 0
    stats: dict[str, float] = {}
    try:
        while steps + batch <= ctx.budget:
            if cfg.anneal_lr:
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * (1.0 - steps / ctx.budget)
            b_obs = torch.zeros((T, N, *obs_shape), device=dev)
            b_raw: list[torch.Tensor] = []
            b_logp = torch.zeros((T, N), device=dev)
            b_val = np.zeros((T, N))
            b_rew = np.zeros((T, N))
            b_done = np.zeros((T, N), dtype=bool)
            with torch.no_grad():
                pp, vp = actor_critic_params(policy, vsub, v_theta)
                for t in range(T):
                    x = obs_tensor(obs, dev)
                    out = policy.call(pp, x)
                    raw = head.sample(out, gen)
                    b_logp[t] = head.log_prob_entropy(out, raw)[0]
                    b_val[t] = vnorm.denorm(vsub.call(vp, x)[..., 0].cpu().numpy())
                    b_obs[t] = x
                    b_raw.append(raw)
                    obs, rew, term, trunc, info = env.step(head.to_env(raw))
                    term, trunc = np.asarray(term), np.asarray(trunc)
                    done = term | trunc
                    last = final_obs(obs, info, done)
                    check_obs(ctx.task.name, steps + (t + 1) * N, obs, *([last] if done.any() else []))
                    tracker.step(rew, done)
                    rew = np.asarray(rew, dtype=np.float64)
                    cut = trunc & ~term
                    if cut.any():  # time limit: bootstrap from the true last observation
                        v_last = vsub.call(vp, obs_tensor(last[cut], dev))[..., 0]
                        rew[cut] += cfg.gamma * vnorm.denorm(v_last.cpu().numpy())
                    b_rew[t], b_done[t] = rew, done
                next_v = vnorm.denorm(vsub.call(vp, obs_tensor(obs, dev))[..., 0].cpu().numpy())
            steps += batch
            adv, ret = gae(b_rew, b_val, b_done, next_v, cfg.gamma, cfg.gae_lambda)
            vnorm.update(ret)

            f_obs = b_obs.reshape(batch, *obs_shape)
            f_raw = torch.stack(b_raw).reshape(batch, *b_raw[0].shape[1:])
            f_logp = b_logp.reshape(batch)
            f_adv = torch.as_tensor(adv, dtype=torch.float32, device=dev).reshape(batch)
            f_ret = vnorm.norm(torch.as_tensor(ret, dtype=torch.float32, device=dev).reshape(batch))
            mb = min(cfg.minibatch_size, batch)
            clipfracs, kl = [], 0.0
            for _ in range(cfg.epochs):
                perm = torch.randperm(batch, generator=gen).to(dev)
                for start in range(0, batch - mb + 1, mb):
                    idx = perm[start:start + mb]
                    loss, pg, v_loss, ratio, log_ratio = ppo_loss(
                        cfg, policy, vsub, v_theta, head, f_obs[idx], f_raw[idx], f_logp[idx], f_adv[idx], f_ret[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    clip_grad(params, cfg.max_grad_norm)
                    opt.step()
                    with torch.no_grad():
                        kl = float(((ratio - 1) - log_ratio).mean())
                        clipfracs.append(float(((ratio - 1).abs() > cfg.clip).float().mean()))
                if cfg.target_kl is not None and kl > cfg.target_kl:
                    break
            updates += 1
            stats = {"pg_loss": float(pg.detach()), "v_loss": float(v_loss.detach()), "approx_kl": kl,
                     "clipfrac": float(np.mean(clipfracs)) if clipfracs else 0.0}
            progress.log(steps + progress.check_steps, tracker.pop())
            if progress.should_stop(policy.theta_d):
                break
    finally:
        env.close()

    theta = progress.finalize(policy.theta_d)
    info = {"updates": updates, "train_steps": steps, **progress.info(), **stats,
            "value_subspace": "shared" if shared else "own", "value_fused": fused(policy, vsub, v_theta),
            "value_d": policy.d if shared else vsub.d, "norm_values": vnorm.enabled}
    if head.log_std is not None:
        info["log_std"] = head.log_std.detach().cpu().tolist()
    # Every trained number counts (value net θ_v, log σ): the coordinates this method really moved.
    return ctx.result(theta, steps + progress.check_steps, progress.curve, info, moved=sum(p.numel() for p in params))


def run(ctx):
    """``--method ppo``: build the config from ``ctx.params`` and train."""
    return train(trial_config(PPOConfig, ctx, "ppo", SUBSPACE), ctx)
