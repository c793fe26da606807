"""Policy networks: the JSON-able spec, the action heads and the network families that build them.

The spec (``PolicySpec``) is what a solution file records: together with the seed it rebuilds θ_0
exactly. Action heads map the network's raw output to an environment action: discrete spaces take
the argmax of the logits; Box spaces take tanh scaled to the bounds.

Families (``FAMILIES``, chosen by ``PolicySpec.family``):

* ``"mlp"``: Flatten → [Linear → activation]* → Linear(out).
* ``"cnn"``: the Nature-DQN ConvNet (Mnih et al. 2015): conv 32×8×8/4 → conv 64×4×4/2 → conv 64×3×3/1
  → Linear 512 → Linear(out), ReLU throughout; with a [4, 84, 84] input and 6 actions it has 1,687,206
  parameters. Images smaller than the Nature stack can take get a small stack instead.
* ``"vbn_cnn"``: the ES Atari policy of Salimans et al. (2017) as used for Li et al.'s (2018) Pong:
  SAME-padded convs 16×8×8/4 → 32×4×4/2 → Linear 256 → Linear(out), each hidden layer followed by
  *virtual batch norm* (statistics of a fixed reference batch of observations) and ReLU; 1,005,974
  parameters for [4, 84, 84] and 6 actions. See [`rlsub.policies.vbn.VBNConvNet`][rlsub.policies.vbn.VBNConvNet].

Image inputs may be uint8 or float, channels-first ``[..., C, H, W]`` (Atari frame stacks),
channels-last ``[..., H, W, C]`` or plain ``[..., H, W]``; the layout is recorded in
``PolicySpec.options`` so a solution file rebuilds the same network. Scaling to [0, 1] happens inside
the network, so the evaluator may ship raw uint8 frames to the device (4× less traffic than float32).

This module is the home of the spec, the MLP and CNN families and the family registry; virtual batch
norm lives in [`vbn`][rlsub.policies.vbn] and the image-layout helpers in [`images`][rlsub.policies.images] (both re-exported here).
[`rlsub.policies.networks`][rlsub.policies.networks] re-exports the spec names from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlsub.errors import ConfigError
from rlsub.kernels.mlp_forward import tanh32
from rlsub.policies.images import chw, image_layout
from rlsub.policies.vbn import ES_ATARI_CONVS, ES_ATARI_HIDDEN, VBN_EPS, VBNConvNet
from rlsub.utils.seeding import derive_seed

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


@dataclass(frozen=True)
class ActionSpec:
    """What the policy must output: ``discrete`` (n logits) or ``box`` (tanh-squashed vector)."""

    kind: str
    n: int = 0
    shape: tuple[int, ...] = ()
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    @classmethod
    def from_space(cls, space: gym.Space) -> ActionSpec:
        if isinstance(space, gym.spaces.Discrete):
            return cls("discrete", n=int(space.n))
        if isinstance(space, gym.spaces.Box):
            if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
                raise ConfigError(
                    f"action space {space} is unbounded; wrap the env with "
                    "rlsub.envs.plugin:BoundAction to give it finite bounds"
                )
            return cls(
                "box",
                shape=tuple(space.shape),
                low=tuple(float(v) for v in space.low.flatten()),
                high=tuple(float(v) for v in space.high.flatten()),
            )
        raise ConfigError(
            f"unsupported action space {space}: rlsub handles Discrete and Box actions; "
            "wrap MultiDiscrete/MultiBinary/Tuple/Dict spaces in a wrapper that maps them to one"
        )

    @property
    def out_dim(self) -> int:
        return self.n if self.kind == "discrete" else int(np.prod(self.shape))

    @cached_property
    def _bounds32(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high - low) in float32, for numpy outputs."""
        low = np.asarray(self.low, dtype=np.float32)
        return low, np.asarray(self.high, dtype=np.float32) - low

    def to_env(self, out: torch.Tensor | np.ndarray) -> np.ndarray:
        """Map raw network outputs ``[N, out_dim]`` to a batch of env actions (argmax, or tanh scaled
        to the bounds), for torch outputs (the whole-batch paths) and numpy ones (the scheduled rollout)."""
        if self.kind == "discrete":
            idx = out.argmax(-1)
            return idx if isinstance(idx, np.ndarray) else idx.cpu().numpy()
        # Two tanhs because the stored results need them: numpy outputs take rlsub's tanh32 (the
        # scheduled path's own, CPU-independent), torch outputs torch.tanh (the whole-batch paths').
        if isinstance(out, np.ndarray):
            low, span = self._bounds32
            squashed = tanh32(out)
        else:
            low = torch.tensor(self.low, dtype=out.dtype, device=out.device)
            span = torch.tensor(self.high, dtype=out.dtype, device=out.device) - low
            squashed = torch.tanh(out)
        act = (low + (squashed + 1.0) * 0.5 * span).reshape(out.shape[0], *self.shape)
        return act if isinstance(act, np.ndarray) else act.cpu().numpy()


@dataclass(frozen=True)
class PolicySpec:
    """Architecture of a policy network; ``build(seed)`` gives the same θ_0 in any process.

    Example:
        >>> spec = PolicySpec(obs_shape=(4,), action=ActionSpec("discrete", n=2), hidden=(64, 64))
        >>> net = spec.build(seed=0)
    """

    obs_shape: tuple[int, ...]
    action: ActionSpec
    family: str = "mlp"
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    options: dict[str, Any] = field(default_factory=dict)

    def build(self, seed: int) -> nn.Module:
        """Instantiate the network with torch's default init, seeded from ``seed`` only."""
        try:
            builder = FAMILIES[self.family]
        except KeyError:
            raise ConfigError(
                f"unknown policy family {self.family!r}; choose one of {', '.join(FAMILIES)}"
            ) from None
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )
        # fork_rng keeps the caller's global RNG untouched: θ_0 depends on `seed` alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "theta0"))
            return builder(self, self.action.out_dim)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicySpec:
        try:
            a = data["action"]
            action = ActionSpec(
                kind=a["kind"],
                n=int(a.get("n", 0)),
                shape=tuple(a.get("shape", ())),
                low=tuple(a.get("low", ())),
                high=tuple(a.get("high", ())),
            )
            return cls(
                obs_shape=tuple(data["obs_shape"]),
                action=action,
                family=data.get("family", "mlp"),
                hidden=tuple(data.get("hidden", (64, 64))),
                activation=data.get("activation", "tanh"),
                options=dict(data.get("options", {})),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"malformed policy spec: {e!r}") from None


#: ``PolicySpec.options["init"]`` values of the MLP family.
MLP_INITS = ("torch", "he_normal", "zeros")


def he_normal_(layer: nn.Linear) -> None:
    """Keras 2.0/2.1's ``he_normal`` (what Li et al.'s official code builds with): kernel from a normal
    of std sqrt(2 / fan_in) truncated at two std, bias zero."""
    std = float(np.sqrt(2.0 / layer.in_features))
    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def check_mlp_init(spec: PolicySpec) -> str:
    """``spec``'s MLP init, or a ConfigError naming what is wrong with it."""
    init = spec.options.get("init", "torch")
    if init not in MLP_INITS:
        raise ConfigError(f"unknown MLP init {init!r}; choose one of {', '.join(MLP_INITS)}")
    if init == "zeros" and spec.hidden:
        # Hidden units that start equal and a zero output layer: every gradient but the output
        # bias's is zero, and ES/ARS would start from a symmetric point; θ_0 = 0 is for obs -> act.
        raise ConfigError("init 'zeros' is for the linear policy (hidden = [] / --hidden none), "
                          f"not hidden layers {list(spec.hidden)}")
    return init


def build_mlp(spec: PolicySpec, out_dim: int) -> nn.Module:
    """Flatten → [Linear → activation]* → Linear(out_dim); ``spec.options["init"]``: ``torch``
    (default, torch's own init), ``he_normal``, or ``zeros`` (the linear policy only: θ_0 = 0, the ARS
    paper's start, so θ_D = Pθ_d)."""
    init = check_mlp_init(spec)
    act = ACTIVATIONS[spec.activation]
    sizes = [int(np.prod(spec.obs_shape)), *spec.hidden]
    layers: list[nn.Module] = [nn.Flatten(start_dim=-len(spec.obs_shape))] if len(spec.obs_shape) > 1 else []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    layers.append(nn.Linear(sizes[-1], out_dim))
    for layer in layers:
        if isinstance(layer, nn.Linear) and init == "he_normal":
            he_normal_(layer)
        elif isinstance(layer, nn.Linear) and init == "zeros":
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)



# -- cnn ------------------------------------------------------------------------------------------
#: Nature-DQN conv stack as (out_channels, kernel, stride).
NATURE_CONVS: tuple[tuple[int, int, int], ...] = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
#: For images too small for the Nature stack (e.g. MinAtar's 10×10).
SMALL_CONVS: tuple[tuple[int, int, int], ...] = ((16, 3, 1),)
NATURE_HIDDEN: tuple[int, ...] = (512,)

def _conv_out(size: int, convs: Sequence[Sequence[int]]) -> int:
    for _, k, s in convs:
        size = (size - k) // s + 1
    return size


def default_convs(height: int, width: int) -> tuple[tuple[int, int, int], ...]:
    """The Nature stack when the image is large enough (≥ 36×36), else a single 3×3 conv."""
    if min(_conv_out(height, NATURE_CONVS), _conv_out(width, NATURE_CONVS)) >= 1:
        return NATURE_CONVS
    return SMALL_CONVS


def _image_layout(family: str, obs_shape: Sequence[int], dtype: Any, layout: str | None) -> str:
    """``layout``, else the one detected from the observation; ConfigError when it is no image."""
    layout = layout or image_layout(obs_shape, dtype)
    if layout is None:
        raise ConfigError(
            f"{family}: observation shape {tuple(obs_shape)} ({np.dtype(dtype)}) is not an image "
            "(expected uint8 HxW, HxWxC or CxHxW); use the mlp family"
        )
    return layout


def cnn_spec(obs_shape: Sequence[int], dtype: Any, action, hidden: tuple[int, ...] | None = None,
             activation: str = "relu", layout: str | None = None) -> PolicySpec:
    """A ``family="cnn"`` PolicySpec for an image observation (layout detected when not given)."""
    layout = _image_layout("cnn", obs_shape, dtype, layout)
    _, h, w = chw(obs_shape, layout)
    convs = default_convs(h, w)
    return PolicySpec(
        obs_shape=tuple(int(s) for s in obs_shape),
        action=action,
        family="cnn",
        hidden=tuple(hidden) if hidden is not None else NATURE_HIDDEN,
        activation=activation,
        options={"layout": layout, "convs": [list(c) for c in convs], "scale": 1.0 / 255.0},
    )


class ConvNet(nn.Module):
    """Conv stack → flatten → MLP head; accepts any leading batch dims and uint8 or float input."""

    def __init__(self, obs_shape: Sequence[int], layout: str, convs: Sequence[Sequence[int]],
                 hidden: Sequence[int], activation: str, out_dim: int, scale: float) -> None:
        super().__init__()
        c, h, w = chw(obs_shape, layout)
        self.layout = layout
        self.scale = float(scale)
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        for out_c, k, s in convs:
            layers += [nn.Conv2d(c, int(out_c), int(k), int(s)), act()]
            c = int(out_c)
        self.conv = nn.Sequential(*layers)
        oh, ow = _conv_out(h, convs), _conv_out(w, convs)
        if oh < 1 or ow < 1:
            raise ConfigError(f"cnn: image {h}x{w} is too small for conv layers {list(map(list, convs))}")
        sizes = [c * oh * ow, *hidden]
        head: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            head += [nn.Linear(a, b), act()]
        head.append(nn.Linear(sizes[-1], out_dim))
        self.head = nn.Sequential(*head)
        self._ndim = 2 if layout == "hw" else 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[: x.dim() - self._ndim]
        x = x.reshape(-1, *x.shape[x.dim() - self._ndim :])
        if self.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        elif self.layout == "hw":
            x = x.unsqueeze(1)
        # Scale here (not in the env) so uint8 frames travel to the device as uint8.
        x = x.to(torch.float32) * self.scale
        x = self.conv(x).flatten(1)
        return self.head(x).reshape(*lead, -1)


def build_cnn(spec: PolicySpec, out_dim: int) -> nn.Module:
    """``FAMILIES["cnn"]``: a ConvNet from ``spec.options`` (layout, convs, scale)."""
    opts = spec.options
    layout = opts.get("layout") or image_layout(spec.obs_shape, np.uint8)
    if layout is None:
        raise ConfigError(f"cnn: cannot read observation shape {spec.obs_shape} as an image; set options.layout")
    convs = opts.get("convs") or default_convs(*chw(spec.obs_shape, layout)[1:])
    return ConvNet(
        spec.obs_shape,
        layout,
        [tuple(int(v) for v in c) for c in convs],
        spec.hidden,
        spec.activation,
        out_dim,
        float(opts.get("scale", 1.0 / 255.0)),
    )


# -- vbn_cnn: the ES Atari policy with virtual batch norm (rlsub.policies.vbn) -----------------------------
def vbn_cnn_spec(obs_shape: Sequence[int], dtype: Any, action: ActionSpec, hidden: tuple[int, ...] | None = None,
                 activation: str = "relu", layout: str | None = None,
                 convs: Sequence[Sequence[int]] = ES_ATARI_CONVS, padding: str = "same") -> PolicySpec:
    """A ``family="vbn_cnn"`` PolicySpec with every option recorded (the ES Atari policy by default)."""
    layout = _image_layout("vbn_cnn", obs_shape, dtype, layout)
    return PolicySpec(
        obs_shape=tuple(int(s) for s in obs_shape),
        action=action,
        family="vbn_cnn",
        hidden=tuple(hidden) if hidden is not None else ES_ATARI_HIDDEN,
        activation=activation,
        options={"layout": layout, "convs": [list(c) for c in convs], "padding": padding,
                 "scale": 1.0 / 255.0, "eps": VBN_EPS},
    )


def build_vbn_cnn(spec: PolicySpec, out_dim: int) -> nn.Module:
    """``FAMILIES["vbn_cnn"]``: a VBNConvNet from ``spec.options``; absent options take the ES Atari values
    (layout detected, convs 16×8×8/4 → 32×4×4/2, SAME padding, scale 1/255, eps 1e-3)."""
    opts = spec.options
    layout = opts.get("layout") or image_layout(spec.obs_shape, np.uint8)
    if layout is None:
        raise ConfigError(f"vbn_cnn: cannot read observation shape {spec.obs_shape} as an image; set options.layout")
    return VBNConvNet(
        spec.obs_shape,
        layout,
        [tuple(int(v) for v in c) for c in (opts.get("convs") or ES_ATARI_CONVS)],
        str(opts.get("padding", "same")),
        spec.hidden,
        ACTIVATIONS[spec.activation],
        out_dim,
        float(opts.get("scale", 1.0 / 255.0)),
        float(opts.get("eps", VBN_EPS)),
    )


#: Network families by name: ``builder(spec, out_dim) -> nn.Module``. New families register here.
FAMILIES: dict[str, Callable[[PolicySpec, int], nn.Module]] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "vbn_cnn": build_vbn_cnn,
}

__all__ = [
    "ACTIVATIONS", "FAMILIES", "NATURE_CONVS", "NATURE_HIDDEN", "SMALL_CONVS",
    "ActionSpec", "ConvNet", "PolicySpec", "build_cnn", "build_mlp",
    "build_vbn_cnn", "cnn_spec", "default_convs", "vbn_cnn_spec",
]
