"""Very sparse random projection (Li, Hastie & Church 2006), column-normalised.

Each entry is non-zero with probability 1/sqrt(D), with a random sign; columns are then scaled
to unit norm. Only the non-zeros are stored, as (row, col, value) triples: O(d·sqrt(D)) memory.
The product is a gather over θ_d followed by a scatter-add into R^D, so autograd gives the
transpose product for free.
"""

from __future__ import annotations

import math

import torch

from rlsub.projections.base import Projection
from rlsub.seeding import torch_generator


class SparseProjection(Projection):
    """P with ~sqrt(D) random ±1 entries per column, scaled to unit column norm."""

    kind = "sparse"

    def __init__(self, D: int, d: int, seed: int) -> None:
        super().__init__(D, d, seed)
        g = torch_generator(seed, "sparse", D, d)
        density = 1.0 / math.sqrt(D)
        counts = torch.binomial(torch.full((d,), float(D)), torch.full((d,), density), generator=g)
        counts = counts.clamp_(min=1).long()
        cols = torch.repeat_interleave(torch.arange(d), counts)
        rows = torch.randint(0, D, (cols.numel(),), generator=g)
        signs = torch.randint(0, 2, (cols.numel(),), generator=g).float().mul_(2).sub_(1)
        # Sampling rows with replacement can repeat a (row, col) pair: merge duplicates.
        key, inverse = torch.unique(cols * D + rows, return_inverse=True)
        vals = torch.zeros(key.numel()).index_add_(0, inverse, signs)
        keep = vals != 0
        key, vals = key[keep], vals[keep]
        cols, rows = key // D, key % D
        norms = torch.zeros(d).index_add_(0, cols, vals * vals).sqrt_()
        # A column whose entries all cancelled gets one fresh entry so that P keeps rank d.
        empty = (norms == 0).nonzero().flatten()
        if empty.numel():
            extra_rows = torch.randint(0, D, (empty.numel(),), generator=g)
            cols = torch.cat([cols, empty])
            rows = torch.cat([rows, extra_rows])
            vals = torch.cat([vals, torch.ones(empty.numel())])
            norms[empty] = 1.0
        vals = vals / norms[cols]
        self.register_buffer("rows", rows.to(torch.int64))
        self.register_buffer("cols", cols.to(torch.int64))
        self.register_buffer("vals", vals.float())

    @property
    def nnz(self) -> int:
        return int(self.vals.numel())

    def forward(self, theta_d: torch.Tensor) -> torch.Tensor:
        contrib = theta_d[..., self.cols] * self.vals
        out = theta_d.new_zeros(*theta_d.shape[:-1], self.D)
        return out.index_add(-1, self.rows, contrib)
