"""The house's layering, read from the code's own imports (AST; nothing is imported or run).

``LAYERS`` is the order, bottom first: a module may import its own layer and the layers below it,
never one above. Every import statement counts, module-level and inside functions: a function-level
import hides a dependency from a reader, not from the layering. ``agents/`` is the package
``rlsub.agents`` and ``envs/`` is ``rlsub.envs`` (pyproject's package-dir mapping). No module
re-exports another's names (one place to look for each name); a package's ``__init__`` may expose
the public names of its own modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Source folder → the package it installs as.
PACKAGES = {"rlsub": "rlsub", "agents": "rlsub.agents", "envs": "rlsub.envs"}
#: The layers, bottom first; each a tuple of packages/modules that sit at one level.
LAYERS: list[tuple[str, ...]] = [
    ("rlsub.errors", "rlsub.utils"),  # helpers that import nothing of rlsub
    ("rlsub.kernels",),               # numba kernels and their numpy twins
    ("rlsub.projections",),           # P: R^d -> R^D
    ("rlsub.subspace",),              # θ_D = θ_0 + P θ_d around any nn.Module
    ("rlsub.policies",),              # the networks a trial trains
    ("rlsub.envs",),                  # environments only
    ("rlsub.evaluation",),            # playing a population's episodes
    ("rlsub.trial", "rlsub.solution"),  # one trial's config, context and result; solution files
    ("rlsub.agents",),                # optimizers of θ_d
    ("rlsub.supervised",),            # supervised tasks' machinery
    ("rlsub.tasks",),                 # what gets measured (the Task protocol and its kinds)
    ("rlsub.results",),               # the trial store
    ("rlsub.execution",),             # where trials run
    ("rlsub.analysis",),              # d_int from stored trials
    ("rlsub.sweeps",),                # what to run
    ("rlsub.atlas",),                 # the difficulty atlas
    ("rlsub.cli",),                   # the command line
    ("rlsub",),                       # the package root (its __init__ only)
]
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
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` (and runs ``pkg/__init__``, which a
            # layer below may do: an ``__init__`` is thin); ``from pkg import name`` imports ``pkg``.
            subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in mods]
            targets = subs or [module]
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


def layer_of(module: str, layers: list[tuple[str, ...]] = LAYERS) -> int | None:
    """Index in ``layers`` of the most specific entry ``module`` belongs to (None when none)."""
    best: tuple[int, int] | None = None
    for i, names in enumerate(layers):
        for name in names:
            if module == name or module.startswith(name + "."):
                if best is None or len(name) > best[1]:
                    best = (i, len(name))
    return None if best is None else best[0]


def upward_imports(graph: dict[str, set[str]], layers: list[tuple[str, ...]] = LAYERS) -> list[str]:
    """Imports that point up the layer list, as ``module -> target``."""
    out = []
    for m, targets in graph.items():
        lm = layer_of(m, layers)
        out += [f"{m} -> {t}" for t in targets if lm is not None and (lt := layer_of(t, layers)) is not None and lt > lm]
    return sorted(out)


def unlayered(graph: dict[str, set[str]], layers: list[tuple[str, ...]] = LAYERS) -> list[str]:
    """Modules that no layer names (a new folder must be given its place)."""
    return sorted(m for m in graph if layer_of(m, layers) is None)


def re_exports(root: Path) -> list[str]:
    """Modules that hand out names defined in another project module: a name imported from the project
    and listed in ``__all__``, or a module that is nothing but such imports (a shim). A package's
    ``__init__`` may list the names of the modules inside it."""
    mods = project_modules(root)
    found = []
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        is_init = path.name == "__init__.py"
        imported: dict[str, str] = {}  # local name -> module it came from
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and not node.level and node.module.startswith("rlsub"):
                for a in node.names:
                    imported[a.asname or a.name] = node.module
        exported: list[str] = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
                exported = [e.value for e in getattr(node.value, "elts", []) if isinstance(e, ast.Constant)]
        for n in exported:
            src = imported.get(n)
            if src and not (is_init and (src == name or src.startswith(name + "."))):
                found.append(f"{name} re-exports {n} from {src}")
        body = [s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
                and not (isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in s.targets))]
        if not is_init and body and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in body):
            found.append(f"{name} is only imports (a shim)")
    return sorted(found)


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


TOY_LAYERS = [("rlsub.a", "rlsub.b", "rlsub.c"), ("rlsub.envs",), ("rlsub.lockstep",), ("rlsub.agents",)]


def test_scanner_sees_circles_upward_imports_and_long_files(toy: Path):
    graph = import_graph(toy)
    assert graph["rlsub.envs"] == {"rlsub.envs.task"}
    assert circles(graph) == [["rlsub.a", "rlsub.b", "rlsub.c"]]
    assert upward_imports(graph, TOY_LAYERS) == ["rlsub.envs.task -> rlsub.agents", "rlsub.envs.task -> rlsub.lockstep"]
    assert unlayered(graph, TOY_LAYERS) == ["rlsub"]
    assert long_files(toy) == ["envs/task.py (462 lines)"]


def test_scanner_sees_re_exports(tmp_path: Path):
    files = {
        "rlsub/__init__.py": "",
        "rlsub/core.py": "X = 1\n",
        "rlsub/shim.py": '"""old name"""\nfrom rlsub.core import X\n',
        "rlsub/lists.py": "from rlsub.core import X\n\ndef f():\n    return X\n\n__all__ = ['X', 'f']\n",
        "rlsub/uses.py": "from rlsub.core import X\n\ndef g():\n    return X\n",
        "rlsub/pkg/__init__.py": "from rlsub.pkg.inner import Y\nfrom rlsub.core import X\n__all__ = ['X', 'Y']\n",
        "rlsub/pkg/inner.py": "Y = 2\n",
        "agents/__init__.py": "", "envs/__init__.py": "",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert re_exports(tmp_path) == [
        "rlsub.lists re-exports X from rlsub.core", "rlsub.pkg re-exports X from rlsub.core", "rlsub.shim is only imports (a shim)",
    ]


def test_a_planted_upward_import_fails(tmp_path: Path):
    """The real tree, copied, with one upward import planted: the layer check names it."""
    import shutil

    for folder in PACKAGES:
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "data"))
    target = tmp_path / "rlsub" / "projections" / "dense.py"
    target.write_text(target.read_text() + "\n\ndef _planted():\n    from rlsub.analysis.dint import compute_dint  # noqa\n")
    assert upward_imports(import_graph(tmp_path)) == ["rlsub.projections.dense -> rlsub.analysis.dint"]


# -- the house itself -------------------------------------------------------------------------
def test_the_scan_covers_the_project():
    graph = import_graph(ROOT)
    assert {"rlsub.tasks", "rlsub.tasks.rl", "rlsub.envs.resolve", "rlsub.agents.cmaes"} <= set(graph)
    assert "rlsub.envs" in graph["rlsub.tasks.rl"]  # the core points down to the envs


def test_no_import_circles():
    found = circles(import_graph(ROOT))
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_every_module_has_a_layer():
    found = unlayered(import_graph(ROOT))
    assert not found, "modules with no place in LAYERS: " + ", ".join(found)


def test_imports_point_down_the_layers():
    found = upward_imports(import_graph(ROOT))
    assert not found, "imports against the layer order: " + ", ".join(found)


def test_no_module_re_exports_another():
    found = re_exports(ROOT)
    assert not found, "; ".join(found)


def test_no_source_file_over_the_limit():
    found = long_files(ROOT)
    assert not found, f"files over {MAX_LINES} lines: " + ", ".join(found)
