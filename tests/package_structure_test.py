"""The package's shape, as a maintainer relies on it: importing egs_keras loads no run module,
no module imports its way back to itself, the lower layers never import the runs (or tuning)
above them, and the task dispatch lives in `egs_keras.runs.tasks` alone."""

import ast
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]
PACKAGE = ROOT / "egs_keras"
# Layers from the bottom up: a module may import its own layer and the ones below.
UPPER = ("egs_keras.runs", "egs_keras.tuning", "egs_keras.examples", "egs_keras.demo")


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """The egs_keras modules `path` imports, anywhere in the file (nested imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("egs_keras"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.startswith("egs_keras"):
            for alias in node.names:  # `from egs_keras.x import y`: y may be a module
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if _exists(candidate) else node.module)
    return found


def _exists(module):
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _graph():
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_importing_egs_keras_loads_no_run_module():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, egs_keras; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert not [m for m in loaded if m.startswith(UPPER)], loaded


def test_no_module_imports_its_way_back_to_itself():
    graph = _graph()
    # Edges to a package's __init__ stand for the package; cycles through them count too.
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in graph:
                continue
            if state.get(target) == "open":
                cycle = stack[stack.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_lower_layers_never_import_runs_or_tuning():
    offenders = {module: sorted(t for t in targets if t.startswith(UPPER))
                 for module, targets in _graph().items() if not module.startswith(UPPER)
                 and module != "egs_keras"}
    assert not {m: t for m, t in offenders.items() if t}, offenders
    # runs sit below tuning: a run never calls into the tuners.
    runs = {m: t for m, t in _graph().items() if m.startswith("egs_keras.runs")}
    assert not [m for m, t in runs.items() if any(x.startswith("egs_keras.tuning") for x in t)]


def test_the_task_dispatch_is_in_one_module():
    pattern = re.compile(r"""\.task\b\s*[=!]=|get\(\s*["']task["']|is_\w+_task\(""")
    places = sorted(str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                    if pattern.search(p.read_text()))
    assert places == ["egs_keras/runs/tasks.py"]
