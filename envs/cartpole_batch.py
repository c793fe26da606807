"""CartPole-v1 as N copies in numpy arrays, each copy with its own seeded RNG stream.

Gymnasium's ``CartPoleVectorEnv`` draws every copy's start state from one RNG shared by the
batch, so a copy's episodes depend on the batch around it. Here copy i owns a generator seeded
exactly like a single ``gym.make("CartPole-v1")`` reset with ``seed=s`` (``seeding.np_random``),
and the physics is the single env's, operation for operation, in float64: a copy reset with seed
s plays bit for bit the episode the single env plays after ``reset(seed=s)`` under the same actions
(tested). ``np.cos``/``np.sin`` of a float64 array give the same bits as of each element alone.

Two interfaces:

* the Gymnasium ``VectorEnv`` API with NEXT_STEP autoreset (``reset(seed=s)`` seeds copy i with
  ``s + i``, as ``SyncVectorEnv`` does): a drop-in for ``gym.make_vec("CartPole-v1")``;
* the *slot* API used by [`rlsub.evaluation.population`][rlsub.evaluation.population]: ``reset_copies(idx, seeds)`` starts new episodes in
  chosen copies, ``step_copies(n, actions)`` steps only copies ``0..n-1`` (no autoreset) and
  ``move(src, dst)`` copies copies' whole states into others, so an evaluator keeps its live
  episodes in a prefix and never steps a finished one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlsub.kernels.lazy_jit import LazyJit
from rlsub.kernels.pcg64 import MAX_FAST_SEED, pcg64_raw

# The single env's constants (gymnasium.envs.classic_control.cartpole.CartPoleEnv), same expressions.
GRAVITY = 9.8
MASSCART = 1.0
MASSPOLE = 0.1
TOTAL_MASS = MASSPOLE + MASSCART
LENGTH = 0.5
POLEMASS_LENGTH = MASSPOLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02
THETA_THRESHOLD = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4


class CartPoleBatch(VectorEnv):
    """``num_envs`` CartPole-v1 copies with per-copy RNG streams (see the module docstring).

    Args:
        num_envs: number of copies (the slot API can ``grow`` it later).
        max_episode_steps: truncation length (CartPole-v1: 500), counted per copy.
        sutton_barto_reward: the single env's option of the same name.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}
    #: ``reset(seed=s)`` seeds copy i with ``s + i`` (so a slice of the copies can run on its own).
    seeds_each_copy = True

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 500, sutton_barto_reward: bool = False):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.max_episode_steps = int(max_episode_steps)
        self.sutton_barto_reward = bool(sutton_barto_reward)
        self.render_mode = None
        high = np.array([X_THRESHOLD * 2, np.inf, THETA_THRESHOLD * 2, np.inf], dtype=np.float32)
        self.single_action_space = spaces.Discrete(2)
        self.single_observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.low, self.high = -0.05, 0.05
        self.num_envs = 0
        # [4, N]: each state variable contiguous, as the arrays the physics runs on.
        self.state = np.zeros((4, 0), dtype=np.float64)
        self.steps = np.zeros(0, dtype=np.int64)
        self.prev_done = np.zeros(0, dtype=bool)
        # A copy's stream: a Generator, a bare PCG64, or the int seed of a fast seeded start.
        self._rngs: list[np.random.Generator | np.random.PCG64 | int | None] = []
        self.grow(num_envs)

    # -- sizing ---------------------------------------------------------------------------------
    def grow(self, num_envs: int) -> None:
        """Have at least ``num_envs`` copies (new copies are unseeded until reset)."""
        extra = int(num_envs) - self.num_envs
        if extra <= 0:
            return
        self.state = np.concatenate([self.state, np.zeros((4, extra))], axis=1)
        self.steps = np.concatenate([self.steps, np.zeros(extra, dtype=np.int64)])
        self.prev_done = np.concatenate([self.prev_done, np.zeros(extra, dtype=bool)])
        self._rngs += [None] * extra
        self.num_envs = self.state.shape[1]
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

    # -- RNG streams ----------------------------------------------------------------------------
    def _rng(self, i: int) -> np.random.Generator:
        rng = self._rngs[i]
        if rng is None:  # never seeded: OS entropy, like a single env reset without a seed
            rng = self._rngs[i] = seeding.np_random(None)[0]
        elif isinstance(rng, int):  # a seeded start's stream, its four start draws taken
            bg = np.random.PCG64(rng)
            bg.advance(4)
            rng = self._rngs[i] = np.random.Generator(bg)
        elif not isinstance(rng, np.random.Generator):  # a bare PCG64 left by a seeded start
            rng = self._rngs[i] = np.random.Generator(rng)
        return rng

    def _start(self, idx: list[int], seeds: list[int | None]) -> None:
        """Copies ``idx`` start episodes; a seed (not None) re-seeds that copy's stream as the
        single env's ``reset(seed=...)`` does (``seeding.np_random``: ``Generator(PCG64(seed))``)."""
        rows = np.empty((len(idx), 4))
        fast: list[int] = []
        fast_seeds: list[int] = []
        slow: list[int] = []
        raw: list[np.ndarray] = []
        for j, (i, seed) in enumerate(zip(idx, seeds)):
            if seed is None:
                rows[j] = self._rng(i).uniform(low=self.low, high=self.high, size=(4,))
            elif 0 <= seed < MAX_FAST_SEED:
                # The stream stays a bare seed until an unseeded reset needs it (``_rng``).
                self._rngs[i] = int(seed)
                fast.append(j)
                fast_seeds.append(seed)
            else:
                bg = np.random.PCG64(int(seed))
                self._rngs[i] = bg
                slow.append(j)
                raw.append(bg.random_raw(4))
        # Generator.uniform(low, high) is low + (high - low) * ((next64 >> 11) * 2^-53): the four
        # 64-bit words of every seeded start, converted at once (rlsub.kernels.pcg64: numpy's PCG64 bits).
        for sel, words in ((fast, pcg64_raw(np.array(fast_seeds, dtype=np.uint64), 4) if fast else None),
                           (slow, np.stack(raw) if raw else None)):
            if sel:
                u = (words >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
                rows[sel] = self.low + (self.high - self.low) * u
        self.state[:, idx] = rows.T
        self.steps[idx] = 0

    # -- slot API ---------------------------------------------------------------------------------
    def reset_copies(self, idx: np.ndarray | list[int], seeds: np.ndarray | list[int]) -> np.ndarray:
        """Start a fresh episode in each copy ``idx[k]``, seeded with ``seeds[k]``; their float32 observations."""
        idx = np.asarray(idx, dtype=np.int64)
        self._start(idx.tolist(), np.asarray(seeds).tolist())
        self.prev_done[idx] = False
        return self.state[:, idx].T.astype(np.float32)

    def step_copies(self, n: int, actions: np.ndarray, live: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step copies ``0..n-1`` with ``actions[:n]`` (no autoreset): obs, reward, terminated,
        truncated. ``live`` is accepted for the slot interface and ignored: stepping a finished
        copy is harmless here and cheaper than skipping it."""
        kernel = _kernel.get() if _kernel is not None else None
        if kernel is not None:
            obs = np.empty((n, 4), dtype=np.float32)
            terminated, truncated = np.empty(n, dtype=bool), np.empty(n, dtype=bool)
            kernel(self.state, np.asarray(actions)[:n] == 1, self.steps, self.max_episode_steps, obs, terminated,
                    truncated)
        else:
            s = self.state[:, :n]
            terminated = self._physics(s, np.asarray(actions)[:n])
            steps = self.steps[:n]
            steps += 1
            truncated = steps >= self.max_episode_steps
            obs = s.T.astype(np.float32)
        reward = -terminated.astype(np.float32) if self.sutton_barto_reward else np.ones(n, dtype=np.float32)
        return obs, reward, terminated, truncated

    def move(self, src: np.ndarray | list[int], dst: np.ndarray | list[int]) -> None:
        """Copy ``src[k]``'s episode (state, step count, RNG stream) into copy ``dst[k]``; the
        contents of a source copy afterwards are unspecified (it is a free copy)."""
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        self.state[:, dst] = self.state[:, src]
        self.steps[dst] = self.steps[src]
        self.prev_done[dst] = self.prev_done[src]
        moved = [self._rngs[s] for s in src.tolist()]
        for s in src.tolist():  # a stream belongs to one copy at a time
            self._rngs[s] = None
        for d, rng in zip(dst.tolist(), moved):
            self._rngs[d] = rng

    def _physics(self, s: np.ndarray, action: np.ndarray) -> np.ndarray:
        """One Euler step of the single env's dynamics on state columns ``s`` (in place); termination.
        The numpy form, used without numba (``_step_kernel`` is the same arithmetic per copy)."""
        x, x_dot, theta, theta_dot = s
        force = np.where(action == 1, FORCE_MAG, -FORCE_MAG)
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        # Same expressions, same order as CartPoleEnv.step: float64 results are bit-identical.
        temp = (force + POLEMASS_LENGTH * np.square(theta_dot) * sintheta) / TOTAL_MASS
        # ds/dt into one [4, n] array, so that the Euler update is two whole-array operations:
        # s + TAU * ds is, element by element, the single env's x + tau * x_dot etc.
        ds = np.empty_like(s)
        np.divide(GRAVITY * sintheta - costheta * temp,
                  LENGTH * (4.0 / 3.0 - MASSPOLE * np.square(costheta) / TOTAL_MASS), out=ds[3])
        np.subtract(temp, POLEMASS_LENGTH * ds[3] * costheta / TOTAL_MASS, out=ds[1])
        ds[0] = x_dot
        ds[2] = theta_dot
        np.multiply(ds, TAU, out=ds)
        np.add(s, ds, out=s)
        # |x| > t is x < -t or x > t (NaN compares False either way).
        return (np.abs(s[0]) > X_THRESHOLD) | (np.abs(s[2]) > THETA_THRESHOLD)

    # -- Gymnasium VectorEnv API ----------------------------------------------------------------------
    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset copies (all, or ``options["reset_mask"]``): ``seed`` int → copy i gets ``seed + i``;
        a list gives one seed (or None: continue the stream) per copy. ``options["low"/"high"]`` as
        the single env's reset bounds."""
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"expected {n} seeds, got {len(seeds)}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if "low" in options or "high" in options:
            from gymnasium.envs.classic_control import utils

            self.low, self.high = utils.maybe_parse_reset_bounds(options, -0.05, 0.05)
        which = list(range(n)) if mask is None else np.flatnonzero(np.asarray(mask, dtype=bool)).tolist()
        self._start(which, [seeds[i] for i in which])
        self.prev_done[which] = False
        return self.state.T.astype(np.float32), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """All copies, NEXT_STEP autoreset: a copy that ended on the previous step starts a new
        episode from its own stream and returns reward 0, not terminated, not truncated."""
        actions = np.asarray(actions)
        n = self.num_envs
        obs, reward, terminated, truncated = self.step_copies(n, actions)
        again = np.flatnonzero(self.prev_done)
        if len(again):
            self._start(again.tolist(), [None] * len(again))
            obs[again] = self.state[:, again].T.astype(np.float32)
            reward[again] = 0.0
            terminated[again] = False
            truncated[again] = False
        self.prev_done = terminated | truncated
        return obs, reward, terminated, truncated, {}

    def close(self, **kwargs: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"CartPoleBatch(num_envs={self.num_envs}, max_episode_steps={self.max_episode_steps})"


def _step_kernel(state, push, steps, max_steps, obs, terminated, truncated):  # pragma: no cover - compiled
    """Copies ``0..len(obs)-1`` one step: the single env's expressions in its order, in float64
    (no fused multiply-adds: numba leaves fast-math off), so the bits are the single env's."""
    for i in range(obs.shape[0]):
        x, x_dot, theta, theta_dot = state[0, i], state[1, i], state[2, i], state[3, i]
        force = FORCE_MAG if push[i] else -FORCE_MAG
        costheta = math.cos(theta)
        sintheta = math.sin(theta)
        temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS
        thetaacc = (GRAVITY * sintheta - costheta * temp) / (
            LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / TOTAL_MASS))
        xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
        x = x + TAU * x_dot
        x_dot = x_dot + TAU * xacc
        theta = theta + TAU * theta_dot
        theta_dot = theta_dot + TAU * thetaacc
        state[0, i], state[1, i], state[2, i], state[3, i] = x, x_dot, theta, theta_dot
        obs[i, 0], obs[i, 1], obs[i, 2], obs[i, 3] = x, x_dot, theta, theta_dot
        terminated[i] = x < -X_THRESHOLD or x > X_THRESHOLD or theta < -THETA_THRESHOLD or theta > THETA_THRESHOLD
        steps[i] += 1
        truncated[i] = steps[i] >= max_steps


#: The compiled step (None, or no numba: ``_physics``, the same bits, slower).
_kernel: LazyJit | None = LazyJit(_step_kernel)

__all__ = ["CartPoleBatch"]
