"""The layout rules (docs/architecture.md), checked on the source so they stay true.

- import-linter contracts in pyproject.toml are kept (layers down the data flow, demo apart,
  model imports only the panel spec, alerts never import reserves);
- no import cycle among the modules of ``forecasting`` and ``riskcast_airflow``;
- an import inside a function is only of a heavy optional library (``HEAVY``);
- every lake folder / file name is spelled once, in ``forecasting.core.layout``;
- few modules directly under ``forecasting/``, none very long;
- no test module imports another test module (shared helpers live in ``tests/support``).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from forecasting.core import layout

REPO = Path(__file__).resolve().parents[1]
SOURCES = [REPO / "forecasting", REPO / "plugins" / "riskcast_airflow"]
# Imported inside functions to keep DAG parsing and `riskcast --help` light; nothing else is.
HEAVY = {
    "torch", "gluonts", "ray", "lightning", "great_expectations", "airflow",
    "matplotlib", "statsforecast", "scipy",
    "dowhy",  # 10-16 s to import (numba, cvxpy, sklearn): only explain's fit and attribution need it
    "lightgbm",  # ~1.5 s to import (sklearn, its shared library): only the gbm member's fit and predict
}
MAX_TOP_LEVEL_MODULES, MAX_LINES = 8, 350


def _modules() -> list[Path]:
    return sorted(p for root in SOURCES for p in root.rglob("*.py"))


def _name(path: Path) -> str:
    if path.is_relative_to(REPO / "plugins"):
        rel = path.relative_to(REPO / "plugins")
    else:
        rel = path.relative_to(REPO)
    return ".".join(rel.with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> list[tuple[ast.stmt, str, bool]]:
    """(node, imported module, at module level) for every import of ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks count as module level
        if isinstance(node, ast.If):
            top |= {id(n) for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node, a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module in ("forecasting", "riskcast_airflow"):
                out += [(node, f"{node.module}.{a.name}", id(node) in top) for a in node.names]
            else:
                out.append((node, node.module, id(node) in top))
    return out


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_import_cycles():
    names = {_name(p): p for p in _modules()}
    graph = {
        n: sorted({m for _, m, _ in _imports(p) if m in names and m != n} | {
            m.rsplit(".", 1)[0] for _, m, _ in _imports(p) if m not in names and m.rsplit(".", 1)[0] in names
            and m.rsplit(".", 1)[0] != n
        })
        for n, p in names.items()
    }
    # Tarjan's strongly connected components: any component of 2+ modules is a cycle.
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_inside_functions_are_only_heavy_libraries():
    offenders = [
        f"{p.relative_to(REPO)}:{node.lineno} imports {mod}"
        for p in _modules()
        for node, mod, top in _imports(p)
        if not top and mod.split(".")[0] not in HEAVY
    ]
    assert not offenders, "\n".join(offenders)


def _layout_names() -> set[str]:
    names = {
        v for k, v in vars(layout).items()
        if k.isupper() and isinstance(v, str) and ("." in v or k.endswith("_DIR"))
    }
    return names | set(layout.BACKTEST_FILES.values())


def test_lake_file_names_are_spelled_only_in_the_layout_module():
    names = _layout_names()
    assert {"part.parquet", "manifest.json", "summary.json", "samples.parquet"} <= names
    pattern = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(n) for n in sorted(names)) + r")(?![\w.-])")
    offenders = []
    for path in _modules():
        if path == REPO / "forecasting" / "core" / "layout.py":
            continue
        tree = ast.parse(path.read_text())
        docs = {  # docstrings may name files: they document the layout, they do not use it
            id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                if pattern.search(node.value):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}")
    assert not offenders, "lake names outside core/layout.py:\n" + "\n".join(offenders)


def test_package_stays_walkable():
    top = sorted(p.name for p in (REPO / "forecasting").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    long = {str(p.relative_to(REPO)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


@pytest.mark.parametrize("path", sorted((REPO / "tests").rglob("test_*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_no_test_module_imports_another(path: Path):
    for _, mod, _ in _imports(path):
        leaf = mod.rsplit(".", 1)[-1]
        assert not (mod.startswith("tests.") and leaf.startswith("test_")), f"{path.name} imports {mod}"
        assert not leaf.startswith("test_") or mod.startswith(("pytest", "_pytest")), f"{path.name} imports {mod}"
