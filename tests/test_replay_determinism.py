"""``rlsub replay`` says how close it came to the trial: returns episode by episode, and the stored probe
(DQN Q-values, supervised logits) recomputed; a replay that differs is never printed as the trial's number."""

import json

import numpy as np
import pytest

from rlsub.execution.replay import ReplayReport, compare_probe, replay
from rlsub.execution.runner import commit, execute
from rlsub.results.store import Store
from rlsub.trial import TrialConfig


def _stored(tmp_path, cfg):
    with Store(tmp_path / "results.sqlite") as store:
        row = commit(store, tmp_path, cfg, execute(cfg))
    return tmp_path / row["artifact"], row


@pytest.mark.parametrize("cfg", [
    TrialConfig("CartPole-v1", method="dqn", dim=2, seed=3, budget=300, eval_episodes=3,
                params=(("engine", "batched"), ("learning_starts", 40), ("train_freq", 8))),
    TrialConfig("digits-fc", method="adam", dim=4, seed=1, budget=160),
], ids=["dqn", "supervised"])
def test_a_replay_here_matches_bit_for_bit_and_says_so(tmp_path, cfg):
    path, row = _stored(tmp_path, cfg)
    doc = json.loads(path.read_text())
    assert len(doc["metrics"]["probe"]) == 16  # the probe travels with the solution
    rep = replay(path)
    assert rep.comparable and rep.differing == 0 and rep.matches
    assert rep.probe["max_abs"] == 0.0 and rep.probe["argmax_changed"] == 0
    text = str(rep)
    assert "match: " in text and "bit for bit" in text and "MISMATCH" not in text


def test_a_replay_that_differs_says_by_how_much_and_keeps_the_trials_number(tmp_path):
    """Another machine, simulated: the stored returns and probe are what a machine that rounds differently
    wrote. The report flags the mismatch, names the recorded number as the trial's and gives the probe's |Δ|."""
    cfg = TrialConfig("CartPole-v1", method="dqn", dim=2, seed=3, budget=300, eval_episodes=3,
                      params=(("engine", "batched"), ("learning_starts", 40), ("train_freq", 8)))
    path, _ = _stored(tmp_path, cfg)
    doc = json.loads(path.read_text())
    m = doc["metrics"]
    m["final_returns"] = [m["final_returns"][0] + 7.0, *m["final_returns"][1:]]
    m["final_mean"] = float(np.mean(m["final_returns"]))
    orig = np.array(m["probe"])
    q = orig.copy()
    q[0, 0] += 2.5e-7
    j = int(orig[1].argmax())
    q[1, 1 - j] = orig[1, j] + 1.0  # the stored greedy action at input 1 is the other one
    m["probe"] = q.tolist()
    path.write_text(json.dumps(doc))
    rep = replay(path)
    assert rep.differing == 1 and rep.matches is False
    assert rep.probe["max_abs"] == np.abs(q - orig).max() > 0
    assert rep.probe["argmax_changed"] == 1
    text = str(rep)
    assert "MISMATCH: 1 of 3" in text and "max |delta| 7" in text
    assert f"the trial's number is the recorded {m['final_mean']:.6g}" in text
    assert "probe: Q-values at 16 fixed inputs differ" in text and "this machine: torch" in text


def test_replays_on_other_episodes_are_not_compared():
    rep = ReplayReport("x.json", "CartPole-v1", 10, 2, [1.0, 2.0], 5.0, same_seeds=False, recorded_returns=[5.0, 5.0])
    assert rep.comparable is False and rep.matches is None and "not compared" in str(rep)
    assert "MISMATCH" not in str(rep) and "match:" not in str(rep)


def test_compare_probe():
    a = [[0.0, 1.0], [2.0, 1.0]]
    assert compare_probe(a, a, "logits") == {"what": "logits", "n": 2, "max_abs": 0.0, "argmax_changed": 0}
    b = [[0.0, 1.0 + 1e-6], [0.5, 1.0]]
    out = compare_probe(a, b, "logits")
    assert out["max_abs"] == pytest.approx(1.5) and out["argmax_changed"] == 1
