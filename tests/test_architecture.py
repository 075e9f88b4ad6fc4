"""The layering rules of docs/ARCHITECTURE.md that no one package owns: no import cycles among the modules of
``pipeline/``, ``service/`` and ``app/`` (every import counts, at module level or inside a function), and the pipeline
imports no front-end (Streamlit, FastAPI, Starlette, uvicorn, the service) — not in its source, and not when every
one of its modules is loaded."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "service", "app")
#: what the pipeline never imports: the front-ends and the libraries only they need
FRONT_ENDS = ("streamlit", "fastapi", "starlette", "uvicorn", "service")


def package_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` under ``root`` (a package is its
    ``__init__.py``)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_names(name: str, path: Path, known: set[str]) -> set[str]:
    """The absolute names every ``import`` and ``from … import`` of the file imports, wherever it stands (module
    level, functions, ``if TYPE_CHECKING``); relative imports resolved, and ``from pkg import name`` read as the
    submodule ``pkg.name`` when that is a module of ``known``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1], *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else base)
    return out


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports (an import of ``a.b.c`` that is no module counts as its
    nearest enclosing module)."""
    files = package_modules(root, packages)
    graph = {}
    for name, path in files.items():
        targets = set()
        for target in imported_names(name, path, set(files)):
            while target and target not in files:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _describe(cycle: list[str], graph: dict[str, set[str]]) -> str:
    members = set(cycle)
    return f"{len(cycle)} modules: " + "; ".join(f"{m} imports {', '.join(sorted(graph[m] & members))}"
                                                 for m in cycle)


def test_the_cycle_finder_reads_every_import_and_finds_each_cycle(tmp_path):
    """A package whose cycle closes only through a relative import inside a function and a ``from pkg import
    module``; a chain leading into a cycle is not part of it."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {"__init__.py": "", "a.py": "def f():\n    from . import b\n", "b.py": "from pkg.sub import c\n",
             "sub/__init__.py": "", "sub/c.py": "import os\nfrom ..a import f\n", "d.py": "import pkg.a\n",
             "e.py": "from pkg import d as x\n"}
    for name, text in files.items():
        (pkg / name).write_text(text)
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.sub.c"} and graph["pkg.e"] == {"pkg.d"}
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    assert import_cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c", "e"}, "e": set()}) == [["a", "b"], ["c", "d"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles_in_pipeline_service_or_app():
    graph = import_graph()
    assert {"pipeline.cli.common", "service.cli", "app.state"} <= set(graph)
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(c, graph) for c in cycles)


def test_the_pipeline_source_imports_no_front_end():
    files = package_modules(ROOT, ("pipeline", "service", "app"))
    offenders = {name: sorted(n for n in imported_names(name, path, set(files)) if n.split(".")[0] in FRONT_ENDS)
                 for name, path in files.items() if name.split(".")[0] == "pipeline"}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_loading_every_pipeline_module_loads_no_front_end():
    names = sorted(n for n in package_modules(ROOT, ("pipeline",)) if not n.endswith(".__main__"))   # runs the CLI
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}:\n    importlib.import_module(name)\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FRONT_ENDS!r})))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []
