"""The CSR sparse path equals the gather/index_add reference it replaces, forward and gradient."""

from __future__ import annotations

import pytest
import torch

from rlsub.projections import SparseProjection
from rlsub.projections.sparse import sparse_reference

SHAPES = [(1, 1), (50, 1), (30, 17), (300, 7), (257, 130), (64, 64), (1000, 600), (513, 513), (20_000, 300)]


@pytest.mark.parametrize("D,d", SHAPES)
def test_forward_and_gradient_match_reference(D: int, d: int) -> None:
    P = SparseProjection(D, d, seed=3)
    th = torch.randn(5, d, dtype=torch.float64, requires_grad=True)
    y, yr = P(th), P.forward_reference(th)
    assert y.shape == (5, D) and y.dtype == torch.float64
    torch.testing.assert_close(y, yr)
    g = torch.randn(5, D, dtype=torch.float64)
    (fast,) = torch.autograd.grad(y, th, g)
    (ref,) = torch.autograd.grad(yr, th, g)
    torch.testing.assert_close(fast, ref)
    # single θ and extra leading dims
    t1 = th[0].detach().requires_grad_()
    y1 = P(t1)
    assert y1.shape == (D,)
    torch.testing.assert_close(y1, yr[0])
    (g1,) = torch.autograd.grad(y1, t1, g[0])
    torch.testing.assert_close(g1, ref[0])
    th3 = th.detach().reshape(5, 1, d).expand(5, 2, d)
    torch.testing.assert_close(P(th3), P.forward_reference(th3))
    if D * d <= 1_000_000:
        M = P.dense()
        torch.testing.assert_close(P(th.detach().float()), th.detach().float() @ M.T, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(fast.float(), g.float() @ M, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(M.norm(dim=0), torch.ones(d), rtol=1e-5, atol=1e-5)


def test_triples_and_dense_match_the_former_layout() -> None:
    """rows/cols/vals (column-major triples) rebuild exactly the CSR matrices, so P is unchanged."""
    D, d = 2000, 90
    P = SparseProjection(D, d, seed=7)
    M = torch.zeros(D, d).index_put_((P.rows, P.cols), P.vals, accumulate=True)
    assert torch.equal(M, P.dense())
    assert P.nnz == P.vals.numel() == P.rows.numel() == P.cols.numel()
    assert torch.all(P.cols[1:] >= P.cols[:-1])
    torch.testing.assert_close(P(torch.eye(d)), sparse_reference(torch.eye(d), P.rows, P.cols, P.vals, D))
    assert P.crow.dtype == torch.int32  # small problems use 32-bit indices


def test_gradcheck_double_backward_vmap_empty() -> None:
    P = SparseProjection(40, 6, seed=1)
    th = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(P, (th,))
    assert torch.autograd.gradgradcheck(P, (th,))
    x = torch.randn(2, 3, 6)
    torch.testing.assert_close(torch.vmap(P)(x), P(x))
    torch.testing.assert_close(torch.vmap(P, in_dims=1)(x), P(x.transpose(0, 1)))
    assert P(torch.zeros(0, 6)).shape == (0, 40)
    t = torch.randn(6).half().requires_grad_()
    assert P(t).dtype == torch.float32
    P(t).sum().backward()
    assert t.grad.dtype == torch.float16
