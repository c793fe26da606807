"""Policy families "cnn" and "vbn_cnn": shapes, input layouts/dtypes, spec round trip, subspace use; module layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlsub.errors import ConfigError
from rlsub.policies.images import image_layout
from rlsub.policies.networks import FAMILIES, NATURE_CONVS, SMALL_CONVS, ActionSpec, PolicySpec, cnn_spec, vbn_cnn_spec
from rlsub.policies.vbn import ES_ATARI_CONVS, VBNConvNet, VirtualBatchNorm, same_padding
from rlsub.subspace import Subspace

PONG_ACTION = ActionSpec("discrete", n=6)


def test_cnn_registered():
    assert "cnn" in FAMILIES and "mlp" in FAMILIES


def test_nature_cnn_parameter_count_and_head_shapes():
    spec = cnn_spec((4, 84, 84), np.uint8, PONG_ACTION)
    assert spec.family == "cnn" and spec.options["convs"] == [list(c) for c in NATURE_CONVS]
    net = spec.build(0)
    # 8,224 + 32,832 + 36,928 (convs) + 1,606,144 (3136→512) + 3,078 (512→6)
    assert sum(p.numel() for p in net.parameters()) == 1_687_206
    x = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    assert net(x).shape == (5, 6)
    assert net(x[0]).shape == (6,)  # no batch dim
    assert net(x.reshape(1, 5, 4, 84, 84)).shape == (1, 5, 6)  # extra leading dims


def test_uint8_and_float_inputs_agree():
    net = cnn_spec((4, 84, 84), np.uint8, PONG_ACTION).build(1)
    x = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    torch.testing.assert_close(net(x), net(x.float()))


def test_channels_last_layout_matches_channels_first():
    x = torch.randint(0, 256, (2, 3, 40, 48), dtype=torch.uint8)
    chw = cnn_spec((3, 40, 48), np.uint8, PONG_ACTION, layout="chw")
    hwc = cnn_spec((40, 48, 3), np.uint8, PONG_ACTION)
    assert hwc.options["layout"] == "hwc"
    # Same parameter shapes and seed → same θ_0, so only the input permutation differs.
    torch.testing.assert_close(chw.build(3)(x), hwc.build(3)(x.permute(0, 2, 3, 1)))


def test_box_action_head_and_small_images():
    spec = cnn_spec((10, 10, 4), np.uint8, ActionSpec("box", shape=(2,), low=(-1.0, -1.0), high=(1.0, 1.0)))
    assert spec.options["convs"] == [list(c) for c in SMALL_CONVS]
    with torch.no_grad():
        out = spec.build(0)(torch.zeros(7, 10, 10, 4, dtype=torch.uint8))
    assert out.shape == (7, 2)
    assert spec.action.to_env(out).shape == (7, 2)
    gray = cnn_spec((64, 64), np.uint8, PONG_ACTION)
    assert gray.options["layout"] == "hw"
    assert gray.build(0)(torch.zeros(2, 64, 64, dtype=torch.uint8)).shape == (2, 6)


def test_too_small_image_for_explicit_convs():
    spec = PolicySpec((4, 20, 20), PONG_ACTION, family="cnn", hidden=(8,), activation="relu",
                      options={"layout": "chw", "convs": [list(c) for c in NATURE_CONVS]})
    with pytest.raises(ConfigError, match="too small"):
        spec.build(0)


@pytest.mark.parametrize(
    "shape,dtype,expected",
    [
        ((4, 84, 84), np.uint8, "chw"),
        ((210, 160, 3), np.uint8, "hwc"),
        ((84, 84), np.uint8, "hw"),
        ((4, 84, 84), np.float32, None),
        ((8,), np.uint8, None),
        ((3, 4, 5, 6), np.uint8, None),
    ],
)
def test_image_layout(shape, dtype, expected):
    assert image_layout(shape, dtype) == expected


def test_non_image_spec_is_rejected():
    with pytest.raises(ConfigError, match="not an image"):
        cnn_spec((4,), np.float32, PONG_ACTION)


def test_spec_json_round_trip_rebuilds_theta0():
    spec = cnn_spec((4, 84, 84), np.uint8, PONG_ACTION)
    back = PolicySpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    a, b = spec.build(7), back.build(7)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("projection", ["fastfood", "sparse"])
def test_population_forward_in_subspace(projection):
    # A smaller image keeps this fast; the Nature stack still applies at 36x36.
    spec = cnn_spec((4, 36, 36), np.uint8, PONG_ACTION)
    sub = Subspace(spec.build(0), d=50, projection=projection, seed=0)
    thetas = torch.randn(3, 50, generator=torch.Generator().manual_seed(0))
    x = torch.randint(0, 256, (3, 2, 4, 36, 36), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = sub.population_forward(sub.population_params(thetas), x)
    assert out.shape == (3, 2, 6)
    for i in range(3):
        torch.testing.assert_close(out[i], sub(x[i], theta_d=thetas[i]), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cnn_on_cuda_matches_cpu():
    spec = cnn_spec((4, 84, 84), np.uint8, PONG_ACTION)
    sub = Subspace(spec.build(0), d=64, projection="fastfood", seed=0)
    thetas = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    x = torch.randint(0, 256, (2, 3, 4, 84, 84), dtype=torch.uint8)
    cpu = sub.population_forward(sub.population_params(thetas), x)
    gpu_sub = sub.to("cuda")
    gpu = gpu_sub.population_forward(gpu_sub.population_params(thetas.cuda()), x.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-3)


# -- module structure ------------------------------------------------------------------------------
def test_vbn_family_is_built_by_the_vbn_module():
    # The VBN network lives in rlsub.policies.vbn; the family table points at its builder (one place per name:
    # tests/test_layers.py forbids re-exports).
    import rlsub.policies.networks as networks
    import rlsub.policies.vbn as vbn

    assert FAMILIES["vbn_cnn"] is networks.build_vbn_cnn
    assert not hasattr(networks, "VirtualBatchNorm") and hasattr(vbn, "VirtualBatchNorm")


# -- action heads ---------------------------------------------------------------------------------
def test_action_head_maps_numpy_and_torch_outputs():
    """One mapping for both evaluation paths: numpy outputs (the scheduled rollout) squash with rlsub's
    tanh32, torch outputs (the whole-batch paths) with torch.tanh; the scaling is the same arithmetic."""
    from rlsub.kernels.mlp_forward import tanh32

    out = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32) * 3
    box = ActionSpec("box", shape=(2,), low=(-2.0, 0.0), high=(2.0, 0.5))
    low, high = np.float32([-2.0, 0.0]), np.float32([2.0, 0.5])
    got = box.to_env(out)
    assert got.dtype == np.float32 and got.shape == (7, 2)
    np.testing.assert_array_equal(got, low + (tanh32(out) + 1.0) * 0.5 * (high - low))
    t = torch.from_numpy(out)
    lo, hi = torch.from_numpy(low), torch.from_numpy(high)
    np.testing.assert_array_equal(box.to_env(t), (lo + (torch.tanh(t) + 1.0) * 0.5 * (hi - lo)).numpy())
    assert np.all((got >= low) & (got <= high))
    disc = ActionSpec("discrete", n=2)
    np.testing.assert_array_equal(disc.to_env(out), out.argmax(axis=1))
    np.testing.assert_array_equal(disc.to_env(t), out.argmax(axis=1))
    assert box == ActionSpec("box", shape=(2,), low=(-2.0, 0.0), high=(2.0, 0.5))  # the cached bounds are no field


# -- vbn_cnn: ES Atari policy with virtual batch norm -------------------------------------------------
def _frames(n, shape=(4, 84, 84), seed=0):
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_same_padding_matches_tensorflow():
    # TF SAME: out = ceil(in / stride), extra padding pixel after.
    assert same_padding(84, 8, 4) == (2, 2)
    assert same_padding(21, 4, 2) == (1, 2)
    assert same_padding(10, 3, 1) == (1, 1)
    assert same_padding(5, 1, 2) == (0, 0)


def test_es_atari_parameter_count_and_shapes():
    spec = vbn_cnn_spec((4, 84, 84), np.uint8, PONG_ACTION)
    assert spec.options["convs"] == [list(c) for c in ES_ATARI_CONVS] and spec.options["padding"] == "same"
    net = spec.build(0)
    # 4*64*16+16 + 16*16*32+32 + 11*11*32*256+256 + 256*6+6 + BN affine 2*(16+32+256)
    assert sum(p.numel() for p in net.parameters()) == 1_005_974
    # the reference batch is a buffer, never a parameter: it is not part of D
    net.set_reference(_frames(8))
    assert sum(p.numel() for p in net.parameters()) == 1_005_974
    x = _frames(5, seed=1)
    with torch.no_grad():
        assert net(x).shape == (5, 6)
        assert net(x[0]).shape == (6,)
        assert net(x.reshape(1, 5, 4, 84, 84)).shape == (1, 5, 6)
    # defaults in the builder equal the recorded options (a bare family="vbn_cnn" spec, as EnvTask builds it)
    bare = PolicySpec((4, 84, 84), PONG_ACTION, family="vbn_cnn", hidden=(256,), activation="relu").build(0)
    for p, q in zip(net.parameters(), bare.parameters()):
        assert torch.equal(p, q)


def test_vbn_uses_reference_statistics_only():
    net = vbn_cnn_spec((4, 36, 36), np.uint8, PONG_ACTION).build(2)
    net.set_reference(_frames(6, (4, 36, 36)))
    x = _frames(4, (4, 36, 36), seed=3)
    with torch.no_grad():
        full = net(x)
        # an input's output does not depend on the rest of its batch (unlike training-mode batch norm)
        for i in range(4):
            torch.testing.assert_close(net(x[i : i + 1]), full[i : i + 1], rtol=1e-5, atol=1e-6)
        # the statistics path gives the same outputs
        stats = net(None)
        assert stats.shape == (net.stats_size,) == (2 * (16 + 32 + 256),)
        torch.testing.assert_close(net(x, stats), full, rtol=1e-5, atol=1e-6)
        # a different reference batch changes the outputs
        net.set_reference(_frames(6, (4, 36, 36), seed=9))
        assert not torch.allclose(net(x), full)


def test_vbn_layer_normalises_reference_to_affine():
    bn = VirtualBatchNorm(3, eps=0.0)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        bn.bias.copy_(torch.tensor([0.0, -1.0, 5.0]))
    ref = torch.randn(64, 3, 5, 5, generator=torch.Generator().manual_seed(0)) * 4 + 7
    out = bn.normalize(ref, *bn.stats(ref))
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), bn.bias.detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3), correction=0), bn.weight.detach(), atol=1e-4, rtol=0)


def test_vbn_requires_a_reference_batch():
    net = vbn_cnn_spec((4, 36, 36), np.uint8, PONG_ACTION).build(0)
    with pytest.raises(RuntimeError, match="reference batch"):
        net(_frames(1, (4, 36, 36)))
    with pytest.raises(ConfigError, match="reference batch must be"):
        net.set_reference(_frames(4, (4, 40, 40)))


def test_vbn_population_forward_and_gradients():
    spec = vbn_cnn_spec((4, 36, 36), np.uint8, PONG_ACTION)
    net = spec.build(0)
    net.set_reference(_frames(5, (4, 36, 36), seed=4))
    sub = Subspace(net, d=20, projection="dense", seed=0)
    thetas = torch.randn(3, 20, generator=torch.Generator().manual_seed(0))
    x = _frames(6, (4, 36, 36), seed=5).reshape(3, 2, 4, 36, 36)
    out = sub.population_forward(sub.population_params(thetas), x)
    for i in range(3):
        torch.testing.assert_close(out[i], sub(x[i], theta_d=thetas[i]), rtol=1e-4, atol=1e-5)
    # gradients reach θ_d through the reference statistics too
    loss = sub(x[0]).square().sum()
    loss.backward()
    assert sub.theta_d.grad is not None and torch.isfinite(sub.theta_d.grad).all() and sub.theta_d.grad.abs().sum() > 0


def test_vbn_spec_round_trip_and_layouts():
    spec = vbn_cnn_spec((4, 84, 84), np.uint8, PONG_ACTION)
    back = PolicySpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    hwc = vbn_cnn_spec((36, 36, 4), np.uint8, PONG_ACTION)
    assert hwc.options["layout"] == "hwc"
    net = hwc.build(0)
    assert isinstance(net, VBNConvNet)
    net.set_reference(_frames(3, (4, 36, 36)).permute(0, 2, 3, 1))
    with torch.no_grad():
        assert net(_frames(2, (4, 36, 36)).permute(0, 2, 3, 1)).shape == (2, 6)
    with pytest.raises(ConfigError, match="padding"):
        PolicySpec((4, 36, 36), PONG_ACTION, family="vbn_cnn", hidden=(8,), activation="relu",
                   options={"padding": "full"}).build(0)
