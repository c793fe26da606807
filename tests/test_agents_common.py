"""Shared pieces of the gradient agents: heads, seeded sampling, episode bookkeeping, configs."""

import math

import numpy as np
import pytest
import torch

from rlsub.agents import METHODS, get_method
from rlsub.agents.gradient_common import EpisodeTracker, Head, linear_schedule, make_config, sample_categorical
from rlsub.agents.ppo import PPOConfig
from rlsub.errors import ConfigError
from rlsub.policies.networks import ActionSpec
from rlsub.tasks import run_trial
from rlsub.trial import TrialConfig
from rlsub.utils.seeding import torch_generator


def test_all_methods_registered():
    for name in ("cmaes", "es", "dqn", "reinforce", "ppo"):
        assert get_method(name).name == name
    assert {m.family for m in METHODS.values()} == {"direct", "gradient"}


def test_sample_categorical_is_seeded_and_follows_probs():
    logits = torch.log(torch.tensor([[0.2, 0.8]])).expand(20000, 2)
    a = sample_categorical(logits, torch_generator(0, "t"))
    b = sample_categorical(logits, torch_generator(0, "t"))
    assert torch.equal(a, b)
    assert abs(a.float().mean().item() - 0.8) < 0.02


def test_gaussian_head_log_prob_matches_torch():
    head = Head.create(ActionSpec("box", shape=(2,), low=(-1.0, -1.0), high=(1.0, 1.0)), -0.5, True, "cpu")
    mu = torch.randn(5, 2, generator=torch_generator(1))
    raw = head.sample(mu, torch_generator(2))
    lp, ent = head.log_prob_entropy(mu, raw)
    ref = torch.distributions.Normal(mu, math.exp(-0.5))
    torch.testing.assert_close(lp, ref.log_prob(raw).sum(-1))
    torch.testing.assert_close(ent, ref.entropy().sum(-1))
    # The deterministic policy is the evaluator's: tanh-scaled pre-tanh mean.
    assert np.all(np.abs(head.to_env(raw)) <= 1.0)
    assert head.extra == [head.log_std]


def test_categorical_head_log_prob():
    head = Head.create(ActionSpec("discrete", n=3), 0.0, True, "cpu")
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    lp, ent = head.log_prob_entropy(logits, torch.tensor([2]))
    ref = torch.distributions.Categorical(logits=logits)
    torch.testing.assert_close(lp, ref.log_prob(torch.tensor([2])))
    torch.testing.assert_close(ent, ref.entropy())
    assert head.extra == []


def test_episode_tracker():
    tr = EpisodeTracker(2)
    tr.step(np.array([1.0, 2.0]), np.array([False, True]))
    tr.step(np.array([1.0, 1.0]), np.array([True, False]))
    assert tr.pop() == [2.0, 2.0]
    assert tr.pop() == []


def test_linear_schedule():
    assert linear_schedule(1.0, 0.0, 0.5, 0.0) == 1.0
    assert linear_schedule(1.0, 0.0, 0.5, 0.25) == 0.5
    assert linear_schedule(1.0, 0.0, 0.5, 0.9) == 0.0


def test_unknown_hyper_parameter_is_config_error():
    with pytest.raises(ConfigError, match="unknown hyper-parameter 'lrr'"):
        make_config(PPOConfig, {"lrr": 1.0}, "ppo")


def test_dqn_on_continuous_actions_names_the_space():
    with pytest.raises(ConfigError, match=r"dqn needs a discrete action space.*Box"):
        run_trial(TrialConfig("InvertedPendulum-v5", method="dqn", dim=8, budget=1000))
