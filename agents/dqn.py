"""DQN (Mnih et al. 2015) on θ_d: the policy network's outputs are the Q-values.

Replay buffer, a target network that is the same network at its own copy of θ_d, ε-greedy
exploration with a linear schedule, Huber loss, optional Double DQN (van Hasselt et al. 2016) and
vectorised collection. The greedy policy (argmax Q) is exactly what the evaluator runs.

Defaults follow the RL-zoo CartPole-v1 DQN hyper-parameters (lr 2.3e-3, batch 64, 128 gradient
steps every 256 env steps, ε → 0.04 over 16 % of the budget). ``PONG`` holds Nature-DQN-scale
values for Atari (1M replay, 4-step training, 10k-step target sync expressed in gradient steps).

Subspace trials (``dim`` set) start from ``SUBSPACE`` instead (lr 3e-2, rewards scaled by 0.01;
``--param`` values still override). With the full-space defaults DQN did not solve CartPole-v1
at any d <= 64 (d = 64, 100k steps: 67; lr 1e-2: 51), for two reasons:

* **Q-value scale.** CartPole's Q-values reach 1/(1-γ) = 100, while the tanh network at θ_0
  outputs O(1). In full space the output layer alone grows to that scale; in a subspace every
  coordinate of θ_d moves a unit-norm direction spread over all D parameters, of which the output
  layer holds only ~3 % (130 of 4610), so reaching Q ≈ 100 needs a θ_d so large that it wrecks
  the hidden layers. Scaling rewards by 0.01 keeps Q <= 1 and leaves the greedy policy unchanged.
* **Step size.** An Adam step moves each θ_d coordinate by ~lr, i.e. θ by ~lr·sqrt(d) in norm,
  against ~lr·sqrt(D) in full space: per native parameter the subspace step is sqrt(d/D) times
  smaller, so lr must grow by ~sqrt(D/d) (2.3e-3·sqrt(4610/32) ≈ 3e-2).

Measured on CartPole-v1 (dense P, seed 0, 100k-step budget, 20 fresh test episodes): with
reward_scale 0.01, d = 64: lr 1e-2 → 427, lr 3e-2 → 474 (early-stopped on a 10-episode check
≥ 475); d = 32, lr 3e-2 → 500 after 25k steps; d = 16 → 452; Double DQN (d = 64) → 240.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlsub.seeding import np_generator

from .common import (
    EpisodeTracker,
    Progress,
    check,
    check_fraction,
    check_positive,
    clip_grad,
    final_obs,
    linear_schedule,
    trial_config,
    make_train_envs,
    obs_tensor,
    require_discrete,
)


@dataclass(frozen=True)
class DQNConfig:
    """Hyper-parameters of DQN (all counts are env steps unless they say gradient steps)."""

    lr: float = 2.3e-3
    buffer_size: int = 100_000
    batch_size: int = 64
    gamma: float = 0.99
    learning_starts: int = 1000
    """Env steps of (ε-greedy) collection before the first update."""
    train_freq: int = 256
    """Env steps between training phases."""
    gradient_steps: int = 128
    """Gradient steps per training phase."""
    target_update: int = 128
    """Gradient steps between updates of the target θ_d."""
    tau: float = 1.0
    """Target update rate: 1 copies θ_d (hard update), < 1 is Polyak averaging."""
    eps_start: float = 1.0
    eps_end: float = 0.04
    exploration_fraction: float = 0.16
    """Fraction of the budget over which ε decays linearly from eps_start to eps_end."""
    double: bool = False
    """Double DQN: the online θ_d picks the next action, the target θ_d values it."""
    huber: bool = True
    """Huber (smooth L1) TD loss; False uses the squared error."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this in the TD target (Q-values shrink by the same factor; the
    greedy policy is unchanged)."""
    max_grad_norm: float = 10.0
    num_envs: int = 1
    """Envs stepped together for collection."""
    adam_eps: float = 1e-8
    validation_episodes: int = 10
    early_stop: bool = True
    early_stop_trigger: float = 0.5
    """Check the greedy policy once ε-greedy training returns reach this fraction of the threshold
    (greedy is often far better than ε-greedy on balance tasks, and DQN oscillates: check early)."""

    def __post_init__(self) -> None:
        check_positive(self, "dqn", "lr", "buffer_size", "batch_size", "train_freq", "gradient_steps",
                       "target_update", "num_envs", "adam_eps", "reward_scale")
        check(self.learning_starts >= 0, "dqn", f"learning_starts must be >= 0, got {self.learning_starts}")
        check(self.batch_size <= self.buffer_size, "dqn",
              f"batch_size ({self.batch_size}) must not exceed buffer_size ({self.buffer_size})")
        check(0.0 < self.tau <= 1.0, "dqn", f"tau must be in (0, 1], got {self.tau}")
        check_fraction(self, "dqn", "gamma", "eps_start", "eps_end", "exploration_fraction", "early_stop_trigger")
        check(self.max_grad_norm >= 0, "dqn", f"max_grad_norm must be >= 0 (0: no clipping), got {self.max_grad_norm}")
        check(self.validation_episodes >= 1, "dqn", f"validation_episodes must be >= 1, got {self.validation_episodes}")


#: Nature-DQN-scale settings for Atari Pong (used with a Nature-CNN policy family).
PONG = DQNConfig(
    lr=1e-4, buffer_size=1_000_000, batch_size=32, gamma=0.99, learning_starts=80_000,
    train_freq=4, gradient_steps=1, target_update=1000, eps_start=1.0, eps_end=0.01,
    exploration_fraction=0.1, double=True, huber=True, max_grad_norm=10.0, num_envs=1,
    adam_eps=1.5e-4,
)


#: Defaults of subspace trials (``dim`` set), applied under the trial's own ``--param`` values.
#: See the module docstring for why they differ from the full-space ones.
SUBSPACE = dict(lr=3e-2, reward_scale=0.01)


class ReplayBuffer:
    """Fixed-size circular buffer of transitions (numpy, observations kept in their own dtype).

    ``done`` is *termination* only: a time-limit truncation still bootstraps from ``next_obs``
    (the true last observation, not the autoreset one).
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32) -> None:
        self.capacity = int(capacity)
        self.obs = np.zeros((self.capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((self.capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.dones = np.zeros(self.capacity, dtype=np.float32)
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, actions, rewards, next_obs, dones) -> None:
        """Add a batch of transitions (leading dimension = number of envs)."""
        for i in range(len(actions)):
            p = self.pos
            self.obs[p], self.next_obs[p] = obs[i], next_obs[i]
            self.actions[p], self.rewards[p], self.dones[p] = actions[i], rewards[i], dones[i]
            self.pos = (p + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = rng.integers(0, self.size, size=batch_size)
        return {"obs": self.obs[idx], "actions": self.actions[idx], "rewards": self.rewards[idx],
                "next_obs": self.next_obs[idx], "dones": self.dones[idx]}


def td_loss(policy, theta_d: torch.Tensor, target_params: dict[str, torch.Tensor], b: dict, cfg: DQNConfig,
            device) -> torch.Tensor:
    """TD loss of one batch: Q(s,a) at θ_d against r + γ(1-done)·Q_target(s', a*).

    ``target_params`` are the target network's parameters, projected once per target update
    (``policy.params(target_theta)``), so a step projects θ_d through P only once.
    """
    obs, next_obs = obs_tensor(b["obs"], device), obs_tensor(b["next_obs"], device)
    actions = torch.as_tensor(b["actions"], device=device)
    rewards = torch.as_tensor(b["rewards"], device=device)
    dones = torch.as_tensor(b["dones"], device=device)
    params = policy.params(theta_d)
    with torch.no_grad():
        q_next = policy.call(target_params, next_obs)
    if cfg.double:
        # One forward for Q(s) and the online net's choice at s' (detached).
        q_both = policy.call(params, torch.cat([obs, next_obs]))
        q_all, a_star = q_both[: len(obs)], q_both[len(obs):].detach().argmax(-1, keepdim=True)
    else:
        q_all, a_star = policy.call(params, obs), q_next.argmax(-1, keepdim=True)
    y = cfg.reward_scale * rewards + cfg.gamma * (1.0 - dones) * q_next.gather(-1, a_star).squeeze(-1)
    q = q_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    if cfg.huber:
        return torch.nn.functional.smooth_l1_loss(q, y)
    return torch.nn.functional.mse_loss(q, y)


def train(cfg: DQNConfig, ctx):
    """Train θ_d with DQN for ``ctx.budget`` env steps; returns the trial's TrialResult."""
    require_discrete(ctx, "dqn")
    dev = ctx.device
    policy = ctx.policy
    theta = policy.theta_d
    target = theta.detach().clone()
    with torch.no_grad():
        target_params = policy.params(target)
    opt = torch.optim.Adam([theta], lr=cfg.lr, eps=cfg.adam_eps)
    rng = np_generator(ctx.seed, "dqn")
    N = cfg.num_envs
    env, obs = make_train_envs(ctx, N, "dqn")
    obs_space = env.single_observation_space
    buffer = ReplayBuffer(min(cfg.buffer_size, max(ctx.budget, cfg.batch_size)), tuple(obs_space.shape),
                          obs_space.dtype if obs_space.dtype == np.uint8 else np.float32)
    n_actions = ctx.spec.action.n
    tracker = EpisodeTracker(N)
    trigger = None if ctx.threshold is None else cfg.early_stop_trigger * ctx.threshold
    progress = Progress(ctx, cfg.validation_episodes, early_stop=cfg.early_stop, trigger=trigger)
    steps = grad_steps = 0
    next_train = max(cfg.learning_starts, cfg.train_freq)
    next_log = 1000
    loss_val = float("nan")
    with torch.no_grad():
        pp = policy.params()  # θ_d only changes in training phases: project once per phase
    try:
        while steps + N <= ctx.budget:
            eps = linear_schedule(cfg.eps_start, cfg.eps_end, cfg.exploration_fraction, steps / ctx.budget)
            with torch.no_grad():
                greedy = policy.call(pp, obs_tensor(obs, dev)).argmax(-1).cpu().numpy()
            explore = rng.random(N) < eps
            actions = np.where(explore, rng.integers(0, n_actions, size=N), greedy)
            next_obs, rew, term, trunc, info = env.step(actions)
            done = np.asarray(term) | np.asarray(trunc)
            buffer.add(obs, actions, rew, final_obs(next_obs, info, done), np.asarray(term, dtype=np.float32))
            tracker.step(rew, done)
            obs = next_obs
            steps += N
            if steps >= next_train:
                next_train += cfg.train_freq
                for _ in range(cfg.gradient_steps):
                    loss = td_loss(policy, theta, target_params, buffer.sample(cfg.batch_size, rng), cfg, dev)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    clip_grad([theta], cfg.max_grad_norm)
                    opt.step()
                    grad_steps += 1
                    if grad_steps % cfg.target_update == 0:
                        with torch.no_grad():
                            target.mul_(1.0 - cfg.tau).add_(theta.detach(), alpha=cfg.tau)
                            target_params = policy.params(target)
                loss_val = float(loss.detach())
                with torch.no_grad():
                    pp = policy.params()
            if steps >= next_log:
                next_log += 1000
                progress.log(steps + progress.check_steps, tracker.pop())
                if progress.should_stop(theta):
                    break
    finally:
        env.close()
    theta_out = progress.finalize(theta)
    info = {"gradient_steps": grad_steps, "train_steps": steps, "final_eps": eps if steps else cfg.eps_start,
            "td_loss": loss_val, "double": cfg.double, **progress.info()}
    return ctx.result(theta_out, steps + progress.check_steps, progress.curve, info)


def run(ctx):
    """``--method dqn``: build the config from ``ctx.params`` and train."""
    return train(trial_config(DQNConfig, ctx, "dqn", SUBSPACE), ctx)
