"""Subspace wrapper: θ_d = 0 ⇒ θ_0, gradient flow, population forward, deterministic θ_0."""

import pytest
import torch
from torch import nn

from rlsub.policies.networks import ActionSpec, PolicySpec
from rlsub.subspace import Subspace

KINDS = ["dense", "sparse", "fastfood"]


def make_net(seed=0):
    spec = PolicySpec(obs_shape=(4,), action=ActionSpec("discrete", n=3), hidden=(8, 8))
    return spec.build(seed)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_theta_reproduces_theta0(kind):
    net = make_net()
    x = torch.randn(6, 4)
    ref = net(x)
    sub = Subspace(net, d=5, projection=kind, seed=0)
    torch.testing.assert_close(sub(x), ref)
    assert torch.equal(sub.flat(), sub.theta_0)


@pytest.mark.parametrize("kind", KINDS)
def test_only_theta_d_is_trainable_and_gets_P_transpose_grad(kind):
    net = make_net()
    sub = Subspace(net, d=6, projection=kind, seed=1)
    assert [n for n, p in sub.named_parameters() if p.requires_grad] == ["theta_d"]
    with torch.no_grad():
        sub.theta_d.normal_(generator=torch.Generator().manual_seed(0))
    x = torch.randn(10, 4)
    sub(x).pow(2).sum().backward()
    # Reference: gradient wrt the flat θ of the module at the same point.
    flat = sub.flat().detach().requires_grad_(True)
    from torch.func import functional_call

    functional_call(net, sub.unflatten(flat), (x,)).pow(2).sum().backward()
    torch.testing.assert_close(sub.theta_d.grad, sub.projection.dense().T @ flat.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_population_forward_equals_per_member(kind):
    sub = Subspace(make_net(), d=4, projection=kind, seed=2)
    thetas = torch.randn(5, 4)
    x = torch.randn(5, 3, 4)
    out = sub.population_forward(sub.population_params(thetas), x)
    for i in range(5):
        torch.testing.assert_close(out[i], sub(x[i], theta_d=thetas[i]), rtol=1e-5, atol=1e-6)


def test_full_space_is_identity():
    net = make_net()
    sub = Subspace(net, d=None)
    assert sub.d == sub.D == sum(p.numel() for p in net.parameters())
    assert sub.projection_kind == "identity"
    delta = torch.randn(sub.D)
    torch.testing.assert_close(sub.flat(delta), sub.theta_0 + delta)


def test_policy_build_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = make_net(seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = make_net(seed=7)
    c = make_net(seed=8)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_wraps_arbitrary_module_unchanged():
    net = nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6, 2))
    x = torch.randn(4, 2, 8)
    ref = net(x)
    sub = Subspace(net, d=10, projection="fastfood", seed=0)
    torch.testing.assert_close(sub(x), ref)
    assert sub.compression == pytest.approx(sub.D / 10)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_fast_path_equals_functional_call_bit_for_bit(activation):
    """``Subspace.call`` runs plain MLPs without ``functional_call``: same outputs and θ_d gradients
    to the last bit (stored results must not change), image inputs through the Flatten too."""
    from torch.func import functional_call

    spec = PolicySpec(obs_shape=(2, 3, 3), action=ActionSpec("discrete", n=3), hidden=(8, 8), activation=activation)
    sub = Subspace(spec.build(0), d=5, projection="dense", seed=3)
    assert sub._mlp is not None
    with torch.no_grad():
        sub.theta_d.normal_(generator=torch.Generator().manual_seed(1))
    x = torch.randn(7, 2, 3, 3, generator=torch.Generator().manual_seed(2))
    grads = []
    for fast in (True, False):
        sub.theta_d.grad = None
        params = sub.params()
        out = sub.call(params, x) if fast else functional_call(sub.module, params, (x,))
        out.pow(2).sum().backward()
        grads.append((out.detach(), sub.theta_d.grad.clone()))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


def test_fast_path_only_for_plain_mlps():
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x):
            return self.lin(x) * 2

    assert Subspace(nn.Sequential(nn.Linear(4, 3), nn.Sigmoid()), d=2)._mlp is None
    sub = Subspace(Head(), d=2)
    assert sub._mlp is None
    x = torch.randn(3, 4)
    torch.testing.assert_close(sub(x), sub.module(x))
