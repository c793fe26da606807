"""DQN (Mnih et al. 2015) on θ_d: the policy network's outputs are the Q-values.

Replay buffer, a target network that is the same network at its own copy of θ_d, ε-greedy
exploration with a linear schedule, Huber loss, optional Double DQN (van Hasselt et al. 2016) and
vectorised collection. The greedy policy (argmax Q) is exactly what the evaluator runs.

Two default tables (``DEFAULTS``), chosen per task by ``defaults_for``:

* ``classic`` (every non-image task): ``DQNConfig()``, the RL-zoo CartPole-v1 DQN hyper-parameters
  (lr 2.3e-3, batch 64, 128 gradient steps every 256 env steps, ε → 0.04 over 16 % of the budget).
  Subspace trials (``dim`` set) put ``SUBSPACE`` on top (lr 3e-2, rewards scaled by 0.01).
* ``atari`` (an ALE preset, or a CNN policy on uint8 images): ``PONG``, Nature-DQN-scale values
  (1M replay, one gradient step every 4 env steps, Double DQN, Adam eps 1.5e-4, target copy every
  1000 gradient steps = 4000 env steps). Subspace trials get no overrides (``ATARI_SUBSPACE`` is
  empty), see below.

``--param`` values override either table last ([`rlsub.agents.dqn.engines.run`][rlsub.agents.dqn.engines.run] resolves the config and
picks the engine). ``engine=batched`` ([`rlsub.agents.dqn.batched`][rlsub.agents.dqn.batched]) trains the DQN trials of a sweep
worker as one batched computation, each trial exactly as alone.
The trial records the resolved hyper-parameters (``info["dqn_config"]``), the table
(``info["dqn_defaults"]``) and the replay buffer used (``info["replay"]``): stacked uint8 frames (Atari) go to ``FrameReplayBuffer``, which stores each
84×84 frame once (~7.2 kB per transition instead of 56 kB; 1M transitions in ~7.2 GB).

With the full-space defaults DQN did not solve CartPole-v1 at any d <= 64 (d = 64, 100k steps: 67;
lr 1e-2: 51), for two reasons, which is what ``SUBSPACE`` fixes:

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

Neither fix carries over to Atari as it is, so Atari subspace trials run ``PONG`` unchanged:

* Pong's rewards are ±1 per point and points are at least ~35 agent steps apart (random play,
  2 episodes: 35 to 49 on average), so |Q| <= 1/(1-γ^35) ≈ 3.4: the Q scale already matches the
  network's O(1) outputs, and a 0.01 reward scale would push the TD targets below the noise of
  the initial outputs.
* lr 3e-2 is CartPole's 2.3e-3·sqrt(D/d) for D = 4610. The same argument for Pong's Nature CNN
  (D = 1,687,206) gives 1e-4·sqrt(D/d), e.g. ~4e-3 at d = 1000, but no DQN subspace trial on Pong
  has been run yet, so that is not made a default: pass ``--param lr=...`` for Pong subspace sweeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch

from rlsub.agents.dqn.replay_buffer import FrameReplayBuffer, ReplayBuffer
from rlsub.agents.gradient_common import (
    EpisodeTracker,
    Progress,
    check,
    check_fraction,
    check_obs,
    check_positive,
    clip_grad,
    final_obs,
    linear_schedule,
    make_train_envs,
    require_discrete,
    trial_config,
)
from rlsub.errors import ConfigError
from rlsub.utils.seeding import np_generator

#: ``DQNConfig.replay`` values: choose by observation, or force one buffer.
REPLAY_KINDS = ("auto", "plain", "frames")
#: ``DQNConfig.score`` values.
SCORES = ("test", "train100")
#: ``DQNConfig.engine`` values.
ENGINES = ("single", "batched")
#: What a ``score="train100"`` trial's stored returns are (the row's ``measure``).
TRAIN100_MEASURE = "mean return of the last 100 training episodes (epsilon-greedy)"


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
    exploration_steps: int | None = None
    """Env steps over which ε decays (overrides ``exploration_fraction``; a protocol that fixes
    the schedule in steps keeps it whatever ``--budget`` is)."""
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
    score: str = "test"
    """``test``: the trial's performance is its final test on fresh greedy episodes (rlsub's rule).
    ``train100``: Li et al.'s official score (``train_dqn.py``): the mean return of the last (up to)
    100 *training* episodes, and training stops once that mean reaches the task's solved threshold;
    rlsub's greedy checks are off. The fresh greedy test still runs and is recorded (``info["test_mean"]``)."""
    store_every: int = 1
    """Store every n-th transition in the replay buffer, plus the last one of every episode
    (the official ``NeuralQLearner``: 5)."""
    bootstrap_truncation: bool = True
    """Bootstrap through time-limit ends; False makes them terminal (the official loop)."""
    l2: float = 0.0
    """Penalty ``l2·‖θ_d‖²`` added to the TD loss (the official ``reg_param`` on its trainable
    variables, which in a subspace are θ_d)."""
    replay: str = "auto"
    """Replay buffer: ``frames`` (each frame of stacked-frame observations stored once), ``plain``
    (obs and next_obs per transition) or ``auto`` (``frames`` for stacked uint8 frames, else ``plain``).
    Both sample the same batches; ``frames`` needs about 1/8 of the memory on Atari."""
    engine: str = "single"
    """``single``: this module's loop, one trial per process. ``batched``: [`rlsub.agents.dqn.batched`][rlsub.agents.dqn.batched],
    which trains the DQN trials of a sweep worker (any d, seed, projection) as one batched computation
    (plain MLP policies, one env per trial); a trial run alone is a batch of one, with the same numbers.
    Both engines compute every trial with this module's per-trial functions (``greedy_actions``, ``td_loss``,
    ``gradient_step``, ``move_target``), so a batched trial's numbers are its lone run's by construction, on
    any CPU (docs/guide/determinism.md). The engines differ only in Adam's kernel (fused in ``batched``,
    torch's per-tensor loop here), which may round an update differently, so a trial's numbers belong to its
    engine; the engine is part of its config."""

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
        check(self.replay in REPLAY_KINDS, "dqn", f"replay must be one of {', '.join(REPLAY_KINDS)}, got {self.replay!r}")
        check(self.score in SCORES, "dqn", f"score must be one of {', '.join(SCORES)}, got {self.score!r}")
        check(self.engine in ENGINES, "dqn", f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        check(self.store_every >= 1, "dqn", f"store_every must be >= 1, got {self.store_every}")
        check(self.l2 >= 0, "dqn", f"l2 must be >= 0, got {self.l2}")
        check(self.exploration_steps is None or self.exploration_steps >= 0, "dqn",
              f"exploration_steps must be >= 0 or None, got {self.exploration_steps}")


#: Nature-DQN-scale settings for Atari (the ``atari`` defaults: ALE presets, CNN policies on uint8 images).
PONG = DQNConfig(
    lr=1e-4, buffer_size=1_000_000, batch_size=32, gamma=0.99, learning_starts=80_000,
    train_freq=4, gradient_steps=1, target_update=1000, eps_start=1.0, eps_end=0.01,
    exploration_fraction=0.1, double=True, huber=True, max_grad_norm=10.0, num_envs=1,
    adam_eps=1.5e-4,
)


#: Defaults of subspace trials (``dim`` set) of classic tasks, applied under the trial's own
#: ``--param`` values. See the module docstring for why they differ from the full-space ones.
SUBSPACE = dict(lr=3e-2, reward_scale=0.01)

#: Subspace overrides on Atari: none (CartPole's Q-scale and step-size fixes do not transfer; see the
#: module docstring).
ATARI_SUBSPACE: dict = {}

#: Default tables: name → (full-space defaults, subspace overrides).
DEFAULTS: dict[str, tuple[DQNConfig, dict]] = {
    "classic": (DQNConfig(), SUBSPACE),
    "atari": (PONG, ATARI_SUBSPACE),
}


def defaults_for(ctx) -> str:
    """``atari`` for an ALE task or a CNN policy on uint8 images, else ``classic``."""
    preset = getattr(ctx.task, "preset", None)
    if getattr(preset, "atari", None) is not None:
        return "atari"
    obs_space, _ = ctx.task.spaces
    return "atari" if ctx.spec.family == "cnn" and obs_space.dtype == np.uint8 else "classic"


def resolve_config(ctx) -> tuple[DQNConfig, str]:
    """The trial's config and the name of its default table: table defaults, then the table's
    subspace overrides when the trial has a subspace (``dim`` set), then ``ctx.params``."""
    table = defaults_for(ctx)
    base, subspace = DEFAULTS[table]
    return trial_config(DQNConfig, ctx, "dqn", subspace, defaults=asdict(base)), table


def _stacks_frames(ctx, env: gym.vector.VectorEnv) -> bool:
    """Whether observations are uint8 frame stacks ``[stack, *frame]`` that push one frame a step:
    ALE tasks (rlsub's preprocessing stacks frames) or envs wrapped in ``FrameStackObservation``."""
    space = env.single_observation_space
    if space.dtype != np.uint8 or len(space.shape) < 3:
        return False
    if getattr(getattr(ctx.task, "preset", None), "atari", None) is not None:
        return True
    e = getattr(env, "envs", [None])[0]
    while e is not None:
        if isinstance(e, gym.wrappers.FrameStackObservation):
            return True
        e = getattr(e, "env", None)
    return False


def make_buffer(cfg: DQNConfig, ctx, env: gym.vector.VectorEnv, capacity: int) -> ReplayBuffer | FrameReplayBuffer:
    """The replay buffer ``cfg.replay`` asks for (``auto``: frames for stacked uint8 frames)."""
    space = env.single_observation_space
    shape = tuple(space.shape)
    kind = cfg.replay
    if kind == "auto":
        kind = "frames" if _stacks_frames(ctx, env) else "plain"
    if kind == "frames":
        if cfg.store_every > 1:
            raise ConfigError("dqn: store_every > 1 needs replay=plain (the frame buffer stores consecutive frames)")
        if len(shape) < 2:
            raise ConfigError(f"dqn: replay=frames needs [stack, *frame] observations, {ctx.task.name} has shape {shape}")
        return FrameReplayBuffer(capacity, shape, space.dtype)
    return ReplayBuffer(capacity, shape, space.dtype if space.dtype == np.uint8 else np.float32)


def _buffer_info(buffer: ReplayBuffer | FrameReplayBuffer) -> dict:
    info = {"kind": "frames" if isinstance(buffer, FrameReplayBuffer) else "plain",
            "capacity": buffer.capacity, "nbytes": buffer.nbytes, "size": len(buffer)}
    if isinstance(buffer, FrameReplayBuffer):
        info.update(frame_capacity=buffer.frame_capacity, frames_written=buffer.frames_written)
    return info


def store_mask(stored: int, n: int, every: int, done: np.ndarray) -> np.ndarray:
    """Which of the next ``n`` transitions (``stored`` seen so far) replay keeps: every ``every``-th,
    counted over all envs as the official ``storeExperience`` counts calls, and every episode's last."""
    return ((stored + np.arange(n)) % every == 0) | np.asarray(done, dtype=bool)


def owned(x: np.ndarray, device) -> torch.Tensor:
    """``x`` as a float32 tensor in memory of its own (a copy, aligned as every fresh tensor is). A BLAS
    may pick its kernel by an operand's address (MKL on an AMD EPYC with AVX-512 rounds a matrix-vector
    product of a vector 4 floats off its 16-byte boundary differently); every tensor that reaches a
    matrix product here is fresh, so a trial's bits never depend on where a numpy array happened to lie."""
    return torch.tensor(np.asarray(x), dtype=torch.float32, device=device)


PROBE_SIZE = 16  # inputs of a trial's probe (``probe_q``)


def probe_q(ctx, theta_d: np.ndarray) -> list[list[float]]:
    """Q-values at ``theta_d`` of ``PROBE_SIZE`` seeded observations (normal, or uniform bytes for uint8
    observations), stored with the solution: ``rlsub replay`` recomputes them and says how far another
    machine's arithmetic lands from the trial's (max |ΔQ|, greedy actions that changed)."""
    obs_space, _ = ctx.task.spaces
    rng = np_generator(ctx.seed, "probe")
    shape = (PROBE_SIZE, *ctx.spec.obs_shape)
    obs = (rng.integers(0, 256, size=shape, dtype=np.uint8) if obs_space.dtype == np.uint8
           else rng.standard_normal(shape).astype(np.float32))
    policy = ctx.policy
    with torch.no_grad():
        params = policy.params(torch.as_tensor(np.asarray(theta_d, dtype=np.float32), device=ctx.device))
        return policy.call(params, owned(obs, ctx.device)).cpu().double().tolist()


def greedy_actions(policy, params: dict[str, torch.Tensor], obs: np.ndarray, device) -> np.ndarray:
    """argmax Q of the observations ``obs`` ``[n, *obs]`` at the projected ``params`` (both engines)."""
    with torch.no_grad():
        return policy.call(params, owned(obs, device)).argmax(-1).cpu().numpy()


def td_loss(policy, theta_d: torch.Tensor, target_params: dict[str, torch.Tensor], b: dict, cfg: DQNConfig,
            device, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """TD loss of one batch: Q(s,a) at θ_d against r + γ(1-done)·Q_target(s', a*).

    ``target_params`` are the target network's parameters, projected once per target update
    (``policy.params(target_theta)``), so a step projects θ_d through P only once. ``params``: θ_d's
    own projected parameters when the caller already holds them (with their graph to θ_d), else
    ``policy.params(theta_d)``. Both engines compute every trial's loss with this function, one trial
    at a time: its arithmetic is the same whatever else trains beside it.
    """
    obs, next_obs = owned(b["obs"], device), owned(b["next_obs"], device)
    actions = torch.as_tensor(b["actions"], device=device)
    rewards = torch.as_tensor(b["rewards"], device=device)
    dones = torch.as_tensor(b["dones"], device=device)
    params = policy.params(theta_d) if params is None else params
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
    loss = torch.nn.functional.smooth_l1_loss(q, y) if cfg.huber else torch.nn.functional.mse_loss(q, y)
    if cfg.l2:
        loss = loss + cfg.l2 * theta_d.pow(2).sum()
    return loss


def gradient_step(opt: torch.optim.Optimizer, thetas: list[torch.Tensor], losses: list[torch.Tensor],
                  max_grad_norm: float) -> None:
    """One gradient step of every trial in ``thetas`` on its own loss (both engines): each loss is
    backpropagated with gradient 1 on its own graph, each θ_d's gradient clipped alone and ``opt`` steps
    each θ_d by its own kernel call (fused Adam too), so no trial's arithmetic sees another's."""
    opt.zero_grad(set_to_none=True)
    torch.autograd.backward(losses)
    for theta in thetas:
        clip_grad([theta], max_grad_norm)
    opt.step()


def move_target(target: torch.Tensor, theta: torch.Tensor, tau: float) -> None:
    """target ← (1 - τ)·target + τ·θ_d, in place (τ = 1 copies θ_d: 0·target + 1·θ_d is θ_d's bits)."""
    with torch.no_grad():
        target.mul_(1.0 - tau).add_(theta.detach(), alpha=tau)


def train(cfg: DQNConfig, ctx, defaults: str | None = None):
    """Train θ_d with DQN for ``ctx.budget`` env steps; returns the trial's TrialResult.

    ``defaults`` names the default table ``cfg`` was resolved from (recorded; None: built by the caller).
    """
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
    check_obs(ctx.task.name, 0, obs)
    buffer = make_buffer(cfg, ctx, env, min(cfg.buffer_size, max(ctx.budget, cfg.batch_size)))
    n_actions = ctx.spec.action.n
    tracker = EpisodeTracker(N)
    trigger = None if ctx.threshold is None else cfg.early_stop_trigger * ctx.threshold
    progress = Progress(ctx, cfg.validation_episodes, early_stop=cfg.early_stop and cfg.score == "test",
                        trigger=trigger)
    steps = grad_steps = 0
    next_train = max(cfg.learning_starts, cfg.train_freq)
    next_log = 1000
    loss_val = float("nan")
    official = cfg.score == "train100"
    history: deque[float] = deque(maxlen=100)  # the official score's window
    stored = 0
    anneal = cfg.exploration_fraction if cfg.exploration_steps is None else cfg.exploration_steps / ctx.budget
    with torch.no_grad():
        pp = policy.params()  # θ_d only changes in training phases: project once per phase
    try:
        while steps + N <= ctx.budget:
            eps = linear_schedule(cfg.eps_start, cfg.eps_end, anneal, steps / ctx.budget)
            greedy = greedy_actions(policy, pp, obs, dev)
            explore = rng.random(N) < eps
            actions = np.where(explore, rng.integers(0, n_actions, size=N), greedy)
            next_obs, rew, term, trunc, info = env.step(actions)
            done = np.asarray(term) | np.asarray(trunc)
            ends = np.asarray(term if cfg.bootstrap_truncation else done, dtype=np.float32)
            last = final_obs(next_obs, info, done)
            check_obs(ctx.task.name, steps + N, next_obs, *([last] if done.any() else []))
            if cfg.store_every == 1:
                buffer.add(obs, actions, rew, last, ends)
            else:
                keep = store_mask(stored, N, cfg.store_every, done)
                buffer.add(obs[keep], actions[keep], np.asarray(rew)[keep], last[keep], ends[keep])
            stored += N
            n_done = len(tracker.finished)
            tracker.step(rew, done)
            obs = next_obs
            steps += N
            if official and len(tracker.finished) > n_done:
                history.extend(tracker.finished[n_done:])
                if ctx.threshold is not None and float(np.mean(history)) >= ctx.threshold:
                    break
            if steps >= next_train and len(buffer) >= cfg.batch_size:
                next_train += cfg.train_freq
                for _ in range(cfg.gradient_steps):
                    loss = td_loss(policy, theta, target_params, buffer.sample(cfg.batch_size, rng), cfg, dev)
                    gradient_step(opt, [theta], [loss], cfg.max_grad_norm)
                    grad_steps += 1
                    if grad_steps % cfg.target_update == 0:
                        move_target(target, theta, cfg.tau)
                        with torch.no_grad():
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
    return finish(cfg, ctx, defaults, progress, tracker, history, theta, steps, grad_steps,
                  eps if steps else cfg.eps_start, loss_val, buffer)


def finish(cfg: DQNConfig, ctx, defaults: str | None, progress: Progress, tracker: EpisodeTracker,
           history: deque[float], theta: torch.Tensor, steps: int, grad_steps: int, eps: float,
           loss_val: float, buffer: ReplayBuffer | FrameReplayBuffer):
    """A finished training's TrialResult (both engines): the chosen θ_d, its info and, for
    ``score=train100``, the official score with the fresh greedy test recorded beside it."""
    official = cfg.score == "train100"
    theta_out = progress.finalize(theta)
    info = {"gradient_steps": grad_steps, "train_steps": steps, "final_eps": eps,
            "td_loss": loss_val, "double": cfg.double, **progress.info(),
            "dqn_config": asdict(cfg), "dqn_defaults": defaults, "replay": _buffer_info(buffer),
            "probe": probe_q(ctx, theta_out)}
    if not official:
        return ctx.result(theta_out, steps + progress.check_steps, progress.curve, info)
    if tracker.finished:  # episodes that ended after the last log still count
        progress.log(steps, tracker.pop())
    test = ctx.final_test(theta_out)
    # No finished episode (a budget shorter than one): the unfinished ones' returns so far.
    score = list(history) if history else [float(r) for r in tracker.running]
    info.update(test_mean=float(np.mean(test)), test_returns=test, train_episodes_scored=len(history),
                solved_in_training=bool(history) and ctx.threshold is not None
                and float(np.mean(history)) >= ctx.threshold)
    return ctx.result(theta_out, steps, progress.curve, info, final_returns=score, measure=TRAIN100_MEASURE)
