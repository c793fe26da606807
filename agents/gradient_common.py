"""Shared pieces of the gradient agents: training envs, action heads, seeded sampling, early stop.

Conventions (so that ``ctx.final_test`` is the deterministic policy of every agent):

* discrete actions: the policy network outputs logits (or Q-values); deterministic = argmax;
* Box actions: the policy network outputs the *pre-tanh* mean ``mu``; training samples
  ``u ~ N(mu, exp(log_std))`` and the env receives ``ActionSpec.to_env(u)`` (tanh scaled to the
  bounds), so the deterministic policy ``to_env(mu)`` is exactly what the evaluator runs.
  Log-probabilities are taken in ``u`` space: the tanh Jacobian does not depend on the parameters,
  so it cancels in policy gradients and in PPO's ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlsub.errors import ConfigError, NonFiniteObservation
from rlsub.policies.networks import ActionSpec, PolicySpec, build_mlp
from rlsub.utils.seeding import derive_seed


# ---------------------------------------------------------------------------------------------
# configuration helpers
# ---------------------------------------------------------------------------------------------
def check(cond: bool, method: str, message: str) -> None:
    """Raise ConfigError(``"<method>: <message>"``) unless ``cond``."""
    if not cond:
        raise ConfigError(f"{method}: {message}")


def check_positive(cfg: object, method: str, *names: str) -> None:
    """Every named field of ``cfg`` must be > 0."""
    for n in names:
        v = getattr(cfg, n)
        check(v is not None and v > 0, method, f"{n} must be > 0, got {v}")


def check_fraction(cfg: object, method: str, *names: str, closed: bool = True) -> None:
    """Every named field must lie in [0, 1] (``closed``) or [0, 1)."""
    for n in names:
        v = getattr(cfg, n)
        ok = 0.0 <= v <= 1.0 if closed else 0.0 <= v < 1.0
        check(ok, method, f"{n} must be in [0, 1{']' if closed else ')'}, got {v}")


def make_config(cls, params: dict, method: str):
    """Instantiate a frozen config dataclass from ``TrialConfig.params``; unknown names → ConfigError."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(
            f"{method}: unknown hyper-parameter {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    try:
        return cls(**params)
    except TypeError as e:  # pragma: no cover - guarded above, kept for odd values
        raise ConfigError(f"{method}: bad hyper-parameter ({e})") from None


def trial_config(cls, ctx, method: str, subspace: dict | None = None, defaults: dict | None = None):
    """The method's config for a trial: ``defaults`` (field values that replace the class's own, e.g.
    a per-task table), then ``subspace`` defaults when the trial has a subspace (``ctx.config.dim``
    is not None), then the trial's own ``ctx.params`` on top."""
    base = dict(defaults or {})
    if ctx.config.dim is not None:
        base.update(subspace or {})
    return make_config(cls, {**base, **ctx.params}, method)


def require_discrete(ctx, method: str) -> None:
    """Value-based methods need a Discrete action space."""
    act = ctx.spec.action
    if act.kind != "discrete":
        _, space = ctx.task.spaces
        raise ConfigError(
            f"{method} needs a discrete action space, but {ctx.task.name} has {space}; "
            "use ppo, reinforce, es or cmaes for continuous actions"
        )


# ---------------------------------------------------------------------------------------------
# environments
# ---------------------------------------------------------------------------------------------
def make_train_envs(ctx, num_envs: int, *stream: object) -> tuple[gym.vector.VectorEnv, np.ndarray]:
    """``num_envs`` training envs with SAME_STEP autoreset, reset once with a seed from ``stream``.

    SAME_STEP autoreset returns the next episode's first observation right away and keeps the
    true last observation in ``info["final_obs"]``, which bootstrapping on truncation needs.
    Built from ``task.make`` so that any wrappers a task adds apply to training too.
    """
    env = gym.vector.SyncVectorEnv(
        [ctx.task.make for _ in range(num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    obs, _ = env.reset(seed=derive_seed(ctx.seed, "train-env", *stream) % 2**31)
    env.action_space.seed(derive_seed(ctx.seed, "action-space", *stream) % 2**31)
    return env, obs


def final_obs(next_obs: np.ndarray, infos: dict, done: np.ndarray) -> np.ndarray:
    """The true successor observation: ``info["final_obs"]`` where an episode just ended."""
    if not done.any() or "final_obs" not in infos:
        return next_obs
    real = np.array(next_obs, copy=True)
    for i in np.nonzero(done)[0]:
        real[i] = infos["final_obs"][i]
    return real


def check_obs(task_name: str, step: int, *observations: np.ndarray) -> None:
    """Raise ``NonFiniteObservation`` (ending the trial as a NaN reward does) if any observation holds
    NaN or ±inf; ``step`` is the trial's training env step that returned them (0: the first reset).
    Integer observations (uint8 frames) are always finite and are not scanned."""
    for obs in observations:
        a = np.asarray(obs)
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            bad = a[~np.isfinite(a)].flat[0]
            raise NonFiniteObservation(f"environment {task_name} returned a non-finite observation ({bad}) "
                                       f"at training step {step}")


class EpisodeTracker:
    """Running returns of each env; collects the returns of episodes that finished."""

    def __init__(self, num_envs: int) -> None:
        self.running = np.zeros(num_envs, dtype=np.float64)
        self.finished: list[float] = []

    def step(self, reward: np.ndarray, done: np.ndarray) -> None:
        self.running += np.asarray(reward, dtype=np.float64)
        for i in np.nonzero(done)[0]:
            self.finished.append(float(self.running[i]))
            self.running[i] = 0.0

    def step_one(self, reward: float, done: bool) -> None:
        """``step`` for a tracker of one env, with plain numbers (a per-step hot path)."""
        self.running[0] += reward
        if done:
            self.finished.append(float(self.running[0]))
            self.running[0] = 0.0

    def pop(self) -> list[float]:
        out, self.finished = self.finished, []
        return out


# ---------------------------------------------------------------------------------------------
# networks and heads
# ---------------------------------------------------------------------------------------------
def value_network(ctx, out_dim: int = 1, name: str = "value") -> nn.Module:
    """An MLP with the policy's architecture and ``out_dim`` outputs, θ_0 seeded by ``name``."""
    spec: PolicySpec = ctx.spec
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(ctx.seed, name, "theta0"))
        if spec.family == "mlp":
            return build_mlp(spec, out_dim)
        # Other families (e.g. a CNN) build through the spec with a scalar "discrete" head.
        vspec = PolicySpec(spec.obs_shape, ActionSpec("discrete", n=out_dim), spec.family,
                           spec.hidden, spec.activation, dict(spec.options))
        return vspec.build(derive_seed(ctx.seed, name))


def sample_categorical(logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Seeded categorical sampling via the Gumbel-max trick (torch.multinomial takes no generator here)."""
    u = torch.rand(logits.shape, generator=gen).to(logits.device).clamp_(1e-12, 1.0 - 1e-7)
    return (logits - torch.log(-torch.log(u))).argmax(dim=-1)


@dataclass
class Head:
    """Action distribution on top of the policy network's raw output.

    ``log_std`` (Box only) is a free, state-independent vector trained alongside θ_d: it is
    exploration noise of the training algorithm, not part of the deterministic policy that is
    evaluated and saved, so it does not count towards d (like ES's σ).
    """

    action: ActionSpec
    log_std: torch.Tensor | None = None
    extra: list[torch.Tensor] = field(default_factory=list)

    @classmethod
    def create(cls, action: ActionSpec, init_log_std: float, learn_std: bool, device) -> Head:
        if action.kind == "discrete":
            return cls(action)
        log_std = torch.full((action.out_dim,), float(init_log_std), device=device)
        log_std.requires_grad_(learn_std)
        return cls(action, log_std, [log_std] if learn_std else [])

    @property
    def discrete(self) -> bool:
        return self.action.kind == "discrete"

    def sample(self, out: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Sample raw actions (indices, or pre-tanh ``u``) from network outputs ``[N, out_dim]``."""
        if self.discrete:
            return sample_categorical(out, gen)
        noise = torch.randn(out.shape, generator=gen).to(out.device)
        return out + noise * self.log_std.exp()

    def log_prob_entropy(self, out: torch.Tensor, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of ``raw`` actions and the distribution's entropy, per row."""
        if self.discrete:
            logp = torch.log_softmax(out, dim=-1)
            lp = logp.gather(-1, raw.long().unsqueeze(-1)).squeeze(-1)
            ent = -(logp.exp() * logp).sum(-1)
            return lp, ent
        log_std = self.log_std.expand_as(out)
        z = (raw - out) / log_std.exp()
        lp = (-0.5 * z * z - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        ent = (log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum(-1)
        return lp, ent

    def to_env(self, raw: torch.Tensor) -> np.ndarray:
        """Env actions for sampled raw actions."""
        if self.discrete:
            return raw.detach().cpu().numpy()
        return self.action.to_env(raw.detach())


def obs_tensor(obs: np.ndarray, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=device)


def clip_grad(params: list[torch.Tensor], max_norm: float | None) -> None:
    if max_norm is not None and max_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_norm)


# ---------------------------------------------------------------------------------------------
# learning curve and early stop
# ---------------------------------------------------------------------------------------------
class Progress:
    """Learning curve ``(env_steps, mean_return, best_return)``, early stop and the final choice of θ_d.

    Early stop mirrors ``run_direct_search``: when the mean of the latest ``window`` finished
    training episodes reaches ``trigger`` (default: the task threshold), the current θ_d is
    checked on ``validation_episodes`` fresh episodes; training stops if it reaches the threshold.
    A checked θ_d that failed but scored best so far is kept; ``finalize`` compares it with the
    last θ_d on fresh validation episodes (gradient agents can degrade late in training).
    """

    def __init__(self, ctx, validation_episodes: int = 10, window: int = 10, early_stop: bool = True,
                 trigger: float | None = None) -> None:
        self.ctx = ctx
        self.curve: list[tuple[int, float, float]] = []
        self.recent: list[float] = []
        self.window = window
        self.validation_episodes = validation_episodes
        self.early_stop = early_stop and ctx.threshold is not None
        self.trigger = trigger if trigger is not None else ctx.threshold
        self.checks = 0
        self.check_steps = 0
        self.solved = False
        self.best_checked: tuple[float, np.ndarray] | None = None
        self.chosen = "last"

    def log(self, steps: int, returns: list[float]) -> None:
        if not returns:
            return
        self.curve.append((int(steps), float(np.mean(returns)), float(np.max(returns))))
        self.recent = (self.recent + list(returns))[-self.window:]

    def should_stop(self, theta_d: torch.Tensor) -> bool:
        """Check a promising θ_d on fresh episodes; True when it holds the threshold."""
        if not self.early_stop or len(self.recent) < min(self.window, 3):
            return False
        if float(np.mean(self.recent)) < self.trigger:
            return False
        self.checks += 1
        theta = theta_d.detach().cpu().numpy().astype(np.float32)
        res = self.ctx.evaluate(theta[None], self.validation_episodes, "check", self.checks)
        self.check_steps += res.steps
        self.recent = []  # need fresh evidence before the next check
        score = float(res.fitness[0])
        if self.best_checked is None or score > self.best_checked[0]:
            self.best_checked = (score, theta)
        if score >= self.ctx.threshold:
            self.solved = True
        return self.solved

    def finalize(self, theta_d: torch.Tensor) -> np.ndarray:
        """The trial's θ_d: the solved one, else the better of the last and the best checked one."""
        theta = theta_d.detach().cpu().numpy().astype(np.float32)
        if self.solved or self.best_checked is None:
            return theta
        candidates = np.stack([theta, self.best_checked[1]])
        res = self.ctx.evaluate(candidates, self.validation_episodes, "validate")
        self.check_steps += res.steps
        best = int(np.argmax(res.fitness))
        self.chosen = "last" if best == 0 else "best_checked"
        return candidates[best]

    def info(self) -> dict:
        return {"early_stop": self.solved, "checks": self.checks, "check_steps": self.check_steps,
                "chosen": self.chosen}


def linear_schedule(start: float, end: float, fraction: float, progress: float) -> float:
    """Linear interpolation from ``start`` to ``end`` over the first ``fraction`` of training."""
    if fraction <= 0:
        return end
    t = min(1.0, progress / fraction)
    return start + t * (end - start)
