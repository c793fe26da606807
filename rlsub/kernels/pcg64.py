"""numpy's ``PCG64(seed)`` first draws for many seeds at once (numba), bit for bit.

An episode-scheduled evaluation starts thousands of short CartPole episodes, each from its own
seed as a single ``gym.make`` env's ``reset(seed=s)`` does (``Generator(PCG64(s))``). Building that
object costs ~10 µs (SeedSequence hashing, then the bit generator), more than stepping the episode
for a few dozen steps. ``pcg64_raw(seeds, n)`` computes the same SeedSequence pool, PCG64 state and
first ``n`` 64-bit outputs for a whole array of seeds in one compiled call. Only seeds in
``[0, 2**32)`` (one entropy word) take this path; ``tests/test_fastrng.py`` checks it against numpy.

The algorithms are numpy's own (``numpy/random/bit_generator.pyx`` SeedSequence, ``pcg64.h``
XSL-RR 128/64): re-implemented from their published definitions, not copied.
"""

from __future__ import annotations

import numpy as np

from rlsub.kernels.lazy_jit import LazyJit

#: Largest seed (exclusive) the compiled path takes: SeedSequence then sees one 32-bit word.
MAX_FAST_SEED = 2**32

_M32 = 0xFFFFFFFF
# SeedSequence's hash constants.
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
# PCG64's 128-bit LCG multiplier, as (high, low) 64-bit halves.
_MUL_HI, _MUL_LO = 0x2360ED051FC65DA4, 0x4385DF649FCCF645


def _pcg64_kernel(seeds: np.ndarray, n: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    u32 = np.uint64(_M32)
    s16 = np.uint64(16)
    s32 = np.uint64(32)
    one = np.uint64(1)
    for r in range(seeds.shape[0]):
        # SeedSequence(seed).pool: entropy [seed, 0, 0, 0] hashed, then mixed pairwise.
        pool = np.zeros(4, dtype=np.uint64)
        h = np.uint64(_INIT_A)
        for i in range(4):
            v = seeds[r] if i == 0 else np.uint64(0)
            v = (v ^ h) & u32
            h = (h * np.uint64(_MULT_A)) & u32
            v = (v * h) & u32
            v ^= v >> s16
            pool[i] = v
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    v = (pool[src] ^ h) & u32
                    h = (h * np.uint64(_MULT_A)) & u32
                    v = (v * h) & u32
                    v ^= v >> s16
                    m = (np.uint64(_MIX_L) * pool[dst] - np.uint64(_MIX_R) * v) & u32
                    m ^= m >> s16
                    pool[dst] = m
        # generate_state(4, uint64): eight 32-bit words, little-endian pairs.
        words = np.zeros(8, dtype=np.uint64)
        h = np.uint64(_INIT_B)
        for i in range(8):
            v = (pool[i % 4] ^ h) & u32
            h = (h * np.uint64(_MULT_B)) & u32
            v = (v * h) & u32
            v ^= v >> s16
            words[i] = v
        init_hi = words[0] | (words[1] << s32)
        init_lo = words[2] | (words[3] << s32)
        seq_hi = words[4] | (words[5] << s32)
        seq_lo = words[6] | (words[7] << s32)
        # inc = (initseq << 1) | 1 over 128 bits.
        inc_hi = (seq_hi << one) | (seq_lo >> np.uint64(63))
        inc_lo = (seq_lo << one) | one
        # state = 0; step; state += initstate; step; then n × (step, output).
        st_hi, st_lo = np.uint64(0), np.uint64(0)
        for k in range(n + 2):
            # state = state * MUL + inc (mod 2**128): 64×64→128 via 32-bit halves.
            a, b = st_lo, np.uint64(_MUL_LO)
            a0, a1, b0, b1 = a & u32, a >> s32, b & u32, b >> s32
            p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
            mid = (p00 >> s32) + (p01 & u32) + (p10 & u32)
            lo = (p00 & u32) | (mid << s32)
            hi = p11 + (p01 >> s32) + (p10 >> s32) + (mid >> s32)
            hi = hi + st_lo * np.uint64(_MUL_HI) + st_hi * np.uint64(_MUL_LO)
            lo2 = lo + inc_lo
            st_hi = hi + inc_hi + (one if lo2 < lo else np.uint64(0))
            st_lo = lo2
            if k == 0:
                lo3 = st_lo + init_lo
                st_hi = st_hi + init_hi + (one if lo3 < st_lo else np.uint64(0))
                st_lo = lo3
            elif k >= 2:
                x = st_hi ^ st_lo
                rot = st_hi >> np.uint64(58)
                out[r, k - 2] = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))


#: The compiled kernel (None: numpy builds each generator, the same bits, slower).
_kernel: LazyJit | None = LazyJit(_pcg64_kernel)


def pcg64_raw(seeds: np.ndarray, n: int) -> np.ndarray:
    """``[len(seeds), n]`` uint64: row r is ``np.random.PCG64(int(seeds[r])).random_raw(n)``.

    Seeds must lie in ``[0, MAX_FAST_SEED)``; without numba, numpy builds each generator."""
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
    out = np.empty((len(seeds), int(n)), dtype=np.uint64)
    if len(seeds) and int(seeds.max()) >= MAX_FAST_SEED:
        raise ValueError(f"pcg64_raw takes seeds below {MAX_FAST_SEED}")
    fn = _kernel.get() if _kernel is not None else None
    if fn is None:
        for r, s in enumerate(seeds.tolist()):
            out[r] = np.random.PCG64(s).random_raw(n)
        return out
    fn(seeds, int(n), out)
    return out


__all__ = ["MAX_FAST_SEED", "pcg64_raw"]
