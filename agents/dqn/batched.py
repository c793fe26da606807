"""DQN trials trained together in lockstep (``DQNConfig.engine = "batched"``).

A DQN step on a small network is a dozen tiny tensor operations (projection, three forwards, a
backward, clipping, Adam), and the single engine's loop adds its own Python per env step. Here K
trials of one task and network (any d, seed, projection) advance in lockstep, one env step each per
round: every trial's env is a copy of one ``CartPoleBatch`` when the task has one (per-copy seeded
streams, the single env's physics bit for bit), else its own single env; the trials that train this
round take their gradient steps together, one backward call and one fused Adam step for all.

Exact by construction (docs/guide/determinism.md). Every number of a trial comes from the single
engine's own per-trial functions, called on that trial's own tensors: its greedy action
(``dqn.greedy_actions``), its TD loss (``dqn.td_loss``, on its own minibatch and network), its
gradient step (``dqn.gradient_step``: its own graph, its own clipping, Adam's per-tensor kernel) and
its target update (``dqn.move_target``). No matrix product mixes trials, and every operand of one is
a fresh tensor (``dqn.owned``), so a trial's arithmetic is the same operations on the same shapes at
the same alignment whether it trains alone (a batch of one: ``rlsub run``) or beside 63 others in
any order, on any CPU and BLAS. (Until issue 31 the trials shared stacked ``baddbmm`` forwards and a
``[K, D]`` gradient: on an AMD EPYC, MKL rounded a row's matrix-vector product by the row's address,
so a trial's θ_d depended on its place in the batch.) ``tests/test_dqn_batched.py`` and
``tests/test_cpu_invariance.py`` (batches of 1, 2, 7 and 64, orders, threads, instruction sets)
check it bit for bit.

Against ``engine=single``: the same greedy actions, ε draws, replay, early-stop checks and updates
(``tests/test_dqn_engines.py``); the one difference is Adam's kernel (fused here, torch's
per-tensor loop there), which rounds an occasional update differently (with the loop kernel in
both, the trials agree bit for bit). It stays fused so that the stored ``CartPole-v0-li2018``
trials keep their numbers; that is why the engine is part of the trial's config.

Scope: plain MLP policies ([`rlsub.subspace.mlp_layers`][rlsub.subspace.mlp_layers]), one env per trial (``num_envs = 1``)
and the plain replay buffer; anything else is refused with a ``ConfigError``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import astuple

import numpy as np
import torch

from rlsub.agents.dqn.batched_envs import train_envs
from rlsub.agents.dqn.replay_buffer import ReplayBuffer
from rlsub.agents.dqn.single import DQNConfig, finish, gradient_step, greedy_actions, move_target, td_loss
from rlsub.agents.gradient_common import EpisodeTracker, Progress, check_obs, linear_schedule, require_discrete
from rlsub.errors import ConfigError, NonFiniteObservation, NonFiniteReturn
from rlsub.subspace import mlp_layers
from rlsub.utils.seeding import derive_seed, np_generator

#: Trials trained at once by ``run_batched`` unless the caller says otherwise (the others wait).
MAX_ACTIVE = 64


# ---------------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------------
def network_signature(policy) -> tuple:
    """The plain MLP's layout (D, then per layer: weight shape, bias, activation); trials of one
    batch share it. ``ConfigError`` for any other network (the engine's scope)."""
    mlp = mlp_layers(policy.module)
    if mlp is None:
        raise ConfigError("dqn: engine=batched needs a plain MLP policy (Linear layers and activations)")
    shapes = dict(zip(policy.names, policy.shapes))
    return (int(policy.D), mlp[0], tuple((shapes[w], b is not None, None if act is None else act.__name__)
                                         for w, b, act in mlp[1]))


# ---------------------------------------------------------------------------------------------
# a trial's state
# ---------------------------------------------------------------------------------------------
class _Trial:
    """One DQN trial's state, as ``dqn.train`` keeps it (one env)."""

    def __init__(self, key: object, ctx, cfg: DQNConfig, defaults: str | None) -> None:
        require_discrete(ctx, "dqn")
        if cfg.num_envs != 1:
            raise ConfigError(f"dqn: engine=batched trains one env per trial, got num_envs={cfg.num_envs}")
        if cfg.replay == "frames":
            raise ConfigError("dqn: engine=batched uses the plain replay buffer (replay=frames needs engine=single)")
        self.key, self.ctx, self.cfg, self.defaults = key, ctx, cfg, defaults
        self.batch_key: tuple | None = None  # set by run_batched, once
        self.policy = ctx.policy
        self.theta = self.policy.theta_d
        self._params: dict[str, torch.Tensor] | None = None
        # tau = 1 with an update after every gradient step: the target θ_d is θ_d itself whenever a TD
        # target is computed (no copy, no second projection: the same bits).
        self.target_live = cfg.tau == 1.0 and cfg.target_update == 1
        self.target = self.theta.detach().clone()
        with torch.no_grad():
            self.target_params = None if self.target_live else self.policy.params(self.target)
        self.rng = np_generator(ctx.seed, "dqn")
        obs_space, _ = ctx.task.spaces
        shape = tuple(ctx.spec.obs_shape)
        self.buffer = ReplayBuffer(min(cfg.buffer_size, max(ctx.budget, cfg.batch_size)), shape,
                                   obs_space.dtype if obs_space.dtype == np.uint8 else np.float32)
        self.n_actions = ctx.spec.action.n
        self.tracker = EpisodeTracker(1)
        trigger = None if ctx.threshold is None else cfg.early_stop_trigger * ctx.threshold
        self.progress = Progress(ctx, cfg.validation_episodes, early_stop=cfg.early_stop and cfg.score == "test",
                                 trigger=trigger)
        self.official = cfg.score == "train100"
        self.history: deque[float] = deque(maxlen=100)
        self.steps = self.grad_steps = self.stored = 0
        self.next_train = max(cfg.learning_starts, cfg.train_freq)
        self.next_log = 1000
        self.loss_val = float("nan")
        self.eps = cfg.eps_start
        self.anneal = cfg.exploration_fraction if cfg.exploration_steps is None else cfg.exploration_steps / ctx.budget
        self.env_seed = derive_seed(ctx.seed, "train-env", "dqn") % 2**31  # make_train_envs' seed
        self.obs: np.ndarray | None = None
        self.solved = False  # the official score reached the threshold: stop before training (dqn.train's break)
        self.done = ctx.budget < 1
        self.error: NonFiniteObservation | None = None  # ends the trial (its outcome, not a result)

    def params(self) -> dict[str, torch.Tensor]:
        """The network's parameters at θ_0 + Pθ_d (with their graph to θ_d), projected once per change
        of θ_d: the greedy forward and the next TD loss share them."""
        if self._params is None:
            self._params = self.policy.params(self.theta)
        return self._params

    def targets(self) -> dict[str, torch.Tensor]:
        """The target network's parameters (θ_d's own, detached, when the target is θ_d itself)."""
        if self.target_live:
            return {k: v.detach() for k, v in self.params().items()}
        return self.target_params

    def act(self) -> int:
        """This step's action: ε-greedy around ``greedy_actions`` of the trial's own network."""
        cfg = self.cfg
        greedy = int(greedy_actions(self.policy, self.params(), self.obs[None], self.ctx.device)[0])
        self.eps = linear_schedule(cfg.eps_start, cfg.eps_end, self.anneal, self.steps / self.ctx.budget)
        explore = self.rng.random(1) < self.eps
        return int(np.where(explore, self.rng.integers(0, self.n_actions, size=1), greedy)[0])

    def record(self, action: int, rew: float, term: bool, trunc: bool, last: np.ndarray, obs: np.ndarray) -> None:
        """Book one env step (replay, episode returns, the official score); sets ``done`` at its end."""
        cfg = self.cfg
        done = term or trunc
        if cfg.store_every == 1 or self.stored % cfg.store_every == 0 or done:  # dqn.store_mask, one env
            end = float(term if cfg.bootstrap_truncation else done)
            self.buffer.add((self.obs,), (action,), (rew,), (last,), (end,))
        self.stored += 1
        self.tracker.step_one(rew, done)
        self.obs = obs
        self.steps += 1
        if self.official and done:
            self.history.append(self.tracker.finished[-1])
            if self.ctx.threshold is not None and float(np.mean(self.history)) >= self.ctx.threshold:
                self.solved = self.done = True
        if self.steps + 1 > self.ctx.budget:  # this round still trains and logs, as dqn.train's last step
            self.done = True

    def fail_on(self, step: int, *observations: np.ndarray) -> None:
        """End the trial with ``NonFiniteObservation`` if an observation is NaN/inf (``common.check_obs``)."""
        try:
            check_obs(self.ctx.task.name, step, *observations)
        except NonFiniteObservation as e:
            self.error, self.done = e, True

    def wants_training(self) -> bool:
        return self.error is None and not self.solved and self.steps >= self.next_train and len(self.buffer) >= self.cfg.batch_size

    def step_target(self) -> None:
        """Count a gradient step; move the target θ_d when it is due."""
        cfg = self.cfg
        self.grad_steps += 1
        self._params = None  # θ_d moved
        if self.grad_steps % cfg.target_update == 0 and not self.target_live:
            move_target(self.target, self.theta, cfg.tau)
            with torch.no_grad():
                self.target_params = self.policy.params(self.target)

    def after_training(self, loss: float) -> None:
        self.next_train += self.cfg.train_freq
        self.loss_val = loss

    def log(self) -> None:
        if self.solved or self.error is not None:
            return
        if self.steps >= self.next_log:
            self.next_log += 1000
            self.progress.log(self.steps + self.progress.check_steps, self.tracker.pop())
            if self.progress.should_stop(self.theta):
                self.done = True

    def result(self):
        return finish(self.cfg, self.ctx, self.defaults, self.progress, self.tracker, self.history, self.theta,
                      self.steps, self.grad_steps, self.eps if self.steps else self.cfg.eps_start,
                      self.loss_val, self.buffer)


# ---------------------------------------------------------------------------------------------
# one batch of trials
# ---------------------------------------------------------------------------------------------
class _Batch:
    """Trials of one network and one DQN config (their ``batch_key``), trained in lockstep."""

    def __init__(self, first: _Trial, single_envs: bool = False) -> None:
        self.cfg = first.cfg
        self.envs = train_envs(first.ctx.task, single_envs)
        self.live: list[_Trial] = []
        # One Adam over every trial's θ_d, one parameter group (fused: each tensor is updated by its own
        # kernel call, so alone and batched agree); trials that do not train in a round have no
        # gradient and are skipped. Trials join and leave the group's list as they start and end.
        self.opt = torch.optim.Adam([torch.zeros(0)], lr=self.cfg.lr, eps=self.cfg.adam_eps, fused=True)
        self.params: list[torch.Tensor] = self.opt.param_groups[0]["params"]
        self.params.clear()

    def add(self, trial: _Trial) -> None:
        trial.obs = self.envs.add(trial.env_seed)
        trial.fail_on(0, trial.obs)
        self.live.append(trial)
        self.params.append(trial.theta)

    def remove(self, trial: _Trial) -> None:
        i = self.live.index(trial)
        self.envs.remove(i)
        self.live.pop(i)
        self.params.pop(next(j for j, p in enumerate(self.params) if p is trial.theta))
        self.opt.state.pop(trial.theta, None)

    def round(self) -> list[_Trial]:
        """One env step of every live trial (and their training); returns the trials that ended."""
        live = self.live
        actions = np.array([t.act() for t in live])
        next_obs, rew, term, trunc, last = self.envs.step(actions)
        finite = bool(np.isfinite(next_obs).all() and np.isfinite(last).all())
        for i, t in enumerate(live):
            if not finite:
                t.fail_on(t.steps + 1, next_obs[i], last[i])
                if t.error is not None:
                    continue
            t.record(int(actions[i]), float(rew[i]), bool(term[i]), bool(trunc[i]), last[i], next_obs[i])
        training = [t for t in live if t.wants_training()]  # (not after an official solve)
        if training:
            self._train(training)
        for t in live:  # the last step of a budget logs too, as in dqn.train (not after an official solve)
            t.log()
        return [t for t in live if t.done]

    def _train(self, trials: list[_Trial]) -> None:
        """``cfg.gradient_steps`` steps of every trial in ``trials``: each trial's TD loss is
        ``dqn.td_loss`` on its own batch and network, its update ``dqn.gradient_step``'s (one call for all)."""
        cfg = self.cfg
        thetas = [t.theta for t in trials]
        for _ in range(cfg.gradient_steps):
            losses = [td_loss(t.policy, t.theta, t.targets(), t.buffer.sample(cfg.batch_size, t.rng), cfg,
                              t.ctx.device, params=t.params()) for t in trials]
            gradient_step(self.opt, thetas, losses, cfg.max_grad_norm)
            for t in trials:
                t.step_target()
        for t, loss in zip(trials, losses):
            t.after_training(float(loss.detach()))

    def close(self) -> None:
        self.envs.close()


def batch_key(ctx, cfg: DQNConfig) -> tuple:
    """Trials with equal keys train in one batch: same network layout, env and DQN config (d, seed
    and projection may differ)."""
    return (network_signature(ctx.policy), tuple(ctx.spec.obs_shape), ctx.spec.action.n, ctx.task.name,
            repr(ctx.task.settings()), str(ctx.device), astuple(cfg))


def run_batched(items: Iterable[tuple[object, object, DQNConfig, str | None]], max_active: int = MAX_ACTIVE,
                single_envs: bool = False, close_contexts: bool = False) -> Iterator[tuple[object, object]]:
    """Train DQN trials together; yields ``(key, outcome)`` as each trial finishes.

    ``items`` yields ``(key, ctx, cfg, defaults)`` (``key`` is the caller's, returned with the
    outcome); it is read lazily, so at most ``max_active`` trials hold a context at once. Trials of
    different ``batch_key`` train in separate batches, one batch at a time. ``outcome`` is the
    TrialResult, or the ``NonFiniteReturn`` that ended the trial. ``single_envs`` gives every trial
    its own single env even where the task has a slot env (the same numbers; for tests).
    ``close_contexts``: close each trial's context when it is done with (the caller's otherwise).
    """
    opened: list[object] = []

    def close(ctx) -> None:
        if close_contexts:
            ctx.close()

    pending = iter(items)
    waiting: deque[_Trial] = deque()  # trials of another batch key than the running batch
    batch: _Batch | None = None
    bkey: tuple | None = None
    exhausted = False
    try:
        while True:
            while not exhausted and (batch is None or len(batch.live) < max_active) and len(waiting) < max_active:
                try:
                    key, ctx, cfg, defaults = next(pending)
                except StopIteration:
                    exhausted = True
                    break
                opened.append(ctx)
                trial = _Trial(key, ctx, cfg, defaults)
                trial.batch_key = batch_key(ctx, cfg)
                if batch is None:
                    batch, bkey = _Batch(trial, single_envs), trial.batch_key
                if trial.batch_key == bkey:
                    batch.add(trial)
                else:
                    waiting.append(trial)
            if batch is None or not batch.live:
                if batch is not None:
                    batch.close()
                    batch = None
                if not waiting:
                    if exhausted:
                        return
                    continue
                first = waiting.popleft()
                batch, bkey = _Batch(first, single_envs), first.batch_key
                batch.add(first)
                for t in [t for t in waiting if t.batch_key == bkey]:
                    waiting.remove(t)
                    batch.add(t)
            for t in [t for t in batch.live if t.done] or batch.round():
                batch.remove(t)
                try:
                    outcome = t.error if t.error is not None else t.result()
                except NonFiniteReturn as e:
                    outcome = e
                finally:
                    opened.remove(t.ctx)
                    close(t.ctx)
                yield t.key, outcome
    finally:
        if batch is not None:
            batch.close()
        for ctx in opened:
            close(ctx)


__all__ = ["MAX_ACTIVE", "batch_key", "network_signature", "run_batched"]
