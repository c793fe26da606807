"""StackedProjection: T projections of one shape as one product equals each applied to its own row."""

from __future__ import annotations

import pytest
import torch

from rlsub.projections import make_projection
from rlsub.projections.stacked import StackedProjection


@pytest.mark.parametrize("kind", ["dense", "sparse", "fastfood", "identity"])
@pytest.mark.parametrize("D,d", [(300, 37), (1000, 1000), (4097, 600), (96, 64)])
def test_forward_and_gradient_equal_each_projection(kind: str, D: int, d: int) -> None:
    if kind == "identity":
        d = D
    projs = [make_projection(kind, D, d, seed) for seed in (3, 4, 5)]
    stack = StackedProjection(projs)
    dtype = torch.float32 if kind == "dense" else torch.float64  # dense P is float32 (as a single one)
    th = torch.randn(3, d, dtype=dtype, requires_grad=True)
    g = torch.randn(3, D, dtype=dtype)
    y = stack(th)
    assert y.shape == (3, D)
    each = torch.stack([p(t) for p, t in zip(projs, th)])
    torch.testing.assert_close(y, each.to(y.dtype))
    (gy,) = torch.autograd.grad(y, th, g)
    (ge,) = torch.autograd.grad(each, th, g)
    torch.testing.assert_close(gy, ge)


def test_float32_double_backward_and_errors() -> None:
    projs = [make_projection("fastfood", 200, 20, s) for s in (0, 1)]
    stack = StackedProjection(projs)
    th = torch.randn(2, 20)
    torch.testing.assert_close(stack(th), torch.stack([p(t) for p, t in zip(projs, th)]), rtol=1e-5, atol=1e-6)
    for kind in ("fastfood", "sparse"):
        s = StackedProjection([make_projection(kind, 50, 6, k) for k in (0, 1)])
        x = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradgradcheck(s, (x,))
    with pytest.raises(ValueError, match="share kind, D and d"):
        StackedProjection([make_projection("dense", 50, 6, 0), make_projection("sparse", 50, 6, 1)])
    with pytest.raises(ValueError, match="share kind, D and d"):
        StackedProjection([make_projection("dense", 50, 6, 0), make_projection("dense", 50, 7, 1)])
    with pytest.raises(ValueError, match="shape"):
        stack(torch.randn(3, 20))
