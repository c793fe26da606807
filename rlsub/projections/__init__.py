"""Random projections P: R^d -> R^D, all rebuilt from (D, d, seed).

>>> from rlsub.projections import make_projection
>>> P = make_projection("fastfood", D=10_000, d=16, seed=0)
>>> P(torch.zeros(16)).shape
torch.Size([10000])
"""

from __future__ import annotations

from rlsub.errors import ConfigError
from rlsub.projections.base import Projection, check_dims
from rlsub.projections.dense import DenseProjection
from rlsub.projections.fastfood import FastfoodProjection, fwht
from rlsub.projections.identity import IdentityProjection
from rlsub.projections.sparse import SparseProjection

PROJECTIONS: dict[str, type[Projection]] = {
    "dense": DenseProjection,
    "sparse": SparseProjection,
    "fastfood": FastfoodProjection,
    "identity": IdentityProjection,
}


def make_projection(kind: str, D: int, d: int, seed: int) -> Projection:
    """Build projection ``kind`` (one of PROJECTIONS) for a D-parameter network and a d-dim subspace."""
    try:
        cls = PROJECTIONS[kind]
    except KeyError:
        raise ConfigError(
            f"unknown projection {kind!r}; choose one of {', '.join(PROJECTIONS)}"
        ) from None
    return cls(D, d, seed)


__all__ = [
    "PROJECTIONS",
    "DenseProjection",
    "FastfoodProjection",
    "IdentityProjection",
    "Projection",
    "SparseProjection",
    "check_dims",
    "fwht",
    "make_projection",
]
