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
  parameters for [4, 84, 84] and 6 actions. See ``VBNConvNet``.

Image inputs may be uint8 or float, channels-first ``[..., C, H, W]`` (Atari frame stacks),
channels-last ``[..., H, W, C]`` or plain ``[..., H, W]``; the layout is recorded in
``PolicySpec.options`` so a solution file rebuilds the same network. Scaling to [0, 1] happens inside
the network, so the evaluator may ship raw uint8 frames to the device (4× less traffic than float32).

This module is the single home of these pieces; ``rlsub.policies`` re-exports the spec names from
here (it used to define them, and the two modules imported each other).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rlsub.errors import ConfigError
from rlsub.seeding import derive_seed

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

    def to_env(self, out: torch.Tensor) -> np.ndarray:
        """Map raw network outputs ``[N, out_dim]`` to a batch of env actions."""
        if self.kind == "discrete":
            return out.argmax(dim=-1).cpu().numpy()
        low = torch.tensor(self.low, dtype=out.dtype, device=out.device)
        high = torch.tensor(self.high, dtype=out.dtype, device=out.device)
        act = low + (torch.tanh(out) + 1.0) * 0.5 * (high - low)
        return act.reshape(out.shape[0], *self.shape).cpu().numpy()


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
MLP_INITS = ("torch", "he_normal")


def he_normal_(layer: nn.Linear) -> None:
    """Keras 2.0/2.1's ``he_normal`` (what Li et al.'s official code builds with): kernel from a normal
    of std sqrt(2 / fan_in) truncated at two std, bias zero."""
    std = float(np.sqrt(2.0 / layer.in_features))
    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def build_mlp(spec: PolicySpec, out_dim: int) -> nn.Module:
    """Flatten → [Linear → activation]* → Linear(out_dim); ``spec.options["init"]``: ``torch``
    (default, torch's own init) or ``he_normal``."""
    init = spec.options.get("init", "torch")
    if init not in MLP_INITS:
        raise ConfigError(f"unknown MLP init {init!r}; choose one of {', '.join(MLP_INITS)}")
    act = ACTIVATIONS[spec.activation]
    sizes = [int(np.prod(spec.obs_shape)), *spec.hidden]
    layers: list[nn.Module] = [nn.Flatten(start_dim=-len(spec.obs_shape))] if len(spec.obs_shape) > 1 else []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    layers.append(nn.Linear(sizes[-1], out_dim))
    if init == "he_normal":
        for layer in layers:
            if isinstance(layer, nn.Linear):
                he_normal_(layer)
    return nn.Sequential(*layers)



# -- cnn ------------------------------------------------------------------------------------------
#: Nature-DQN conv stack as (out_channels, kernel, stride).
NATURE_CONVS: tuple[tuple[int, int, int], ...] = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
#: For images too small for the Nature stack (e.g. MinAtar's 10×10).
SMALL_CONVS: tuple[tuple[int, int, int], ...] = ((16, 3, 1),)
NATURE_HIDDEN: tuple[int, ...] = (512,)

#: Largest leading/trailing dim still read as a channel axis (frame stacks, RGB(A), a few planes).
_MAX_CHANNELS = 16


def image_layout(shape: Sequence[int], dtype: Any) -> str | None:
    """``"chw"``, ``"hwc"`` or ``"hw"`` when a Box of this shape/dtype is an image, else None.

    Only uint8 Boxes count as images (float 3-D arrays are usually not pixels). When both ends
    could be channels, channels-first wins: that is what frame stacks (Atari) produce.
    """
    if np.dtype(dtype) != np.uint8:
        return None
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return "hw" if min(shape) >= 8 else None
    if len(shape) != 3:
        return None
    first, last = shape[0], shape[-1]
    if first <= _MAX_CHANNELS and min(shape[1:]) >= 8:
        return "chw"
    if last <= _MAX_CHANNELS and min(shape[:2]) >= 8:
        return "hwc"
    return None


def _chw(shape: Sequence[int], layout: str) -> tuple[int, int, int]:
    if layout == "chw":
        c, h, w = shape
    elif layout == "hwc":
        h, w, c = shape
    elif layout == "hw":
        (h, w), c = shape, 1
    else:
        raise ConfigError(f"cnn: unknown image layout {layout!r}; use chw, hwc or hw")
    return int(c), int(h), int(w)


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
    _, h, w = _chw(obs_shape, layout)
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
        c, h, w = _chw(obs_shape, layout)
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
    convs = opts.get("convs") or default_convs(*_chw(spec.obs_shape, layout)[1:])
    return ConvNet(
        spec.obs_shape,
        layout,
        [tuple(int(v) for v in c) for c in convs],
        spec.hidden,
        spec.activation,
        out_dim,
        float(opts.get("scale", 1.0 / 255.0)),
    )


# -- vbn_cnn: the ES Atari policy with virtual batch norm ------------------------------------------
#: Conv stack of the ES Atari policy (Salimans et al. 2017; Li et al. 2018's Pong) as (out, kernel, stride).
ES_ATARI_CONVS: tuple[tuple[int, int, int], ...] = ((16, 8, 4), (32, 4, 2))
ES_ATARI_HIDDEN: tuple[int, ...] = (256,)
#: TF's ``batch_norm`` epsilon in that policy.
VBN_EPS = 1e-3


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis: (before, after), the extra pixel going after.

    The output has ``ceil(size / stride)`` positions; e.g. 84 → 21 for 8×8/4 (pads 2, 2) and
    21 → 11 for 4×4/2 (pads 1, 2).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class VirtualBatchNorm(nn.Module):
    """Batch norm whose statistics come from a reference batch, never from running buffers.

    ``stats(ref)`` gives the per-feature mean and (biased) variance of the reference activations;
    ``normalize(h, mean, var)`` applies them with the learned affine ``weight``/``bias``. Nothing is
    mutated during a forward, so the layer is a pure function of (parameters, inputs, reference):
    it works under ``torch.func.functional_call`` and ``vmap`` over a population, each member
    normalising with the statistics its own parameters produce on the same reference batch.
    """

    def __init__(self, num_features: int, eps: float = VBN_EPS) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(self.num_features))
        self.bias = nn.Parameter(torch.zeros(self.num_features))

    @staticmethod
    def _dims(h: torch.Tensor) -> list[int]:
        # Feature axis is 1 ([N, C, H, W] or [N, F]); statistics pool over everything else.
        return [0, *range(2, h.dim())]

    def stats(self, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and biased variance per feature of the reference activations ``ref`` ([R, C, ...])."""
        dims = self._dims(ref)
        return ref.mean(dim=dims), ref.var(dim=dims, correction=0)

    def normalize(self, h: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (h.dim() - 2)
        scale = (self.weight * torch.rsqrt(var + self.eps)).reshape(shape)
        return (h - mean.reshape(shape)) * scale + self.bias.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


class VBNConvNet(nn.Module):
    """SAME-padded conv stack → MLP, each hidden layer followed by virtual batch norm and the activation.

    The reference batch (``set_reference``) is a fixed set of observations, stored as a buffer (so it is
    not part of D and not touched by the projection). Salimans et al. (2017) collect 128 frames with
    uniformly random actions once per run (``rlsub.envs.li2018.reference_batch`` does the same, seeded);
    the batch must be set before the first forward, and a replay must set the same one.

    ``forward(x)`` runs the reference frames through the network together with ``x`` and normalises
    every layer with the reference part's statistics (the outputs for ``x`` do not depend on what
    else is in ``x``). That costs R extra frames per call; to pay it once per parameter vector
    instead, compute ``stats = net(None)`` (a flat ``[2·Σ features]`` tensor, differentiable and
    vmappable) and call ``net(x, stats)`` for every step.
    """

    def __init__(self, obs_shape: Sequence[int], layout: str, convs: Sequence[Sequence[int]], padding: str,
                 hidden: Sequence[int], activation: str, out_dim: int, scale: float, eps: float = VBN_EPS) -> None:
        super().__init__()
        if padding not in ("same", "valid"):
            raise ConfigError(f"vbn_cnn: padding must be 'same' or 'valid', got {padding!r}")
        c, h, w = _chw(obs_shape, layout)
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.layout = layout
        self.scale = float(scale)
        self.act = ACTIVATIONS[activation]()
        self.convs = nn.ModuleList()
        self.conv_norms = nn.ModuleList()
        self.pads: list[tuple[int, int, int, int]] = []
        for out_c, k, s in ((int(a), int(b), int(cc)) for a, b, cc in convs):
            if padding == "same":
                (pt, pb), (pl, pr) = same_padding(h, k, s), same_padding(w, k, s)
            else:
                pt = pb = pl = pr = 0
            self.pads.append((pl, pr, pt, pb))
            h, w = (h + pt + pb - k) // s + 1, (w + pl + pr - k) // s + 1
            if h < 1 or w < 1:
                raise ConfigError(f"vbn_cnn: image {obs_shape} is too small for conv layers {list(map(list, convs))}")
            self.convs.append(nn.Conv2d(c, out_c, k, s))
            self.conv_norms.append(VirtualBatchNorm(out_c, eps))
            c = out_c
        sizes = [c * h * w, *(int(v) for v in hidden)]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.fc_norms = nn.ModuleList(VirtualBatchNorm(b, eps) for b in sizes[1:])
        self.out = nn.Linear(sizes[-1], out_dim)
        self._norm_sizes = [n.num_features for n in (*self.conv_norms, *self.fc_norms)]
        self._ndim = 2 if layout == "hw" else 3
        self.register_buffer("reference", torch.zeros((0, *self.obs_shape), dtype=torch.uint8))

    # -- reference batch ------------------------------------------------------------------------
    def set_reference(self, obs: torch.Tensor | np.ndarray) -> None:
        """Fix the reference batch: ``[R, *obs_shape]`` observations (R >= 2), any dtype the input takes."""
        ref = torch.as_tensor(np.asarray(obs) if not isinstance(obs, torch.Tensor) else obs)
        if ref.dim() != len(self.obs_shape) + 1 or tuple(ref.shape[1:]) != self.obs_shape or ref.shape[0] < 2:
            raise ConfigError(f"vbn_cnn: reference batch must be [R >= 2, {', '.join(map(str, self.obs_shape))}], "
                              f"got {tuple(ref.shape)}")
        self.reference = ref.to(self.reference.device).clone()

    @property
    def stats_size(self) -> int:
        """Length of the flat statistics tensor ``net(None)`` returns (means then variances per layer)."""
        return 2 * sum(self._norm_sizes)

    # -- forward --------------------------------------------------------------------------------
    def _images(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, *x.shape[x.dim() - self._ndim:])
        if self.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        elif self.layout == "hw":
            x = x.unsqueeze(1)
        return x.to(torch.float32) * self.scale

    def _layers(self):
        for conv, pad, norm in zip(self.convs, self.pads, self.conv_norms):
            yield (lambda t, conv=conv, pad=pad: conv(F.pad(t, pad))), norm, False
        for i, (fc, norm) in enumerate(zip(self.fcs, self.fc_norms)):
            yield fc, norm, i == 0

    def _run(self, h: torch.Tensor, n_ref: int, stats: list[tuple[torch.Tensor, torch.Tensor]] | None):
        """Hidden layers on ``h`` (its first ``n_ref`` rows the reference); returns (features, stats used)."""
        used = []
        for i, (layer, norm, flatten_first) in enumerate(self._layers()):
            if flatten_first:
                h = h.flatten(1)
            h = layer(h)
            mean, var = stats[i] if stats is not None else norm.stats(h[:n_ref])
            used.append((mean, var))
            h = self.act(norm.normalize(h, mean, var))
        return h, used

    def _split_stats(self, flat: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if flat.shape[-1] != self.stats_size:
            raise ConfigError(f"vbn_cnn: statistics tensor has {flat.shape[-1]} values, expected {self.stats_size}")
        means, vars_ = flat.split([sum(self._norm_sizes)] * 2)
        return list(zip(means.split(self._norm_sizes), vars_.split(self._norm_sizes)))

    def forward(self, x: torch.Tensor | None, stats: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for ``x`` (any leading batch dims); ``x=None`` returns the flat reference statistics."""
        if stats is None and self.reference.shape[0] == 0:
            raise RuntimeError(
                "vbn_cnn: no reference batch set; call set_reference(obs) with fixed observations before the "
                "first forward (rlsub.envs.li2018.attach_reference does it for a task and seed)"
            )
        if x is None:
            _, used = self._run(self._images(self.reference), self.reference.shape[0], None)
            return torch.cat([torch.cat([m for m, _ in used]), torch.cat([v for _, v in used])])
        lead = x.shape[: x.dim() - self._ndim]
        h = self._images(x)
        if stats is not None:
            feats, _ = self._run(h, 0, self._split_stats(stats))
        else:
            n_ref = self.reference.shape[0]
            # One pass over [reference; x]: the reference rows set the statistics, x only reads them.
            feats, _ = self._run(torch.cat([self._images(self.reference), h]), n_ref, None)
            feats = feats[n_ref:]
        return self.out(feats).reshape(*lead, -1)


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
        spec.activation,
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
    "ACTIVATIONS", "ES_ATARI_CONVS", "ES_ATARI_HIDDEN", "FAMILIES", "NATURE_CONVS", "NATURE_HIDDEN", "SMALL_CONVS",
    "ActionSpec", "ConvNet", "PolicySpec", "VBNConvNet", "VirtualBatchNorm", "build_cnn", "build_mlp",
    "build_vbn_cnn", "cnn_spec", "default_convs", "image_layout", "same_padding", "vbn_cnn_spec",
]
