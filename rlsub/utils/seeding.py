"""Deterministic seed derivation.

Every random component (θ_0, P, env episodes, optimizer) gets its own seed derived from the
trial seed and a name, so that components never share an RNG stream and any process can
rebuild the same component from (seed, name) alone.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def derive_seed(seed: int, *names: object) -> int:
    """A 62-bit seed that depends only on ``seed`` and ``names`` (stable across processes and runs)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(int(seed)).encode())
    for name in names:
        h.update(b"\x00" + str(name).encode())
    return int.from_bytes(h.digest(), "little") >> 2


def torch_generator(seed: int, *names: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``derive_seed(seed, *names)``."""
    return torch.Generator().manual_seed(derive_seed(seed, *names))


def np_generator(seed: int, *names: object) -> np.random.Generator:
    """A ``np.random.Generator`` seeded from ``derive_seed(seed, *names)``."""
    return np.random.default_rng(derive_seed(seed, *names))
