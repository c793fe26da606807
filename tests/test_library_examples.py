"""The Python examples of docs/guide/report.md run as written: a training loop in a subspace with a torch
optimizer, ``population_forward``'s input shapes, and ``estimate_dint`` on one's own results matrix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from rlsub.subspace import Subspace

PAGE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "report.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)


def test_the_page_has_the_three_examples():
    text = "\n".join(blocks())
    assert len(blocks()) == 3
    assert "torch.optim.Adam([sub.theta_d]" in text and "population_forward" in text and "estimate_dint(" in text


def test_examples_run_in_order(capsys):
    ns: dict = {}
    for code in blocks():
        exec(compile(code, str(PAGE), "exec"), ns)  # each block's own asserts check what it shows
    out = capsys.readouterr().out
    assert "d_int90 = " in out and "population_forward takes x as [pop, batch, *input]" in out


def test_population_forward_refuses_a_plain_batch_with_a_clear_error():
    sub = Subspace(torch.nn.Sequential(torch.nn.Linear(3, 2)), d=2)
    params = sub.population_params(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\[pop, batch, \*input\] with pop = 4.*got shape \(7, 3\).*expand"):
        sub.population_forward(params, torch.zeros(7, 3))
    assert sub.population_forward(params, torch.zeros(4, 7, 3)).shape == (4, 7, 2)


def test_wrapping_freezes_the_module_as_documented():
    net = torch.nn.Linear(3, 2)
    Subspace(net, d=2)
    assert not any(p.requires_grad for p in net.parameters())
    assert "Wrapping freezes the module" in Subspace.__doc__
