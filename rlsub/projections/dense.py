"""Dense Gaussian projection with unit-norm columns (the paper's default)."""

from __future__ import annotations

import torch

from rlsub.errors import ConfigError
from rlsub.projections.base import Projection
from rlsub.seeding import torch_generator

#: Refuse to materialise a dense P larger than this; sparse/Fastfood are O(D).
MAX_DENSE_BYTES = 4 * 1024**3


class DenseProjection(Projection):
    """P with i.i.d. N(0, 1) entries, each column scaled to unit L2 norm. Memory: D·d floats."""

    kind = "dense"

    def __init__(self, D: int, d: int, seed: int) -> None:
        super().__init__(D, d, seed)
        if D * d * 4 > MAX_DENSE_BYTES:
            raise ConfigError(
                f"dense projection D={D} x d={d} needs {D * d * 4 / 2**30:.1f} GiB; "
                "use --projection fastfood or sparse"
            )
        g = torch_generator(seed, "dense", D, d)
        P = torch.randn(D, d, generator=g)
        P /= P.norm(dim=0, keepdim=True)
        # Stored transposed so that theta @ P_t is a contiguous GEMM for batches.
        self.register_buffer("P_t", P.T.contiguous())

    def forward(self, theta_d: torch.Tensor) -> torch.Tensor:
        return theta_d @ self.P_t

    @torch.no_grad()
    def dense(self) -> torch.Tensor:
        return self.P_t.T.contiguous()
