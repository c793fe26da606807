"""Replay buffers of DQN: a plain one, and one that stores each frame of stacked-frame images once.

``ReplayBuffer`` keeps ``obs`` and ``next_obs`` of every transition: 2·4·84·84 = 56,448 bytes per
Pong transition (5.6 GB at 100k, 56 GB at 1M). ``FrameReplayBuffer`` is for observations that are
stacks of frames, oldest first, where each step pushes one new frame (rlsub's Atari preprocessing,
``FrameStackObservation``): it keeps a ring of single frames and, per transition, the slots of the
frames that make up ``obs`` and ``next_obs``. A Pong transition then costs about one 84·84 frame
(7,056 bytes) plus ~170 bytes of indices, actions and spare frames, so 1M transitions take ~7.2 GB.

Both buffers take the same ``add`` arguments and sample the same batches from the same
``np.random.Generator`` state (a FrameReplayBuffer that never ran out of frame slots holds exactly
the plain buffer's transitions, in the same slots).
"""

from __future__ import annotations

import numpy as np

#: Frame id of the all-zero frame that pads a stack after a reset (stored once, never overwritten).
ZERO = -1


def _allocate(layout: dict[str, tuple[tuple[int, ...], np.dtype]]) -> dict[str, np.ndarray]:
    return {name: np.zeros(shape, dtype=dtype) for name, (shape, dtype) in layout.items()}


def _nbytes(layout: dict[str, tuple[tuple[int, ...], np.dtype]]) -> int:
    return sum(int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize for shape, dt in layout.values())


class ReplayBuffer:
    """Fixed-size circular buffer of transitions (numpy, observations kept in their own dtype).

    ``done`` is *termination* only: a time-limit truncation still bootstraps from ``next_obs``
    (the true last observation, not the autoreset one).
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32) -> None:
        self.capacity = int(capacity)
        arrays = _allocate(self.layout(self.capacity, obs_shape, obs_dtype))
        self.obs, self.next_obs = arrays["obs"], arrays["next_obs"]
        self.actions, self.rewards, self.dones = arrays["actions"], arrays["rewards"], arrays["dones"]
        self.pos = 0
        self.size = 0

    @staticmethod
    def layout(capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32) -> dict:
        """The arrays a buffer of ``capacity`` allocates: name → (shape, dtype)."""
        obs = ((capacity, *obs_shape), np.dtype(obs_dtype))
        return {"obs": obs, "next_obs": obs, "actions": ((capacity,), np.dtype(np.int64)),
                "rewards": ((capacity,), np.dtype(np.float32)), "dones": ((capacity,), np.dtype(np.float32))}

    @classmethod
    def nbytes_for(cls, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32) -> int:
        """Bytes a buffer of ``capacity`` would allocate (computed, nothing allocated)."""
        return _nbytes(cls.layout(capacity, obs_shape, obs_dtype))

    @property
    def nbytes(self) -> int:
        """Bytes of all arrays of this buffer."""
        return sum(getattr(self, n).nbytes for n in ("obs", "next_obs", "actions", "rewards", "dones"))

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

    def sample_slots(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Slots of ``batch_size`` transitions drawn uniformly with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return rng.integers(0, self.size, size=batch_size)

    def get(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """The transitions in ``slots`` as a batch."""
        return {"obs": self.obs[slots], "actions": self.actions[slots], "rewards": self.rewards[slots],
                "next_obs": self.next_obs[slots], "dones": self.dones[slots]}

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly with replacement."""
        return self.get(self.sample_slots(batch_size, rng))


def default_frame_capacity(capacity: int, stack: int) -> int:
    """Frame slots for ``capacity`` transitions: one per transition plus a reserve for reset frames.

    Each episode costs one frame more than its transitions (its reset frame), and the oldest
    transitions also reference up to ``stack - 1`` older frames. The reserve of capacity/64 covers
    episodes that average >= 64 steps (Pong's: 838 and 1081 with random play); shorter ones make
    the buffer drop its oldest transitions a little early instead of ever returning an overwritten
    frame.
    """
    return int(capacity) + max(int(capacity) // 64, 16 * int(stack))


class FrameReplayBuffer:
    """Circular replay buffer for stacked-frame observations ``[stack, *frame]``, each frame stored once.

    How observations map to frames:

    * Each env (position ``i`` of the batch given to ``add``) is its own stream. An ``obs`` equal to
      that env's previous ``next_obs`` (the episode goes on) reuses all its frames; ``next_obs``
      reuses ``obs[1:]`` and adds its newest frame. Frames are shared only where their bytes are
      equal (checked on every add), so a rebuilt observation is always exactly the one added.
    * Any other ``obs`` starts a new stack from its own frames. After a reset, rlsub's Atari
      preprocessing (``FrameStackObservation(padding_type="zero")``) gives ``[0, 0, 0, f0]``: the
      padding maps to one shared zero frame, so a new episode costs one frame (``f0``) and shares
      nothing else with the previous one. A frame equal to the one before it in the same stack is
      shared too (covers ``padding_type="reset"`` and static screens).
    * ``dones`` is termination only; at a truncation ``next_obs`` is the true final observation
      (``final_obs``), stored like any other.
    * Frames live in a ring of ``frame_capacity`` slots. When a slot is overwritten, every
      transition that references its old frame, and every older one, stops being sampled: the
      buffer then holds fewer than ``capacity`` transitions until they are replaced.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.uint8,
                 frame_capacity: int | None = None) -> None:
        if len(obs_shape) < 2:
            raise ValueError(f"FrameReplayBuffer needs [stack, *frame] observations, got shape {tuple(obs_shape)}")
        self.capacity = int(capacity)
        self.stack = int(obs_shape[0])
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.frame_capacity = int(frame_capacity or default_frame_capacity(self.capacity, self.stack))
        # One env's add writes at most 2·stack frames; with fewer slots a transition could
        # overwrite its own frames.
        if self.frame_capacity < 2 * self.stack:
            raise ValueError(f"frame_capacity must be >= {2 * self.stack}, got {self.frame_capacity}")
        arrays = _allocate(self.layout(self.capacity, obs_shape, obs_dtype, self.frame_capacity))
        self.frames = arrays["frames"]
        self.frame_user = arrays["frame_user"]
        self.frame_user[:] = -1
        self.obs_slots, self.next_slots = arrays["obs_slots"], arrays["next_slots"]
        self.actions, self.rewards, self.dones = arrays["actions"], arrays["rewards"], arrays["dones"]
        self.added = 0
        """Transitions ever added (transition ``t`` lives in slot ``t % capacity``)."""
        self.frames_written = 0
        """Frames ever written (frame id ``g`` lives in slot ``g % frame_capacity``)."""
        self.oldest = 0
        """Oldest transition whose frames are all intact."""
        self._last: dict[int, list[int]] = {}  # env index → frame ids of its latest next_obs
        self._zero = self.frames[self.frame_capacity].tobytes()

    @staticmethod
    def layout(capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.uint8, frame_capacity: int | None = None) -> dict:
        """The arrays a buffer of ``capacity`` allocates: name → (shape, dtype)."""
        stack, frame = int(obs_shape[0]), tuple(int(s) for s in obs_shape[1:])
        F = int(frame_capacity or default_frame_capacity(capacity, stack))
        slots = ((capacity, stack), np.dtype(np.int32))
        return {
            "frames": ((F + 1, *frame), np.dtype(obs_dtype)),  # slot F: the zero frame
            "frame_user": ((F,), np.dtype(np.int64)),  # newest transition that references each slot
            "obs_slots": slots, "next_slots": slots,
            "actions": ((capacity,), np.dtype(np.int64)),
            "rewards": ((capacity,), np.dtype(np.float32)),
            "dones": ((capacity,), np.dtype(np.float32)),
        }

    @classmethod
    def nbytes_for(cls, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.uint8,
                   frame_capacity: int | None = None) -> int:
        """Bytes a buffer of ``capacity`` would allocate (computed, nothing allocated)."""
        return _nbytes(cls.layout(capacity, obs_shape, obs_dtype, frame_capacity))

    @property
    def nbytes(self) -> int:
        """Bytes of all arrays of this buffer."""
        names = ("frames", "frame_user", "obs_slots", "next_slots", "actions", "rewards", "dones")
        return sum(getattr(self, n).nbytes for n in names)

    def _start(self) -> int:
        return max(self.oldest, self.added - self.capacity)

    def __len__(self) -> int:
        return self.added - self._start()

    # -- frames ------------------------------------------------------------------------------
    def _slot(self, gid: int) -> int:
        return self.frame_capacity if gid == ZERO else gid % self.frame_capacity

    def _match(self, frame: bytes, candidates: tuple[int | None, ...], floor: int) -> int | None:
        """The id of a stored frame whose bytes are ``frame`` among ``candidates`` (ids >= ``floor`` only)."""
        # Byte strings: comparing two 7 kB frames this way is ~5x faster than np.array_equal.
        for gid in candidates:
            if gid is None:
                continue
            if gid == ZERO:
                if frame == self._zero:
                    return ZERO
            elif gid >= floor and self.frames[gid % self.frame_capacity].tobytes() == frame:
                return gid
        return None

    def _write(self, frame: np.ndarray) -> int:
        gid = self.frames_written
        s = gid % self.frame_capacity
        # The old frame in this slot dies: so do the transitions that use it (and all older ones,
        # which keeps the sampled range contiguous).
        self.oldest = max(self.oldest, int(self.frame_user[s]) + 1)
        self.frames[s] = frame
        self.frame_user[s] = -1
        self.frames_written += 1
        return gid

    def _holds(self, stack: np.ndarray, gids: list[int], floor: int) -> bool:
        """Whether the frames ``gids`` (all ``>= floor`` or zero) are exactly ``stack``."""
        for frame, gid in zip(stack, gids):
            if gid == ZERO:
                if frame.tobytes() != self._zero:
                    return False
            elif gid < floor or self.frames[gid % self.frame_capacity].tobytes() != frame.tobytes():
                return False
        return True

    def _intern(self, stack: np.ndarray, shifted: list[int] | None, floor: int) -> list[int]:
        """Frame ids of ``stack``, writing the frames not found: position k first tries ``shifted[k]``,
        then the frame at k-1, then the zero frame."""
        gids: list[int] = []
        for k in range(self.stack):
            cand = (None if shifted is None or k >= len(shifted) else shifted[k], gids[k - 1] if k else None, ZERO)
            gid = self._match(stack[k].tobytes(), cand, floor)
            gids.append(self._write(stack[k]) if gid is None else gid)
        return gids

    # -- transitions -------------------------------------------------------------------------
    def add(self, obs, actions, rewards, next_obs, dones) -> None:
        """Add a batch of transitions (leading dimension = number of envs, each its own stream)."""
        # Frames are compared as bytes, so compare them in the dtype they are stored in.
        obs, next_obs = np.asarray(obs, dtype=self.frames.dtype), np.asarray(next_obs, dtype=self.frames.dtype)
        for i in range(len(actions)):
            # Reused ids must outlive the <= 2·stack frames this env's add may still write.
            floor = self.frames_written + 2 * self.stack - self.frame_capacity
            last = self._last.get(i)
            # The same episode continues exactly when obs is this env's previous next_obs; anything
            # else (a reset stack) is built from its own frames, never from the previous episode's.
            o = last if last is not None and self._holds(obs[i], last, floor) else self._intern(obs[i], None, floor)
            n = self._intern(next_obs[i], o[1:], floor)
            self._last[i] = n
            t, p = self.added, self.added % self.capacity
            self.obs_slots[p] = [self._slot(g) for g in o]
            self.next_slots[p] = [self._slot(g) for g in n]
            for g in (*o, *n):
                if g != ZERO:
                    self.frame_user[g % self.frame_capacity] = t
            self.actions[p], self.rewards[p], self.dones[p] = actions[i], rewards[i], dones[i]
            self.added += 1

    def sample_slots(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Slots of ``batch_size`` transitions drawn uniformly with replacement among the intact ones.

        While no transition was dropped for lost frames, this draws exactly what
        ``ReplayBuffer.sample_slots`` draws from the same generator state.
        """
        n = len(self)
        if n == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        draws = rng.integers(0, n, size=batch_size)
        if n == min(self.added, self.capacity):
            return draws
        return (self._start() + draws) % self.capacity

    def get(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """The transitions in ``slots`` as a batch, observations rebuilt from their frames."""
        return {"obs": self.frames[self.obs_slots[slots]], "actions": self.actions[slots],
                "rewards": self.rewards[slots], "next_obs": self.frames[self.next_slots[slots]],
                "dones": self.dones[slots]}

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly with replacement."""
        return self.get(self.sample_slots(batch_size, rng))


__all__ = ["FrameReplayBuffer", "ReplayBuffer", "default_frame_capacity"]
