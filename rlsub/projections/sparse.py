"""Very sparse random projection (Li, Hastie & Church 2006), column-normalised.

Each entry is non-zero with probability 1/sqrt(D), with a random sign; columns are then scaled
to unit norm. Only the non-zeros are stored, twice, as compressed sparse rows (CSR) of P and of
Pᵀ (int32 indices while they fit): 16 bytes per non-zero + 4·(D + d), O(d·sqrt(D)) memory.

Speed (see benchmarks/projections.py): the forward is one sparse×dense product CSR(P) @ θᵀ and
the backward, in a custom autograd function, the product CSR(Pᵀ) @ gᵀ. Both are row-parallel
kernels with no scatter: the old gather/index_add layout (``sparse_reference``) needed an
accumulating scatter into d columns in its backward and a [pop, nnz] temporary, 3-15× slower
for populations.
"""

from __future__ import annotations

import math
import warnings

import torch

from rlsub.projections.base import ProductFunction, Projection
from rlsub.utils.seeding import torch_generator

_INT32_MAX = 2**31 - 1


def _csr(major: torch.Tensor, minor: torch.Tensor, vals: torch.Tensor, n_major: int, dtype: torch.dtype):
    """(crow_indices, col_indices, values) of the matrix with entries (major[i], minor[i]) = vals[i]."""
    order = torch.argsort(major * (int(minor.max()) + 1 if minor.numel() else 1) + minor)
    crow = torch.zeros(n_major + 1, dtype=torch.int64)
    crow[1:] = torch.bincount(major, minlength=n_major).cumsum(0)
    return crow.to(dtype), minor[order].to(dtype), vals[order].contiguous()


def _spmm(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, shape: tuple[int, int], x: torch.Tensor) -> torch.Tensor:
    """A @ xᵀ as ``[..., shape[0]]`` for x of shape ``[..., shape[1]]`` (A given in CSR form)."""
    batch = x.shape[:-1]
    dtype = torch.promote_types(x.dtype, val.dtype)
    rows = x.reshape(-1, shape[1]).to(dtype)
    if rows.shape[0] == 0:
        return rows.new_zeros(*batch, shape[0])
    with warnings.catch_warnings():  # torch warns that CSR is "beta"; these two products are stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        A = torch.sparse_csr_tensor(crow, col, val.to(dtype), shape, check_invariants=False)
    # [n, m] result transposed back: a view (contiguous for one θ), no copy of the D-sized output.
    out = (A @ rows.T.contiguous()).T
    return out.reshape(*batch, shape[0])


class _SparseProduct(ProductFunction):
    """θ ↦ Aθ for CSR ``a`` = (crow, col, val, shape), with backward Aᵀ given in CSR ``at``."""

    @staticmethod
    def forward(x, a, at):  # type: ignore[override]
        return _spmm(*a, x)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        x, a, at = inputs
        ctx.a, ctx.at, ctx.x_dtype = a, at, x.dtype

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        # Aᵀ's product is itself a _SparseProduct (with A as its transpose): double backward works.
        # Grad mode is on here only under create_graph; otherwise the plain product saves a dispatch.
        out = _SparseProduct.apply(grad, ctx.at, ctx.a) if torch.is_grad_enabled() else _spmm(*ctx.at, grad)
        return out.to(ctx.x_dtype), None, None

    @staticmethod
    def vmap(info, in_dims, x, a, at):  # type: ignore[override]
        return _SparseProduct.apply(x.movedim(in_dims[0], 0), a, at), 0


def sparse_reference(theta: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, D: int) -> torch.Tensor:
    """The former gather/index_add product over (row, col, value) triples (autograd backward)."""
    contrib = theta[..., cols] * vals
    out = theta.new_zeros(*theta.shape[:-1], D, dtype=contrib.dtype)
    return out.index_add(-1, rows, contrib)




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
        vals = (vals / norms[cols]).float()
        # CSR of P (forward) and of Pᵀ (backward); int32 indices halve the index memory.
        idx = torch.int32 if max(D, d, vals.numel()) <= _INT32_MAX else torch.int64
        crow, col, val = _csr(rows, cols, vals, D, idx)
        self.register_buffer("crow", crow)
        self.register_buffer("col", col)
        self.register_buffer("val", val)
        tcrow, tcol, tval = _csr(cols, rows, vals, d, idx)
        self.register_buffer("t_crow", tcrow)
        self.register_buffer("t_col", tcol)
        self.register_buffer("t_val", tval)

    @property
    def nnz(self) -> int:
        return int(self.val.numel())

    # (row, col, value) triples in column-major order, as the former layout stored them.
    @property
    def rows(self) -> torch.Tensor:
        return self.t_col.long()

    @property
    def cols(self) -> torch.Tensor:
        counts = (self.t_crow[1:] - self.t_crow[:-1]).long()
        return torch.repeat_interleave(torch.arange(self.d, device=counts.device), counts)

    @property
    def vals(self) -> torch.Tensor:
        return self.t_val

    def forward(self, theta_d: torch.Tensor) -> torch.Tensor:
        a = (self.crow, self.col, self.val, (self.D, self.d))
        at = (self.t_crow, self.t_col, self.t_val, (self.d, self.D))
        return _SparseProduct.apply(theta_d, a, at)

    def forward_reference(self, theta_d: torch.Tensor) -> torch.Tensor:
        """The same product by ``sparse_reference`` (slow; for tests and benchmarks)."""
        return sparse_reference(theta_d, self.rows, self.cols, self.vals, self.D)
