"""Identity projection: d = D, the full-space baseline."""

from __future__ import annotations

import torch

from rlsub.errors import ConfigError
from rlsub.projections.base import Projection


class IdentityProjection(Projection):
    """P = I (requires d == D): training θ_d is ordinary training of all D parameters."""

    kind = "identity"

    def __init__(self, D: int, d: int, seed: int = 0) -> None:
        super().__init__(D, d, seed)
        if d != D:
            raise ConfigError(f"projection 'identity' needs d == D (got d={d}, D={D})")

    def forward(self, theta_d: torch.Tensor) -> torch.Tensor:
        return theta_d
