"""Test helper: watch a continuous-action trial's ``Head`` and check it is the Gaussian it claims.

``record(monkeypatch)`` wraps ``rlsub.agents.gradient_common.Head``'s ``sample`` and ``log_prob_entropy`` so a
trial's every call is kept with the ``log_std`` in force at that moment; ``check_gaussian`` then
asserts the samples are N(mean, exp(log_std)) and the log-probs and entropies are that Normal's.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from rlsub.agents.gradient_common import Head


def record(monkeypatch) -> dict[str, list[tuple[torch.Tensor, ...]]]:
    """Start recording every ``Head.sample`` / ``Head.log_prob_entropy`` call (continuous heads)."""
    calls: dict[str, list[tuple[torch.Tensor, ...]]] = {"sample": [], "log_prob": []}
    sample, log_prob_entropy = Head.sample, Head.log_prob_entropy

    def recorded_sample(self, out, gen):
        raw = sample(self, out, gen)
        calls["sample"].append(tuple(t.detach().clone() for t in (out, raw, self.log_std)))
        return raw

    def recorded_log_prob(self, out, raw):
        lp, ent = log_prob_entropy(self, out, raw)
        calls["log_prob"].append(tuple(t.detach().clone() for t in (out, raw, self.log_std, lp, ent)))
        return lp, ent

    monkeypatch.setattr(Head, "sample", recorded_sample)
    monkeypatch.setattr(Head, "log_prob_entropy", recorded_log_prob)
    return calls


def check_gaussian(calls: dict[str, list[tuple[torch.Tensor, ...]]], action_dim: int, min_samples: int = 200) -> None:
    """The recorded head is Gaussian: raw actions ~ N(out, σ = exp(log_std)), log-probs and entropies
    those of ``torch.distributions.Normal(out, σ)`` summed over action dimensions."""
    assert len(calls["sample"]) > 0 and len(calls["log_prob"]) > 0
    assert all(ls.shape == (action_dim,) for _, _, ls in calls["sample"])
    z = torch.cat([((raw - out) / ls.exp()).flatten() for out, raw, ls in calls["sample"]]).double().numpy()
    assert z.size >= min_samples
    # Standardised with σ = exp(log_std), the samples are standard normal (a fixed seed: no flakiness).
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.std() - 1) < 0.1
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(stats.kurtosis(z)) < 0.8  # normal tails (a unit-variance uniform has excess kurtosis -1.2)
    for out, raw, ls, lp, ent in calls["log_prob"]:
        normal = torch.distributions.Normal(out, ls.exp().expand_as(out))
        torch.testing.assert_close(lp, normal.log_prob(raw).sum(-1), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ent, normal.entropy().sum(-1), rtol=1e-5, atol=1e-5)
