"""Optimizers of θ_d: direct search (ask/tell) and gradient agents, one file per method.

``METHODS`` maps each ``--method`` name to how it runs a trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from rlsub.errors import ConfigError

from . import cmaes, dqn_engines, es, ppo, reinforce
from .base import DirectSearch
from .cmaes import CMAES, CMAESConfig
from .dqn import DQNConfig
from .es import ES, ESConfig
from .ppo import PPOConfig
from .reinforce import ReinforceConfig


@dataclass(frozen=True)
class Method:
    """A ``--method``: its name, family and trial runner."""

    name: str
    family: str
    """``direct`` (ask/tell over θ_d) or ``gradient`` (backprop through P)."""
    run: Callable
    config_cls: type
    description: str = ""


METHODS: dict[str, Method] = {
    "cmaes": Method("cmaes", "direct", cmaes.run, CMAESConfig, "CMA-ES (pycma), sep-CMA at large d, IPOP restarts"),
    "es": Method("es", "direct", es.run, ESConfig,
                 "OpenAI-ES: mirrored sampling, centered ranks, Adam, L2 decay, optional obs normalisation"),
    "dqn": Method("dqn", "gradient", dqn_engines.run, DQNConfig,
                  "DQN: replay, target θ_d copy, ε-greedy, Huber loss, optional Double DQN (discrete actions)"),
    "reinforce": Method("reinforce", "gradient", reinforce.run, ReinforceConfig,
                        "REINFORCE with a learned or running baseline (discrete and Gaussian heads)"),
    "ppo": Method("ppo", "gradient", ppo.run, PPOConfig,
                  "PPO: clipped objective, GAE, minibatch epochs, value net in own or shared subspace"),
}


def get_method(name: str) -> Method:
    """Look up a method by name, or raise ConfigError listing the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None


__all__ = [
    "CMAES", "CMAESConfig", "DQNConfig", "ES", "ESConfig", "METHODS", "DirectSearch", "Method",
    "PPOConfig", "ReinforceConfig", "get_method",
]
