"""The episode-scheduled rollout: live episodes of any number of evaluations in one env, only they stepped.

Each (member m, episode e) of an evaluation is a *job* with its own episode seed
``seed + m * episodes + e``. A ``SlotRollout`` keeps the live episodes in a prefix of its env copies
(``CartPoleBatch``, or the sub-envs of a ``SyncVectorEnv``: [`rlsub.evaluation.slot_envs`][rlsub.evaluation.slot_envs]) and steps only those;
a copy whose episode ended takes the next waiting job (or the last live copy moves into its place),
so the env steps stepped are the steps counted. Each copy carries its own member's parameters
([`rlsub.evaluation.slot_mlp`][rlsub.evaluation.slot_mlp]): the policy forward is one matrix-vector product per copy and layer over the
live copies (on the CPU the compiled loops of [`rlsub.kernels.mlp_forward`][rlsub.kernels.mlp_forward]), whose rows do not depend on
which other rows share the batch (``tests/test_lockstep.py``). That lets [`rlsub.tasks.lockstep`][rlsub.tasks.lockstep] put many
trials' populations into one rollout and still give each trial exactly the numbers it gets alone.
[`rlsub.evaluation.population`][rlsub.evaluation.population] uses it for single evaluations too. Evaluations arrive as ``RolloutRequest`` s
([`rlsub.evaluation.slot_request`][rlsub.evaluation.slot_request]).
"""

from __future__ import annotations

import itertools
import math
from collections import deque

import numpy as np
import torch

from rlsub.errors import NonFiniteObservation, NonFiniteReturn
from rlsub.evaluation.slot_mlp import SlotMLP
from rlsub.evaluation.slot_request import RolloutRequest
from rlsub.kernels.lazy_jit import LazyJit
from rlsub.policies.networks import ActionSpec


def _count_step_numpy(reward, terminated, truncated, live, ret, t, max_steps, done, obs=None):
    """One step's bookkeeping for copies ``0..k-1`` (k = ``len(reward)``): returns += reward, step
    counts += 1, ``done[:k]`` = ended (terminated, truncated, or ``max_steps`` reached when > 0) and
    live (``live`` None: all are). Returns (episodes that ended, whether every reward, and every
    value of ``obs`` ``[k, n]`` when given, is finite)."""
    k = len(reward)
    ret[:k] += reward
    t[:k] += 1
    np.logical_or(terminated, truncated, out=done)
    if max_steps > 0:
        done |= t[:k] >= max_steps
    if live is not None:
        done &= live[:k]
    finite = bool(np.isfinite(reward).all()) and (obs is None or bool(np.isfinite(obs).all()))
    return int(done.sum()), finite


def _count_step_kernel(reward, terminated, truncated, live, ret, t, max_steps, done, obs):  # pragma: no cover - compiled
    n, finite = 0, True
    for i in range(reward.shape[0]):
        r = reward[i]
        ret[i] += r
        t[i] += 1
        d = terminated[i] or truncated[i] or (max_steps > 0 and t[i] >= max_steps)
        if live is not None:
            d = d and live[i]
        done[i] = d
        n += d
        finite = finite and math.isfinite(r)
        if obs is not None:
            for j in range(obs.shape[1]):
                if not math.isfinite(obs[i, j]):
                    finite = False
    return n, finite


_count_kernel = LazyJit(_count_step_kernel)


def _count_step(reward, terminated, truncated, live, ret, t, max_steps, done, obs=None) -> tuple[int, bool]:
    """``_count_step_numpy``, compiled where numba is installed (the same arithmetic: float64
    returns, integer counts); one call instead of a dozen small array operations a step."""
    kernel = _count_kernel.get()
    if kernel is None:
        return _count_step_numpy(reward, terminated, truncated, live, ret, t, max_steps, done, obs)
    return kernel(reward, terminated, truncated, live, ret, t, max_steps, done, obs)


class SlotRollout:
    """Runs the jobs of any number of ``RolloutRequest`` s in one slot env.

    Episodes occupy copies ``0..k-1``; each step runs the stacked forward of those copies, maps
    outputs to actions (argmax, or tanh scaled to the bounds) and steps those copies only. When an
    episode ends its return is booked at once, and its copy goes idle; idle copies are reclaimed in
    batches (once they are ``idle_fraction`` of the copies in use): they take the next queued
    jobs, or the last busy copies move into their places. Batching the reclaim saves a dozen small
    array operations per finished episode and costs at most that fraction of extra copy-steps
    (idle copies keep stepping, their results are ignored; [`rlsub.evaluation.slot_envs.EnvSlots`][rlsub.evaluation.slot_envs.EnvSlots] does not step them).
    ``stepped`` counts copy-steps taken, ``counted`` the steps of booked episodes.

    Args:
        env: slot env (``slot_env``).
        signature: the MLP layer signature every request must have.
        action: the policy's action head.
        obs_size: flattened observation size.
        max_steps: episode cap (an episode still running after this many steps is truncated).
        task_name: for error messages.
        capacity: most episodes live at once (env copies used).
        device: where the forward runs.
        idle_fraction: reclaim idle copies once they are this fraction of the copies in use.
    """

    def __init__(self, env, signature: tuple, action: ActionSpec, obs_size: int, max_steps: int, task_name: str,
                 capacity: int, device: torch.device | str = "cpu", idle_fraction: float = 0.125) -> None:
        self.env = env
        self.signature = signature
        self.action = action
        self.obs_size = int(obs_size)
        self.max_steps = int(max_steps)
        self.task_name = task_name
        self.device = torch.device(device)
        self.idle_fraction = float(idle_fraction)
        self.mlp = SlotMLP(signature, 0, self.device)
        self.capacity = 0
        self.k = 0
        self.n_idle = 0
        self.stepped = 0
        self.counted = 0
        self.iterations = 0
        self._queue: deque[RolloutRequest] = deque()
        self._owners: dict[int, RolloutRequest] = {}
        self._ids = itertools.count()
        self._normalize = False
        self._recording = 0
        self._obs: np.ndarray | None = None
        self._failed: list[RolloutRequest] = []  # requests failed since the last step (a non-finite reset)
        # Envs that cap episodes themselves need no step-count check here.
        self._own_cap = getattr(env, "max_episode_steps", None) is not None and env.max_episode_steps <= self.max_steps
        self.ensure_capacity(capacity)

    # -- bookkeeping arrays -------------------------------------------------------------------
    def ensure_capacity(self, capacity: int) -> None:
        """Allow up to ``capacity`` live episodes."""
        if capacity <= self.capacity:
            return

        def grown(old, shape, dtype, fill=0):
            new = np.full(shape, fill, dtype=dtype)
            if old is not None:
                new[: len(old)] = old
            return new

        c, n = capacity, self.obs_size
        old = self.capacity > 0
        self.slot_req = grown(self.slot_req if old else None, c, np.int64, -1)
        self.slot_job = grown(self.slot_job if old else None, c, np.int64)
        self.ret = grown(self.ret if old else None, c, np.float64)
        self.t = grown(self.t if old else None, c, np.int64)
        self.rec = grown(self.rec if old else None, c, bool)
        self.live = grown(self.live if old else None, c, bool)
        self._done = np.zeros(c, dtype=bool)
        self.mean = grown(self.mean if old else None, (c, n), np.float64)
        self.std = grown(self.std if old else None, (c, n), np.float64, 1.0)
        if self._obs is not None:
            self._obs = grown(self._obs, (c, n), self._obs.dtype)
        self.mlp.grow(c)
        self.capacity = c

    # -- requests -------------------------------------------------------------------------------
    def submit(self, req: RolloutRequest) -> None:
        """Queue ``req``'s jobs (they start as copies free up)."""
        if req.weights.signature != self.signature:
            raise ValueError(f"request's network {req.weights.signature} differs from this rollout's {self.signature}")
        rid = next(self._ids)
        req._id = rid  # type: ignore[attr-defined]
        self._owners[rid] = req
        if req.obs_norm is not None:
            self._normalize = True
        if req.record:
            self._recording += 1
        if req.n_jobs == 0:
            req.remaining = 0
            self._close(req)
            return
        self._queue.append(req)

    @property
    def busy(self) -> bool:
        """Whether any job is live or queued."""
        return self.k > self.n_idle or bool(self._queue)

    def run(self, req: RolloutRequest) -> RolloutRequest:
        """Submit ``req`` and step until it is done (``req.result()`` then gives its result)."""
        self.submit(req)
        while not req.done:
            self.advance()
        return req

    def advance(self) -> list[RolloutRequest]:
        """Step until at least one request is done (or nothing is left); the requests that finished."""
        while True:
            if self.n_idle and (self.n_idle >= self.idle_fraction * self.k or self.n_idle == self.k):
                self._reclaim()
            if self._queue and self.k < self.capacity:
                self.k += self._assign(np.arange(self.k, self.capacity))
            if self.k == self.n_idle:
                if self.k:
                    self._reclaim()
                return []
            finished = self._step()
            if finished:
                return finished

    # -- internals --------------------------------------------------------------------------------
    def _close(self, req: RolloutRequest) -> None:
        req._complete()
        if req.record:
            self._recording -= 1
        del self._owners[req._id]  # type: ignore[attr-defined]

    def _assign(self, slots: np.ndarray) -> int:
        """Give queued jobs to copies ``slots`` (in order); how many got one."""
        filled = 0
        while filled < len(slots) and self._queue:
            req = self._queue[0]
            c = min(len(slots) - filled, req.n_jobs - req.next_job)
            tgt = slots[filled: filled + c]
            jobs = np.arange(req.next_job, req.next_job + c)
            req.next_job += c
            if req.next_job == req.n_jobs:
                self._queue.popleft()
            self.env.grow(int(tgt[-1]) + 1)
            obs = np.asarray(self.env.reset_copies(tgt, req.seeds[jobs])).reshape(c, -1)
            if obs.dtype.kind == "f" and not np.isfinite(obs).all() and req.error is None:
                req.error = NonFiniteObservation(f"environment {self.task_name} returned a non-finite observation at step 0")
                self._failed.append(req)
            if self._obs is None:
                self._obs = np.zeros((self.capacity, self.obs_size), dtype=obs.dtype)
            self._obs[tgt] = obs
            self.mlp.load(tgt, req.weights, jobs // req.episodes)
            self.slot_req[tgt] = req._id  # type: ignore[attr-defined]
            self.slot_job[tgt] = jobs
            self.ret[tgt] = 0.0
            self.t[tgt] = 0
            self.rec[tgt] = req.record
            self.live[tgt] = True
            if req.obs_norm is not None:
                self.mean[tgt] = np.asarray(req.obs_norm[0], dtype=np.float64).reshape(-1)
                self.std[tgt] = np.asarray(req.obs_norm[1], dtype=np.float64).reshape(-1)
            elif self._normalize:
                # (obs - 0) / 1 in float64 then float32 is exactly the plain cast.
                self.mean[tgt] = 0.0
                self.std[tgt] = 1.0
            filled += c
        return filled

    def _record(self, k: int) -> None:
        sel = np.flatnonzero(self.rec[:k] & self.live[:k])
        if not len(sel):
            return
        owners = self.slot_req[sel]
        jobs, ts = self.slot_job[sel], self.t[sel]
        obs = self._obs[sel].astype(np.float64)
        for rid in np.unique(owners).tolist():
            m = owners == rid
            self._owners[rid]._seen.append((jobs[m], ts[m], obs[m]))

    def _step(self) -> list[RolloutRequest]:
        k = self.k
        obs = self._obs[:k]
        if self._recording:
            self._record(k)
        if self._normalize:
            x = ((obs - self.mean[:k]) / self.std[:k]).astype(np.float32)
        else:
            x = obs if obs.dtype == np.float32 else obs.astype(np.float32)
        live = self.live[:k] if self.n_idle else None
        o2, reward, terminated, truncated = self.env.step_copies(k, self.action.to_env(self.mlp(x, k)), live)
        self.iterations += 1
        self.stepped += k
        obs[:] = o2.reshape(k, -1)
        done = self._done[:k]
        n_done, finite = _count_step(np.asarray(reward), np.asarray(terminated), np.asarray(truncated), live,
                                     self.ret, self.t, 0 if self._own_cap else self.max_steps, done,
                                     obs if obs.dtype.kind == "f" else None)
        failed, self._failed = self._failed, []
        if not finite or failed:
            if not finite:
                self._fail_nonfinite(np.asarray(reward), obs, live, failed)
            for req in failed:
                done |= self.slot_req[:k] == req._id  # type: ignore[attr-defined]
                if req in self._queue:
                    self._queue.remove(req)
            if live is not None:
                done &= live
            n_done = int(done.sum())
        if not n_done:
            return failed
        return self._book(np.flatnonzero(done), failed)

    def _fail_nonfinite(self, reward: np.ndarray, obs: np.ndarray, live: np.ndarray | None,
                        failed: list[RolloutRequest]) -> None:
        """Give the requests whose live copies returned a non-finite reward (named first) or
        observation this step their error, and add them to ``failed``."""
        bad_reward = ~np.isfinite(reward)
        bad = bad_reward | (~np.isfinite(obs).all(axis=1) if obs.dtype.kind == "f" else False)
        if live is not None:
            bad &= live
        for s in np.flatnonzero(bad).tolist():
            req = self._owners[int(self.slot_req[s])]
            if req.error is None:
                req.error = (NonFiniteReturn(f"environment {self.task_name} returned a non-finite reward ({reward[s]})")
                             if bad_reward[s] else
                             NonFiniteObservation(f"environment {self.task_name} returned a non-finite observation "
                                                  f"at step {int(self.t[s])}"))
                failed.append(req)

    def _book(self, slots: np.ndarray, failed: list[RolloutRequest]) -> list[RolloutRequest]:
        """Book the episodes that ended in ``slots`` (their copies go idle); close finished and
        ``failed`` requests. The requests that are done."""
        finished = []
        for s in slots.tolist():
            req = self._owners[int(self.slot_req[s])]
            if req.error is not None:
                continue
            req.returns[self.slot_job[s]] = self.ret[s]
            steps = int(self.t[s])
            req.lengths[self.slot_job[s]] = steps
            req.steps += steps
            self.counted += steps
            req.remaining -= 1
            if req.remaining == 0:
                finished.append(req)
        self.live[slots] = False
        self.n_idle += len(slots)
        for req in finished + failed:
            self._close(req)
        return failed + finished

    def _reclaim(self) -> None:
        """Idle copies take queued jobs; the rest are compacted away."""
        holes = np.flatnonzero(~self.live[: self.k])
        n = self._assign(holes)
        if n < len(holes):
            self._compact(holes[n:])
        self.n_idle = 0

    def _compact(self, holes: np.ndarray) -> None:
        """Move the busy copies beyond the new prefix into ``holes`` (sorted, all < k)."""
        k = self.k
        new_k = k - len(holes)
        tail = np.ones(k - new_k, dtype=bool)
        tail[holes[holes >= new_k] - new_k] = False
        src = np.flatnonzero(tail) + new_k
        dst = holes[holes < new_k]
        if len(src):
            self.env.move(src, dst)
            self.mlp.move(src, dst)
            for arr in (self._obs, self.slot_req, self.slot_job, self.ret, self.t, self.rec, self.live, self.mean, self.std):
                arr[dst] = arr[src]
        self.k = new_k

    def close(self) -> None:
        self.env.close()


# has_slot_api, slot_env and vector_env stay importable from here for the callers that always have.
__all__ = ["SlotRollout",]
