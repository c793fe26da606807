"""The house's layering, read from the code's own imports (AST; nothing is imported or run).

Every import statement counts, module-level and inside functions: a function-level import hides a
dependency from a reader, not from the layering. ``agents/`` is the package ``rlsub.agents`` and
``envs/`` is ``rlsub.envs`` (pyproject's package-dir mapping).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Source folder → the package it installs as.
PACKAGES = {"rlsub": "rlsub", "agents": "rlsub.agents", "envs": "rlsub.envs"}
#: What ``envs/`` (environments only) must never import: the layers that train and measure.
ABOVE_ENVS = ("rlsub.agents", "rlsub.lockstep", "rlsub.runner", "rlsub.sweep", "rlsub.tasks")
MAX_LINES = 450


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted module name → source file, for every ``.py`` under the mapped folders of ``root``."""
    mods: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join([package, *parts])] = path
    return mods


def imports_of(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The project modules that ``name`` (source ``path``) imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` too.
            targets = [module, *(f"{module}.{a.name}" for a in node.names)]
        else:
            continue
        out.update(t for t in targets if t in mods and t != name)
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    mods = project_modules(root)
    return {name: imports_of(name, path, mods) for name, path in mods.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def upward_from_envs(graph: dict[str, set[str]]) -> list[str]:
    """``envs/`` modules importing a layer above them, as ``module -> target``."""
    return sorted(f"{m} -> {t}" for m, targets in graph.items() if m == "rlsub.envs" or m.startswith("rlsub.envs.")
                  for t in targets if any(t == a or t.startswith(a + ".") for a in ABOVE_ENVS))


def long_files(root: Path) -> list[str]:
    return sorted(f"{p.relative_to(root)} ({n} lines)" for p in project_modules(root).values()
                  if (n := len(p.read_text().splitlines())) > MAX_LINES)


# -- the scanner finds what it looks for (a toy tree) -------------------------------------------
@pytest.fixture
def toy(tmp_path: Path) -> Path:
    files = {
        "rlsub/__init__.py": "",
        "rlsub/a.py": "def f():\n    from rlsub import b  # hidden in a function, still an edge\n",
        "rlsub/b.py": "from rlsub.c import x\n",
        "rlsub/c.py": "from .a import f\n",
        "rlsub/lockstep.py": "",
        "agents/__init__.py": "",
        "envs/__init__.py": "from .task import T\n",
        "envs/task.py": "import rlsub.lockstep\nfrom rlsub.agents import METHODS\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text + "\n" * 460 * (rel == "envs/task.py"))
    return tmp_path


def test_scanner_sees_circles_upward_imports_and_long_files(toy: Path):
    graph = import_graph(toy)
    assert graph["rlsub.envs"] == {"rlsub.envs.task"}
    assert circles(graph) == [["rlsub.a", "rlsub.b", "rlsub.c"]]
    assert upward_from_envs(graph) == ["rlsub.envs.task -> rlsub.agents", "rlsub.envs.task -> rlsub.lockstep"]
    assert long_files(toy) == ["envs/task.py (462 lines)"]


# -- the house itself -------------------------------------------------------------------------
def test_the_scan_covers_the_project():
    graph = import_graph(ROOT)
    assert {"rlsub.tasks", "rlsub.tasks.rl", "rlsub.envs.resolve", "rlsub.agents.cmaes"} <= set(graph)
    assert "rlsub.envs" in graph["rlsub.tasks.rl"]  # the core points down to the envs


def test_no_import_circles():
    found = circles(import_graph(ROOT))
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_envs_import_no_layer_above_them():
    found = upward_from_envs(import_graph(ROOT))
    assert not found, "envs/ imports a layer above it: " + ", ".join(found)


def test_no_source_file_over_the_limit():
    # Lists every offender; rlsub/rollout.py, rlsub/networks.py and agents/dqn_batched.py are being
    # split on their own branches.
    found = long_files(ROOT)
    assert not found, f"files over {MAX_LINES} lines: " + ", ".join(found)
