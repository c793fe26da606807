"""Fastfood projection (Le, Sarlós & Smola 2013) as used by Li et al. 2018: O(D) memory.

θ_d is zero-padded to n = 2^ceil(log2 d) and fed through ceil(D/n) independent blocks
``S_b H G_b Π_b H B_b`` (H: Walsh–Hadamard, B: random signs, Π: random permutation, G: Gaussian
diagonal); the stacked outputs are truncated to D. Each block is scaled so that every column of P
has norm exactly 1 within the block, and the stack is rescaled by sqrt(n/D), so columns of the
whole P have norm ≈ 1 (exactly 1 when n divides D).

Structure memory: G as float32 (D), Π as int16 when n <= 2^15 (D/2) else int32 (D), B as int8
(D/4): ≤ 2.25·D floats, 1.75·D for d <= 32768.
"""

from __future__ import annotations

import math

import torch

from rlsub.projections.base import Projection
from rlsub.seeding import torch_generator


def fwht(x: torch.Tensor) -> torch.Tensor:
    """Unnormalised fast Walsh–Hadamard transform over the last dimension (a power of two)."""
    n = x.shape[-1]
    if n & (n - 1):
        raise ValueError(f"FWHT length must be a power of two, got {n}")
    shape = x.shape
    h = 1
    while h < n:
        x = x.reshape(*shape[:-1], n // (2 * h), 2, h)
        a, b = x[..., 0, :], x[..., 1, :]
        x = torch.stack((a + b, a - b), dim=-2)
        h *= 2
    return x.reshape(shape)


class FastfoodProjection(Projection):
    """P = sqrt(n/D)·[S_b H G_b Π_b H B_b]_b truncated to D rows; never materialised."""

    kind = "fastfood"

    def __init__(self, D: int, d: int, seed: int) -> None:
        super().__init__(D, d, seed)
        n = 1 << max(0, math.ceil(math.log2(d)))
        k = math.ceil(D / n)
        self.n, self.blocks = n, k
        g = torch_generator(seed, "fastfood", D, d)
        signs = torch.randint(0, 2, (k, n), generator=g).to(torch.int8).mul_(2).sub_(1)
        perm = torch.argsort(torch.rand(k, n, generator=g), dim=-1)
        gauss = torch.randn(k, n, generator=g)
        # H·G·Π·H·B maps e_j to a vector of norm n·||G_b||/sqrt(n)... = sqrt(n)·||G_b||; fold
        # that and the global sqrt(n/D) into G so the forward pass is scale-free.
        scale = 1.0 / torch.sqrt(n * (gauss * gauss).sum(dim=-1, keepdim=True)) * math.sqrt(n / D)
        self.register_buffer("B", signs)
        self.register_buffer("Pi", perm.to(torch.int16 if n <= 2**15 else torch.int32))
        self.register_buffer("G", (gauss * scale).float())

    def forward(self, theta_d: torch.Tensor) -> torch.Tensor:
        batch = theta_d.shape[:-1]
        x = torch.nn.functional.pad(theta_d, (0, self.n - self.d))
        x = x.unsqueeze(-2) * self.B.to(x.dtype)  # [..., k, n]
        x = fwht(x)
        idx = self.Pi.long().expand(*batch, self.blocks, self.n)
        x = torch.gather(x, -1, idx) * self.G
        x = fwht(x)
        return x.reshape(*batch, self.blocks * self.n)[..., : self.D]
