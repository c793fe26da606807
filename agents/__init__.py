"""Optimizers of θ_d: direct search (ask/tell) and gradient agents, one file per method.

``METHODS`` maps each ``--method`` name to how it runs a trial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rlsub.agents import ars, cmaes, es, ppo, reinforce
from rlsub.agents.ars import ARS, ARSConfig
from rlsub.agents.ask_tell import DirectSearch
from rlsub.agents.cmaes import CMAES, CMAESConfig
from rlsub.agents.dqn import engines as dqn_engines
from rlsub.agents.dqn.single import DQNConfig
from rlsub.agents.es import ES, ESConfig
from rlsub.agents.ppo import PPOConfig
from rlsub.agents.reinforce import ReinforceConfig
from rlsub.errors import ConfigError


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
    "ars": Method("ars", "direct", ars.run, ARSConfig,
                  "ARS (Mania et al. 2018): V1/V2 and top-b -t variants, mirrored directions, reward-std steps"),
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
    "ARS", "ARSConfig", "CMAES", "CMAESConfig", "DQNConfig", "ES", "ESConfig", "METHODS", "DirectSearch", "Method",
    "PPOConfig", "ReinforceConfig", "get_method",
]
