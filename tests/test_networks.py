"""The "cnn" policy family: Nature-CNN shapes, input layouts/dtypes, spec round trip, subspace use."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlsub.errors import ConfigError
from rlsub.networks import NATURE_CONVS, SMALL_CONVS, cnn_spec, image_layout
from rlsub.policies import FAMILIES, ActionSpec, PolicySpec
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
