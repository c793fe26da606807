"""The fast Fastfood path (Kronecker-GEMM FWHT, cache-blocked chunks, custom autograd) equals the
straightforward reference it replaces, forward and gradient, for many (D, d)."""

from __future__ import annotations

import pytest
import torch

import rlsub.projections.fastfood as ff
from rlsub.projections import FastfoodProjection
from rlsub.projections import fwht as exported_fwht
from rlsub.projections.fwht import fwht, fwht_reference, hadamard_factors, hadamard_matrix

# (D, d): non-powers of two, d > D/2, d == D, d == 1, one block, many blocks, partial last block.
SHAPES = [(1, 1), (30, 17), (100, 7), (1000, 1), (1000, 3), (1000, 600), (513, 513), (2048, 2048), (5000, 70), (20_000, 1000), (70_000, 33)]


def test_fwht_is_exported_from_projections() -> None:
    assert exported_fwht is fwht and ff.fwht is fwht


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32, 64, 512, 1024, 8192, 2**15])
def test_fwht_matches_butterfly_and_hadamard(n: int) -> None:
    x = torch.randn(3, 2, n, dtype=torch.float64)
    torch.testing.assert_close(fwht(x), fwht_reference(x))
    if n <= 512:
        torch.testing.assert_close(fwht(x), x @ hadamard_matrix(n, torch.float64))
    # Involution up to n: H H = n I.
    torch.testing.assert_close(fwht(fwht(x)), n * x)


def test_fwht_factors_and_errors() -> None:
    assert hadamard_factors(1) == []
    assert hadamard_factors(1024) == [4, 16, 16]
    for n in (1, 2, 16, 2**13, 2**21):
        f = hadamard_factors(n)
        assert all(a <= 16 for a in f) and (torch.tensor(f).prod().item() if f else 1) == n
    with pytest.raises(ValueError, match="power of two"):
        fwht(torch.zeros(3, 12))
    assert fwht(torch.zeros(0, 8)).shape == (0, 8)


def test_fwht_gradient() -> None:
    x = torch.randn(4, 64, dtype=torch.float64, requires_grad=True)
    g = torch.randn(4, 64, dtype=torch.float64)
    (gx,) = torch.autograd.grad(fwht(x), x, g)
    torch.testing.assert_close(gx, fwht_reference(g))  # H is symmetric


@pytest.fixture(params=[1 << 7, 1 << 12, ff.CHUNK_ELEMENTS])
def chunk(request, monkeypatch):
    """Run each test with tiny chunks too, so chunk/row splitting and the partial last block are hit."""
    monkeypatch.setattr(ff, "CHUNK_ELEMENTS", request.param)
    return request.param


@pytest.mark.parametrize("D,d", SHAPES)
def test_forward_matches_reference_and_dense(D: int, d: int, chunk: int) -> None:
    P = FastfoodProjection(D, d, seed=3)
    th = torch.randn(5, d, dtype=torch.float64)
    y = P(th)
    assert y.shape == (5, D) and y.dtype == torch.float64 and y.is_contiguous()
    torch.testing.assert_close(y, P.forward_reference(th))
    # single θ ([d] -> [D]) and extra leading dims
    torch.testing.assert_close(P(th[1]), P.forward_reference(th[1]))
    th3 = th.reshape(5, 1, d).expand(5, 2, d)
    torch.testing.assert_close(P(th3), P.forward_reference(th3))
    if D * d > 1_000_000:  # dense checks below cover the small shapes; keep the suite quick
        return
    # dense() is the forward on the identity and equals the reference's materialisation
    M = P.dense()
    torch.testing.assert_close(M, P.forward_reference(torch.eye(d)).T.contiguous(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(P(th.float()), th.float() @ M.T, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("D,d", SHAPES)
def test_gradient_is_transpose_product(D: int, d: int, chunk: int) -> None:
    P = FastfoodProjection(D, d, seed=5)
    th = torch.randn(4, d, dtype=torch.float64, requires_grad=True)
    g = torch.randn(4, D, dtype=torch.float64)
    (fast,) = torch.autograd.grad(P(th), th, g)
    (ref,) = torch.autograd.grad(P.forward_reference(th), th, g)
    torch.testing.assert_close(fast, ref)
    if D * d <= 1_000_000:
        torch.testing.assert_close(fast.float(), g.float() @ P.dense(), rtol=1e-4, atol=1e-5)
    # single θ
    t1 = th[0].detach().requires_grad_()
    (g1,) = torch.autograd.grad(P(t1), t1, g[0])
    torch.testing.assert_close(g1, ref[0])


def test_gradcheck_and_double_backward() -> None:
    P = FastfoodProjection(40, 6, seed=1)
    th = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(P, (th,))
    assert torch.autograd.gradgradcheck(P, (th,))


def test_float32_matches_reference_and_dtype_promotion() -> None:
    P = FastfoodProjection(3000, 100, seed=2)
    th = torch.randn(2, 100)
    torch.testing.assert_close(P(th), P.forward_reference(th), rtol=1e-4, atol=1e-6)
    assert P(th.half()).dtype == P.forward_reference(th.half()).dtype == torch.float32
    t = th.half().requires_grad_()
    P(t).sum().backward()
    assert t.grad.dtype == torch.float16


def test_vmap_and_empty_batch() -> None:
    P = FastfoodProjection(300, 20, seed=0)
    th = torch.randn(4, 3, 20)
    torch.testing.assert_close(torch.vmap(P)(th), P(th))
    torch.testing.assert_close(torch.vmap(P, in_dims=1)(th), P(th.transpose(0, 1)))
    assert P(torch.zeros(0, 20)).shape == (0, 300)


def test_structure_memory_and_identity_of_P() -> None:
    """What P holds (every tensor reachable from it, measured) is ≤ 2·D floats, is what it reports, and
    stays so through the fast path's forward and backward; P is the reference's P."""
    from memory_check import held_bytes

    D = 1_700_000
    for d in (1000, 6000):
        P = FastfoodProjection(D, d, seed=0)
        held = held_bytes(P)
        assert held == P.structure_bytes() and held <= 2 * 4 * D
        th = torch.randn(2, d, requires_grad=True)
        P(th).sum().backward()
        assert held_bytes(P) == held  # nothing cached on P by the fast path
    P = FastfoodProjection(5000, 300, seed=11)
    Q = FastfoodProjection(5000, 300, seed=11)
    assert torch.equal(P.dense(), Q.dense())
    norms = P.dense().norm(dim=0)
    assert torch.all((norms - 1).abs() < 0.05)


def test_small_path_equals_function_path_forward_gradient_double_backward() -> None:
    """Small structures use plain autograd ops; larger inputs the custom Function: same P, same Pᵀ."""
    P = FastfoodProjection(300, 37, seed=4)  # k·n = 320: converted structure, small path for one θ
    assert P._converted
    th = torch.randn(3, 37, dtype=torch.float64, requires_grad=True)
    g = torch.randn(3, 300, dtype=torch.float64)
    small = P(th)
    assert small.grad_fn is not None and "Fastfood" not in type(small.grad_fn).__name__
    via_fn = ff._Fastfood.apply(th, P.B, P.Pi, P.G, P.D)
    torch.testing.assert_close(small, via_fn)
    torch.testing.assert_close(torch.autograd.grad(small, th, g)[0], torch.autograd.grad(via_fn, th, g)[0])
    torch.testing.assert_close(small, P.forward_reference(th))
    # The Function path (also under the converted dtypes), double backward included.
    assert torch.autograd.gradgradcheck(lambda t: ff._Fastfood.apply(t, P.B_float, P.Pi_long, P.G, P.D), (th,))
    assert torch.autograd.gradgradcheck(P, (th,))


def test_population_takes_the_function_path() -> None:
    P = FastfoodProjection(3000, 100, seed=1)  # 24 blocks of 128: converted, but
    th = torch.randn(64, 100, requires_grad=True)  # 64 · 24 · 128 values > CHUNK_ELEMENTS
    assert P._converted and th.numel() * P.blocks > ff.CHUNK_ELEMENTS
    y = P(th)
    assert "Fastfood" in type(y.grad_fn).__name__
    torch.testing.assert_close(y, P.forward_reference(th), rtol=1e-4, atol=1e-6)


def test_converted_structure_is_not_saved_and_moves_with_the_module() -> None:
    P = FastfoodProjection(300, 37, seed=4)
    assert set(P.state_dict()) == {"B", "Pi", "G"}
    assert P.B_float.dtype == torch.float32 and P.Pi_long.dtype == torch.int64
    torch.testing.assert_close(P.B_float, P.B.float())
    assert torch.equal(P.Pi_long, P.Pi.long())
    Q = P.double()  # buffers follow module conversions like the others
    assert Q.B_float.dtype == torch.float64
    big = FastfoodProjection(1_700_000, 1000, seed=0)
    assert not big._converted and not hasattr(big, "B_float")


def test_product_function_uses_torch_path_under_transforms(monkeypatch) -> None:
    """ProductFunction.apply skips torch's argument binding only outside torch.func transforms."""
    monkeypatch.setattr(ff, "CHUNK_ELEMENTS", 64)  # not converted: every call takes the Function
    P = FastfoodProjection(3000, 100, seed=1)
    assert not P._converted
    th = torch.randn(64, 100)
    eager = P(th)
    assert "Fastfood" in type(P(th.requires_grad_()).grad_fn).__name__
    th = th.detach()
    torch.testing.assert_close(torch.vmap(P)(th), eager)
    grads = torch.func.vmap(torch.func.grad(lambda t: P(t).square().sum()))(th)
    ref = torch.autograd.grad(P.forward_reference(th.requires_grad_()).square().sum(), th)[0]
    torch.testing.assert_close(grads, ref, rtol=1e-4, atol=1e-5)


def test_chunks_are_cache_sized_on_cpu_and_whole_on_accelerators() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert ff.chunk_elements(cpu) == ff.CHUNK_ELEMENTS
    # pop 64 at D = 1.7M, d = 6000 (n = 8192, k = 208): CPU blocks it, a GPU runs it in one pass
    assert ff._chunk_steps(64, 208, 8192, cpu) == (16, 1)
    r_step, c_step = ff._chunk_steps(64, 208, 8192, cuda)
    assert r_step == 64 and c_step >= 64 and 64 * c_step * 8192 <= ff.ACCELERATOR_CHUNK_ELEMENTS
