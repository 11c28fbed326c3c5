"""The toolkit package's import graph: no cycles between toolkit modules (lazy
imports inside functions included, read with ast), every module importable on its
own in a fresh interpreter, and `toolkit --help` without scikit-learn."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from _projects import env

PACKAGE = Path(__file__).resolve().parent.parent / "toolkit"

# A cycle (as its set of modules) known on main, with why; the case XPASSes when broken.
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
IMPORTABLE = sorted(name for name in MODULES if name != "toolkit.__main__")  # __main__ runs the CLI


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _resolve(name: str, imported: str | None) -> str | None:
    """The deepest toolkit module named by `name` (plus `imported` when it is a submodule)."""
    if imported and f"{name}.{imported}" in MODULES:
        return f"{name}.{imported}"
    return name if name in MODULES else None


def imports_of(module: str) -> set[str]:
    """Every toolkit module `module` imports anywhere in its body (TYPE_CHECKING blocks aside)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(filter(None, (_resolve(alias.name, None) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.update(filter(None, (_resolve(base, alias.name) for alias in node.names)))
    found.discard(module)
    return found


def cycles() -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = {module: imports_of(module) for module in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_import_walk_sees_lazy_imports():
    # cli imports most of the package inside its commands: the walk must see those
    assert len(imports_of("toolkit.cli")) >= 5, imports_of("toolkit.cli")


def test_no_import_cycle_between_toolkit_modules():
    unknown = [sorted(cycle) for cycle in cycles() if cycle not in KNOWN_CYCLES]
    assert not unknown, f"import cycles: {unknown}"


@pytest.mark.parametrize(
    "cycle",
    [pytest.param(cycle, marks=pytest.mark.xfail(strict=True, reason=reason), id="-".join(sorted(cycle))) for cycle, reason in KNOWN_CYCLES.items()],
)
def test_known_cycle_is_broken(cycle):
    assert cycle not in cycles()


def _fresh_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=timeout)


@pytest.mark.slow
def test_every_toolkit_module_imports_alone_in_a_fresh_interpreter():
    # one interpreter per module: an import that only works after another module
    # was loaded first fails here. Batched in one subprocess that forks per module; the
    # libraries every module leans on are loaded once before the forks (they are not what
    # this checks, and without bytecode each child compiled sqlglot again: over 120 s under load).
    code = (
        "import importlib, os, sys\nimport duckdb, jinja2, sqlglot, sqlglot.optimizer, sqlglot.dialects.duckdb\n"
        f"failed = []\nfor name in {IMPORTABLE!r}:\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n            importlib.import_module(name)\n        except BaseException as error:\n"
        "            print(name, type(error).__name__, error, flush=True)\n            os._exit(1)\n"
        "        os._exit(0)\n"
        "    if os.waitpid(pid, 0)[1]:\n        failed.append(name)\n"
        "sys.exit(1 if failed else 0)\n"
    )
    done = _fresh_python(code, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_toolkit_help_does_not_import_sklearn():
    code = "import sys\nfrom click.testing import CliRunner\nfrom toolkit.cli import cli\n" \
        "result = CliRunner().invoke(cli, ['--help'])\nassert result.exit_code == 0, result.output\n" \
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skops')))"
    done = _fresh_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
