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
from rlsub.projections.fastfood import FastfoodProjection
from rlsub.projections.fwht import fwht
from rlsub.projections.identity import IdentityProjection
from rlsub.projections.sparse import SparseProjection

PROJECTIONS: dict[str, type[Projection]] = {
    "dense": DenseProjection,
    "sparse": SparseProjection,
    "fastfood": FastfoodProjection,
    "identity": IdentityProjection,
}


#: Largest sparse structure ``choose_projection`` accepts (16 bytes per non-zero, ~d·sqrt(D) of them).
SPARSE_MAX_BYTES = 1 << 30


def choose_projection(D: int, d: int, population: bool) -> str:
    """The fastest projection for (D, d) on a CPU, from ``benchmarks/projections.py``'s rule grid.

    * D·d <= 10^6: ``dense`` (one small GEMM; fastest there, exactly unit columns);
    * populations (direct search, forward only): ``sparse`` while its ~16·d·sqrt(D) bytes fit in
      ``SPARSE_MAX_BYTES`` (4-6x faster than Fastfood at D = 1.7M), else ``fastfood``;
    * one θ_d with gradients (gradient agents, supervised): ``sparse`` below D = 3·10^5,
      ``fastfood`` above (Fastfood's O(D log d) wins at large D and needs only ~7·D bytes).
    """
    return explain_projection(D, d, population)[0]


def explain_projection(D: int, d: int, population: bool) -> tuple[str, str]:
    """``choose_projection``'s pick and, in a few words, the rule that picked it."""
    check_dims(D, d)
    if D * d <= 1_000_000:
        return "dense", f"D·d = {D * d:,} <= 10^6"
    sparse_mib = 16 * d * D**0.5 / 2**20
    sparse_ok = sparse_mib <= SPARSE_MAX_BYTES / 2**20
    who = "a population (forward only)" if population else "one θ_d with gradients"
    why = f"D·d = {D * d:,} > 10^6, {who}"
    if not sparse_ok:
        return "fastfood", f"{why}, sparse P would need {sparse_mib:,.0f} MiB > {SPARSE_MAX_BYTES >> 20:,} MiB"
    if population:
        return "sparse", f"{why}, sparse P needs {sparse_mib:,.1f} MiB"
    if D < 300_000:
        return "sparse", f"{why}, D < 300,000"
    return "fastfood", f"{why}, D >= 300,000"


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
    "choose_projection",
    "explain_projection",
    "fwht",
    "make_projection",
]
