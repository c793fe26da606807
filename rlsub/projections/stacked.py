"""T projections of one shape (different seeds, so different P_t) applied as one product.

Same-d trials of a sweep (seeds of one configuration) train together with a stacked θ of shape
``[T, d]``; row t must go through its own P_t. A Python loop over t costs T dispatches of every
op of the product, which on a GPU (and for small nets on a CPU) is the whole time; here each kind
runs all T at once:

* dense: one ``bmm`` over the stacked matrices ``[T, d, D]``;
* Fastfood: the per-trial structures stacked ``[T, k, n]``, each step of S H G Π H B done for all
  T in one op (plain differentiable ops: the backward is autograd's); 16·T·k·n bytes of structure
  (signs as float, permutations as int64: what the ops take), e.g. 100 MB for 32 MNIST-FC trials;
* sparse: the block-diagonal CSR matrix diag(P_1, …, P_T) and its transpose: one sparse product
  each way, through the same autograd function as a single sparse projection;
* identity: θ itself.
"""

from __future__ import annotations

import torch
from torch import nn

from rlsub.projections.base import Projection
from rlsub.projections.dense import DenseProjection
from rlsub.projections.fastfood import FastfoodProjection, _fastfood_small
from rlsub.projections.identity import IdentityProjection
from rlsub.projections.sparse import SparseProjection, _SparseProduct


class StackedProjection(nn.Module):
    """``forward(theta)``: ``[T, d]`` → ``[T, D]`` with row t mapped by ``projections[t]``.

    All projections must share kind, D and d. Results equal each projection applied to its own
    row (to float rounding), gradients included.
    """

    def __init__(self, projections: list[Projection]) -> None:
        super().__init__()
        if not projections:
            raise ValueError("StackedProjection needs at least one projection")
        first = projections[0]
        for p in projections[1:]:
            if type(p) is not type(first) or (p.D, p.d) != (first.D, first.d):
                raise ValueError(f"stacked projections must share kind, D and d: {first!r} vs {p!r}")
        self.kind, self.D, self.d, self.T = first.kind, first.D, first.d, len(projections)
        if isinstance(first, DenseProjection):
            self.register_buffer("P_t", torch.stack([p.P_t for p in projections]))  # [T, d, D]
        elif isinstance(first, FastfoodProjection):
            self.register_buffer("signs", torch.stack([p.B for p in projections]).float())  # [T, k, n]
            self.register_buffer("perm", torch.stack([p.Pi for p in projections]).long())
            self.register_buffer("gauss", torch.stack([p.G for p in projections]))
        elif isinstance(first, SparseProjection):
            csr = _block_diagonal([(p.crow, p.col, p.val) for p in projections], self.D, self.d)
            csr_t = _block_diagonal([(p.t_crow, p.t_col, p.t_val) for p in projections], self.d, self.D)
            for name, t in zip(("crow", "col", "val", "t_crow", "t_col", "t_val"), (*csr, *csr_t)):
                self.register_buffer(name, t)
        elif not isinstance(first, IdentityProjection):
            raise ValueError(f"no stacked product for projection kind {first.kind!r}")

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        if theta.shape != (self.T, self.d):
            raise ValueError(f"stacked θ must have shape [{self.T}, {self.d}], got {list(theta.shape)}")
        if self.kind == "identity":
            return theta
        if self.kind == "dense":
            return torch.bmm(theta.unsqueeze(1), self.P_t).squeeze(1)
        if self.kind == "fastfood":
            return _fastfood_small(theta, self.signs, self.perm, self.gauss, self.D)
        a = (self.crow, self.col, self.val, (self.T * self.D, self.T * self.d))
        at = (self.t_crow, self.t_col, self.t_val, (self.T * self.d, self.T * self.D))
        return _SparseProduct.apply(theta.reshape(self.T * self.d), a, at).reshape(self.T, self.D)


def _block_diagonal(blocks: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], rows: int, cols: int):
    """CSR (crow, col, val) of diag(A_1, …, A_T) from the blocks' CSR, each ``rows × cols``."""
    crows, col_parts, nnz = [blocks[0][0][:1].long()], [], 0
    for t, (crow, col, _) in enumerate(blocks):
        crows.append(crow[1:].long() + nnz)
        col_parts.append(col.long() + t * cols)
        nnz += int(crow[-1])
    total = max(len(blocks) * max(rows, cols), nnz)
    dtype = torch.int32 if total <= 2**31 - 1 else torch.int64
    return torch.cat(crows).to(dtype), torch.cat(col_parts).to(dtype), torch.cat([b[2] for b in blocks])


__all__ = ["StackedProjection"]
