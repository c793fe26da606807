"""DQN replay memory on Pong: the frame buffer (each 84×84 frame once) against the plain buffer (obs + next_obs).

Bytes per transition of both buffers for Pong's observation [4, 84, 84] uint8, their sizes at 100k
and 1M transitions (computed from the arrays each would allocate; nothing that large is allocated),
and the time to add a transition and to sample a batch, both buffers timed in the same run with
interleaved rounds on the same stream of frame stacks (episodes of ~900 steps, like Pong's).

    python benchmarks/replay_memory.py [--steps 3000] [--capacity 2000] [--batch 32] [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from common import Result, bench_main, interleaved, standard_arguments

from rlsub.agents.dqn.replay_buffer import FrameReplayBuffer, ReplayBuffer

OBS = (4, 84, 84)
#: The memory limit issue 12 set for 1M Pong transitions.
LIMIT_1M = 8e9


def pong_like_stream(steps: int, episode: int = 900, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """``(obs, action, reward, next_obs, done)`` batches of one zero-padded frame-stack env.

    Frames are random (distinct) 84×84 images: the buffers' cost does not depend on what they show.
    """
    rng = np.random.default_rng(seed)
    pool = rng.integers(1, 256, size=(257, *OBS[1:]), dtype=np.uint8)
    out = []
    stack = np.zeros(OBS, np.uint8)
    t = 0
    for i in range(steps):
        if t == 0:
            stack = np.zeros(OBS, np.uint8)
            stack[-1] = pool[(7 * i) % len(pool)]
        nxt = np.concatenate([stack[1:], pool[i % len(pool)][None]])
        t += 1
        end = t == episode
        term = end and (i // episode) % 2 == 0  # every other episode is truncated instead
        out.append((stack[None], np.array([i % 6]), np.array([0.0], np.float32), nxt[None],
                    np.array([float(term)], np.float32)))
        stack = nxt
        if end:
            t = 0
    return out


def run(args: argparse.Namespace) -> list[Result]:
    steps, capacity = (300, 200) if args.quick else (args.steps, args.capacity)
    plain_b = ReplayBuffer.nbytes_for(1, OBS, np.uint8)
    results = []
    for n in (100_000, 1_000_000):
        frames_n, plain_n = FrameReplayBuffer.nbytes_for(n, OBS), ReplayBuffer.nbytes_for(n, OBS, np.uint8)
        note = f"frames: {frames_n / n:,.0f} B/transition, plain: {plain_n / n:,.0f}"
        if n == 1_000_000:
            note += f"; frame buffer {'fits' if frames_n <= LIMIT_1M else 'does NOT fit'} in {LIMIT_1M / 1e9:g} GB"
        results.append(Result("replay", f"Pong {n:,} transitions", "buffer size, frame vs plain buffer", "GB",
                              frames_n / 1e9, "plain", plain_n / 1e9, note=note,
                              extra={"frames_bytes": frames_n, "plain_bytes": plain_n}))
    print(f"  plain buffer: {plain_b:,} B per transition (obs + next_obs {2 * int(np.prod(OBS)):,} B)", flush=True)

    stream = pong_like_stream(steps)
    frames, plain = FrameReplayBuffer(capacity, OBS), ReplayBuffer(capacity, OBS, np.uint8)
    results.insert(0, Result("replay", f"Pong [4,84,84], capacity {capacity:,}", "bytes per transition, frame vs plain",
                             "B", frames.nbytes / capacity, "plain", plain.nbytes / capacity,
                             note=f"1M transitions: {FrameReplayBuffer.nbytes_for(1_000_000, OBS) / 1_000_000:,.0f} B each "
                                  "(the spare frame slots are capacity/64, at least 64)"))

    def adder(buf):
        def add_all() -> None:
            for batch in stream:
                buf.add(*batch)
        return add_all

    add_t = interleaved({"frames": adder(frames), "plain": adder(plain)}, args.rounds)
    for a, b in zip(frames.sample(64, np.random.default_rng(1)).values(), plain.sample(64, np.random.default_rng(1)).values()):
        assert np.array_equal(a, b), "the frame buffer must sample the plain buffer's batches"
    rng_f, rng_p = np.random.default_rng(0), np.random.default_rng(0)
    reps = 20 if args.quick else 200

    def sampler(buf, rng):
        def sample_many() -> None:
            for _ in range(reps):
                buf.sample(args.batch, rng)
        return sample_many

    sample_t = interleaved({"frames": sampler(frames, rng_f), "plain": sampler(plain, rng_p)}, args.rounds)
    us = 1e6 / steps
    results.append(Result("replay", f"add, {steps:,} transitions into {capacity:,}", "add one transition", "us",
                          add_t["frames"] * us, "plain", add_t["plain"] * us,
                          note="frames: ~9 byte compares of 7 kB frames (against the env's previous stack) + 1 frame copy"))
    results.append(Result("replay", f"sample batch {args.batch}", "sample one batch", "us",
                          sample_t["frames"] * 1e6 / reps, "plain", sample_t["plain"] * 1e6 / reps))
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=3000, help="transitions added per timed round")
    p.add_argument("--capacity", type=int, default=2000, help="capacity of the timed buffers (the stream wraps it)")
    p.add_argument("--batch", type=int, default=32, help="sampled batch size (Pong DQN: 32)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    standard_arguments(p)


if __name__ == "__main__":
    sys.exit(bench_main(__doc__, add_arguments, run))
