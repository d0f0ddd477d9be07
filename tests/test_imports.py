"""Data flows one way (config -> network + task -> engine -> sink -> HDF5 -> reader -> analysis):
no module of the package imports, directly or through others, a module that imports it back,
counting the imports inside functions too. The command line (cli.py) and the package's own
``__init__`` (lazy shortcuts to the reader) sit on top and are left out."""

import ast
from pathlib import Path

import dendrosim

PKG = Path(dendrosim.__file__).resolve().parent
TOP = {"dendrosim", "dendrosim.cli"}


def _modules() -> dict:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _imports(name, path, mods) -> set:
    """The package modules that ``name`` imports anywhere in its source (a ``from X import y``
    of a submodule y counts as importing X.y)."""
    pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = pkg[:len(pkg) - node.level + 1] if node.level else []
            mod = ".".join(base + (node.module.split(".") if node.module else []))
            found |= {f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    out = set()
    for t in found:
        while t not in mods and "." in t:
            t = t.rsplit(".", 1)[0]
        if t in mods and t != name and t not in TOP:
            out.add(t)
    return out


def _cycles(edges) -> list:
    """One import path back to its start for every module that lies on a cycle."""
    found = []
    for start in edges:
        stack, seen = [(start, [start])], set()
        while stack:
            m, path = stack.pop()
            for t in edges.get(m, ()):
                if t == start:
                    found.append(path + [t])
                    stack = []
                    break
                if t not in seen:
                    seen.add(t)
                    stack.append((t, path + [t]))
    return found


def test_no_import_cycles_in_the_package():
    mods = _modules()
    edges = {m: _imports(m, p, mods) for m, p in mods.items() if m not in TOP}
    assert edges["dendrosim.tasks.teacher"] >= {"dendrosim.steady"}      # the scan sees real imports
    assert "dendrosim.simulation" in edges["dendrosim.limit"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) and not _cycles({"a": {"b"}, "b": {"c"}})
    assert _cycles(edges) == []


def test_below_the_driver_nothing_imports_the_driver():
    """The network, the tasks, the steady-state solver, the learners and the engine build and
    run without the driver (simulation.py, ensemble.py)."""
    mods = _modules()
    lower = {"config", "network", "steady", "transfer", "vecmath", "tasks", "learners", "engine", "datasets"}
    below = [m for m in mods if m.split(".")[1:2] and m.split(".")[1] in lower]
    for m in below:
        assert not _imports(m, mods[m], mods) & {"dendrosim.simulation", "dendrosim.ensemble"}, m
