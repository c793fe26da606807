"""FrameReplayBuffer: the plain buffer's batches from one copy of each frame (synthetic streams, Pong)."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest

from rlsub.agents.dqn.replay_buffer import FrameReplayBuffer, ReplayBuffer, default_frame_capacity
from rlsub.agents.gradient_common import final_obs

STACK, FRAME = 4, (5, 6)
KEYS = ("obs", "actions", "rewards", "next_obs", "dones")


def synthetic_stream(steps: int, num_envs: int, seed: int = 0, max_len: int = 12):
    """Batches ``(obs, actions, rewards, next_obs, dones)`` of ``num_envs`` zero-padded frame-stack envs.

    Like rlsub's Atari path with SAME_STEP autoreset: a reset gives ``[0, 0, 0, f0]``, each step pushes
    one frame, episodes end by termination (done 1) or truncation (done 0, ``next_obs`` the true final
    stack), and the next ``obs`` is then the new episode's reset stack. Some frames repeat the previous
    one and some are all zero, so sharing by content is exercised too. Also returns the counts of
    terminations and truncations.
    """
    rng = np.random.default_rng(seed)

    def new_frame(prev):
        u = rng.random()
        if u < 0.1:
            return prev.copy()
        if u < 0.15:
            return np.zeros(FRAME, np.uint8)
        return rng.integers(1, 256, size=FRAME, dtype=np.uint8)

    def reset():
        s = np.zeros((STACK, *FRAME), np.uint8)
        s[-1] = rng.integers(1, 256, size=FRAME, dtype=np.uint8)
        return s, int(rng.integers(1, max_len + 1))

    state = [reset() for _ in range(num_envs)]
    t_len = [0] * num_envs
    counts = {"terminated": 0, "truncated": 0}
    batches = []
    for _ in range(steps):
        obs = np.stack([s for s, _ in state])
        nxt = np.empty_like(obs)
        dones = np.zeros(num_envs, np.float32)
        for i in range(num_envs):
            s, length = state[i]
            n = np.concatenate([s[1:], new_frame(s[-1])[None]])
            nxt[i] = n
            t_len[i] += 1
            if t_len[i] >= length:
                term = bool(rng.random() < 0.5)
                dones[i] = float(term)
                counts["terminated" if term else "truncated"] += 1
                state[i], t_len[i] = reset(), 0
            else:
                state[i] = (n, length)
        actions = rng.integers(0, 6, size=num_envs)
        rewards = rng.normal(size=num_envs).astype(np.float32)
        batches.append((obs, actions, rewards, nxt, dones))
    return batches, counts


def assert_same_batches(a: dict, b: dict) -> None:
    for k in KEYS:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_frame_buffer_samples_the_plain_buffers_batches():
    capacity = 37  # odd: the two envs' transitions change slots parity on every wrap
    batches, counts = synthetic_stream(150, num_envs=2)
    assert counts["terminated"] >= 5 and counts["truncated"] >= 5
    plain = ReplayBuffer(capacity, (STACK, *FRAME), np.uint8)
    frames = FrameReplayBuffer(capacity, (STACK, *FRAME))
    for step, batch in enumerate(batches):
        plain.add(*batch)
        frames.add(*batch)
        assert len(frames) == len(plain)
        if step % 5 == 0:
            seed = 1000 + step
            assert_same_batches(frames.sample(64, np.random.default_rng(seed)),
                                plain.sample(64, np.random.default_rng(seed)))
    assert frames.added == 300 > 2 * capacity  # wrapped around more than once
    assert frames.frames_written > frames.frame_capacity  # the frame ring wrapped too
    # Every stored transition, not just the sampled ones, is rebuilt exactly.
    assert_same_batches(frames.get(np.arange(capacity)), plain.get(np.arange(capacity)))
    # The generator advanced identically: later draws of the caller agree too.
    ra, rb = np.random.default_rng(7), np.random.default_rng(7)
    frames.sample(10, ra), plain.sample(10, rb)
    assert ra.integers(1 << 30) == rb.integers(1 << 30)


def test_a_reset_costs_one_frame_and_a_step_one_more():
    buf = FrameReplayBuffer(10, (STACK, *FRAME))
    batches, _ = synthetic_stream(1, num_envs=1)
    obs, a, r, nxt, d = batches[0]
    assert not obs[0, :3].any()  # the reset stack: zero padding, then f0
    buf.add(obs, a, r, nxt, d)
    assert buf.frames_written == 2  # f0 and the new frame; the padding is the shared zero frame
    assert set(buf.obs_slots[0, :3]) == {buf.frame_capacity}
    buf.add(nxt, a, r, np.concatenate([nxt[:, 1:], np.full((1, 1, *FRAME), 9, np.uint8)], axis=1), d)
    assert buf.frames_written == 3  # the next step shares the whole obs stack and adds one frame


def test_episodes_never_share_frames():
    """A new episode's stack is built from its own reset frame, never the previous episode's frames."""
    buf = FrameReplayBuffer(20, (STACK, *FRAME))
    f = [np.full(FRAME, v, np.uint8) for v in range(1, 8)]
    zero = np.zeros(FRAME, np.uint8)
    ep1 = [np.stack([zero, zero, zero, f[0]]), np.stack([zero, zero, f[0], f[1]]), np.stack([zero, f[0], f[1], f[2]])]
    buf.add(ep1[0][None], np.array([0]), np.zeros(1, np.float32), ep1[1][None], np.zeros(1, np.float32))
    buf.add(ep1[1][None], np.array([1]), np.zeros(1, np.float32), ep1[2][None], np.ones(1, np.float32))
    reset = np.stack([zero, zero, zero, f[5]])
    after = np.stack([zero, zero, f[5], f[6]])
    buf.add(reset[None], np.array([2]), np.zeros(1, np.float32), after[None], np.zeros(1, np.float32))
    out = buf.get(np.arange(3))
    np.testing.assert_array_equal(out["obs"], np.stack([ep1[0], ep1[1], reset]))
    np.testing.assert_array_equal(out["next_obs"], np.stack([ep1[1], ep1[2], after]))
    first_episode = set(buf.obs_slots[:2].ravel()) | set(buf.next_slots[:2].ravel())
    second_episode = set(buf.obs_slots[2].ravel()) | set(buf.next_slots[2].ravel())
    assert first_episode & second_episode == {buf.frame_capacity}  # only the zero frame


def test_unrelated_observations_are_stored_exactly():
    """Stacks that share nothing (not a frame stack at all) still come back byte for byte."""
    rng = np.random.default_rng(3)
    plain = ReplayBuffer(16, (STACK, *FRAME), np.uint8)
    frames = FrameReplayBuffer(16, (STACK, *FRAME), frame_capacity=200)
    for _ in range(20):
        obs = rng.integers(0, 3, size=(3, STACK, *FRAME), dtype=np.uint8)  # small values: chance repeats
        nxt = rng.integers(0, 3, size=(3, STACK, *FRAME), dtype=np.uint8)
        args = (obs, rng.integers(0, 4, size=3), rng.random(3).astype(np.float32), nxt, np.zeros(3, np.float32))
        plain.add(*args)
        frames.add(*args)
    assert len(frames) == len(plain) == 16
    assert_same_batches(frames.get(np.arange(16)), plain.get(np.arange(16)))


def test_overwritten_frames_are_never_sampled():
    """With too few frame slots for short episodes, the oldest transitions drop out instead of going stale."""
    capacity = 40
    batches, _ = synthetic_stream(200, num_envs=2, seed=5, max_len=3)
    plain = ReplayBuffer(capacity, (STACK, *FRAME), np.uint8)
    frames = FrameReplayBuffer(capacity, (STACK, *FRAME), frame_capacity=45)
    dropped = 0
    for step, batch in enumerate(batches):
        plain.add(*batch)
        frames.add(*batch)
        n = len(frames)
        assert 0 < n <= len(plain)
        dropped = max(dropped, len(plain) - n)
        # The live range is the newest n transitions, each rebuilt exactly.
        live = (frames.added - n + np.arange(n)) % capacity
        assert_same_batches(frames.get(live), plain.get(live))
        slots = frames.sample_slots(256, np.random.default_rng(step))
        assert set(slots.tolist()) <= set(live.tolist())
    assert dropped > 0  # the situation under test did occur


def test_sampling_an_empty_buffer_raises():
    with pytest.raises(ValueError):
        FrameReplayBuffer(3, (STACK, *FRAME)).sample(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="frame_capacity"):
        FrameReplayBuffer(3, (STACK, *FRAME), frame_capacity=5)


def test_bytes_per_transition_is_about_one_frame():
    shape = (4, 84, 84)
    frame, naive = 84 * 84, 2 * 4 * 84 * 84
    for capacity in (100_000, 1_000_000):
        per_frames = FrameReplayBuffer.nbytes_for(capacity, shape) / capacity
        per_plain = ReplayBuffer.nbytes_for(capacity, shape, np.uint8) / capacity
        assert per_plain == naive + 16  # obs + next_obs, action (int64), reward and done (float32)
        assert frame < per_frames < 1.03 * frame + 64  # one frame + indices + a reserve of frame slots
    assert FrameReplayBuffer.nbytes_for(1_000_000, shape) <= 8e9
    # The estimate is what a real buffer allocates.
    assert FrameReplayBuffer(1000, shape).nbytes == FrameReplayBuffer.nbytes_for(1000, shape)
    assert ReplayBuffer(1000, shape, np.uint8).nbytes == ReplayBuffer.nbytes_for(1000, shape, np.uint8)
    assert default_frame_capacity(1_000_000, 4) == 1_015_625


def test_real_pong_collection_matches_the_plain_buffer():
    """A few hundred steps of two Pong envs (truncated every 60 steps) through both buffers."""
    from rlsub.envs import PRESETS
    from rlsub.tasks.rl import EnvTask

    base = PRESETS["Pong"]
    task = EnvTask("Pong", replace(base, max_episode_steps=60, atari=replace(base.atari, num_threads=1)))
    env = gym.vector.SyncVectorEnv([task.make, task.make], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    capacity = 250
    plain = ReplayBuffer(capacity, (4, 84, 84), np.uint8)
    frames = FrameReplayBuffer(capacity, (4, 84, 84))
    rng = np.random.default_rng(0)
    ends = 0
    try:
        obs, _ = env.reset(seed=11)
        for step in range(150):
            actions = rng.integers(0, 6, size=2)
            nxt, rew, term, trunc, info = env.step(actions)
            done = np.asarray(term) | np.asarray(trunc)
            ends += int(done.sum())
            args = (obs, actions, rew, final_obs(nxt, info, done), np.asarray(term, dtype=np.float32))
            plain.add(*args)
            frames.add(*args)
            obs = nxt
            if step % 25 == 24:
                assert_same_batches(frames.sample(32, np.random.default_rng(step)),
                                    plain.sample(32, np.random.default_rng(step)))
    finally:
        env.close()
    assert ends == 4 and frames.added == 300 > capacity
    assert len(frames) == len(plain) == capacity
    assert_same_batches(frames.get(np.arange(capacity)), plain.get(np.arange(capacity)))
    # One frame per step plus at most one per episode start (2 envs x (1 + 2 resets)).
    assert frames.frames_written <= 300 + 6
    assert frames.frames_written >= 250  # frames are not silently merged either
