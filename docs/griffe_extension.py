"""Griffe extension for the docs build (mkdocs.yml loads it; nothing in rlsub imports it).

- ``rlsub.agents`` and ``rlsub.envs`` live in ``agents/`` and ``envs/``: pyproject's ``package-dir``
  installs those two folders under ``rlsub``, but Griffe's static loader only walks ``rlsub/``, so
  they are attached to the ``rlsub`` package it loaded, under their installed names.
- A doctest in a docstring (``>>>`` lines, which Markdown would read as nested quotes) is shown as a
  Python console block.
"""

from __future__ import annotations

from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = {"agents": ROOT / "agents", "envs": ROOT / "envs"}


def fence_doctests(text: str) -> str:
    """``text`` with each run of lines that starts with ``>>>`` wrapped in a pycon fence at its indent."""
    out: list[str] = []
    indent: str | None = None
    for line in text.splitlines():
        if indent is None and line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + "```pycon")
        elif indent is not None and not line.strip():
            out.append(indent + "```")
            indent = None
        out.append(line)
    if indent is not None:
        out.append(indent + "```")
    return "\n".join(out)


class RlsubDocs(griffe.Extension):
    """Load ``agents/`` and ``envs/`` as ``rlsub.agents`` and ``rlsub.envs``; fence free-text doctests."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        if pkg.name != "rlsub":
            return
        for name, folder in PACKAGE_DIR.items():
            if name not in pkg.members:
                pkg.set_member(name, loader._load_module(name, folder / "__init__.py", parent=pkg))

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
