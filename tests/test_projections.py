"""The maths of projections: column norms, dense forms, gradients, determinism across processes."""

import hashlib
import subprocess
import sys

import pytest
import torch

from rlsub.errors import ConfigError
from rlsub.projections import PROJECTIONS, FastfoodProjection, fwht, make_projection

KINDS = ["dense", "sparse", "fastfood"]
SHAPES = [(50, 1), (50, 2), (300, 7), (257, 130), (64, 64), (1000, 33), (37, 37)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("D,d", SHAPES)
def test_forward_equals_dense_form(kind, D, d):
    P = make_projection(kind, D, d, seed=3)
    M = P.dense()
    assert M.shape == (D, d)
    theta = torch.randn(5, d, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(P(theta), theta @ M.T, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(P(theta[0]), M @ theta[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize("D,d", SHAPES)
def test_unit_norm_columns_exact(kind, D, d):
    norms = make_projection(kind, D, d, seed=1).dense().norm(dim=0)
    torch.testing.assert_close(norms, torch.ones(d), rtol=1e-5, atol=1e-5)


def test_fastfood_columns_unit_norm_when_blocks_tile_D():
    norms = make_projection("fastfood", 4096, 64, seed=1).dense().norm(dim=0)
    torch.testing.assert_close(norms, torch.ones(64), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("D,d", [(1000, 33), (5000, 100), (257, 130)])
def test_fastfood_columns_approximately_unit_norm(D, d):
    norms = make_projection("fastfood", D, d, seed=2).dense().norm(dim=0)
    assert (norms - 1).abs().max() < 0.1
    assert abs(norms.pow(2).mean().item() - 1) < 0.05


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_is_P_transpose_grad(kind):
    D, d = 300, 17
    P = make_projection(kind, D, d, seed=5)
    theta = torch.randn(d, requires_grad=True)
    w = torch.randn(D)
    loss = (torch.sin(P(theta)) * w).sum()
    loss.backward()
    x = P(theta.detach())
    grad_theta_D = torch.cos(x) * w
    torch.testing.assert_close(theta.grad, P.dense().T @ grad_theta_D, rtol=1e-4, atol=1e-5)


def test_fwht_matches_hadamard_matrix():
    n = 16
    H = torch.ones(1, 1)
    while H.shape[0] < n:
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)], 0)
    x = torch.randn(3, n)
    torch.testing.assert_close(fwht(x), x @ H.T)
    with pytest.raises(ValueError):
        fwht(torch.zeros(12))


def test_fastfood_memory_is_order_D():
    """What a Fastfood P holds (every tensor reachable from it, measured) grows like D, not D·d: at most
    2 floats per row of P at D = 1.7M, d = 6000 (a dense P would hold 6000), doubling with D, flat in d."""
    from memory_check import held_bytes

    Ds, ds = (425_000, 850_000, 1_700_000), (1000, 6000)
    held = {(D, d): held_bytes(FastfoodProjection(D, d, seed=0)) for D in Ds for d in ds}
    assert held[1_700_000, 6000] <= 2 * 4 * 1_700_000
    for d in ds:
        for small, large in zip(Ds, Ds[1:]):
            assert 1.9 <= held[large, d] / held[small, d] <= 2.1
    for D in Ds:
        assert held[D, 6000] <= 1.05 * held[D, 1000]


@pytest.mark.parametrize("D,d", [(10, 0), (10, -3), (10, 11)])
@pytest.mark.parametrize("kind", KINDS)
def test_bad_dimensions(kind, D, d):
    with pytest.raises(ConfigError):
        make_projection(kind, D, d, seed=0)


def test_unknown_projection_and_identity_shape():
    with pytest.raises(ConfigError, match="unknown projection"):
        make_projection("gaussian", 10, 2, 0)
    with pytest.raises(ConfigError, match="identity"):
        make_projection("identity", 10, 2, 0)
    assert set(PROJECTIONS) == {"dense", "sparse", "fastfood", "identity"}


def _digest(kind: str) -> str:
    return hashlib.sha256(make_projection(kind, 500, 20, seed=11).dense().numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_P_in_another_process(kind):
    code = (
        "import hashlib; from rlsub.projections import make_projection;"
        f"print(hashlib.sha256(make_projection('{kind}', 500, 20, seed=11).dense().numpy().tobytes()).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == _digest(kind)
    assert _digest(kind) != hashlib.sha256(make_projection(kind, 500, 20, seed=12).dense().numpy().tobytes()).hexdigest()


def test_choose_projection_rule():
    from rlsub.projections import choose_projection

    assert choose_projection(4610, 64, population=True) == "dense"  # D·d <= 1e6
    assert choose_projection(4610, 1000, population=True) == "sparse"
    assert choose_projection(4610, 1000, population=False) == "sparse"
    assert choose_projection(1_700_000, 6000, population=True) == "sparse"  # 132 MB of non-zeros
    assert choose_projection(1_700_000, 6000, population=False) == "fastfood"
    assert choose_projection(1_700_000, 60_000, population=True) == "fastfood"  # sparse would need > 1 GiB
    with pytest.raises(ConfigError):
        choose_projection(100, 101, population=True)
