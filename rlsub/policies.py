"""Policy networks described by a small JSON-able spec, built deterministically from a seed.

The spec is what a solution file records: together with the seed it rebuilds θ_0 exactly.
Action heads map the network's raw output to an environment action:
discrete spaces take the argmax of the logits; Box spaces take tanh scaled to the bounds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import nn

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


def build_mlp(spec: PolicySpec, out_dim: int) -> nn.Module:
    """Flatten → [Linear → activation]* → Linear(out_dim)."""
    act = ACTIVATIONS[spec.activation]
    sizes = [int(np.prod(spec.obs_shape)), *spec.hidden]
    layers: list[nn.Module] = [nn.Flatten(start_dim=-len(spec.obs_shape))] if len(spec.obs_shape) > 1 else []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    layers.append(nn.Linear(sizes[-1], out_dim))
    return nn.Sequential(*layers)


#: Network families by name. New families register here (e.g. a CNN for pixel observations).
FAMILIES: dict[str, Callable[[PolicySpec, int], nn.Module]] = {"mlp": build_mlp}

# Registers the "cnn" family (imported last: rlsub.networks needs FAMILIES defined above).
from rlsub import networks as _networks  # noqa: E402,F401
