"""Docs that cannot go stale: every module is in docs/architecture.md's package table, every
repository path and ``forecasting.*`` name that README, docs and docstrings mention exists,
and the stage table in docs/architecture.md is the one ``forecasting.stages`` declares."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from forecasting.stages import markdown_table

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "bench" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CODE = sorted(p for d in ("forecasting", "plugins", "dags", "bench", "tests", "docker") for p in (REPO / d).rglob("*.py"))
ROOTS = ("forecasting", "plugins", "dags", "bench", "tests", "docs", "docker", "expectations", ".ci")
_ROOTS = "|".join(re.escape(r) for r in ROOTS)
PATH = re.compile(rf"(?<![\w./-])((?:{_ROOTS})/[\w./-]*[\w/])(?![\w<*{{-])")
# made by a command, not kept in git: what a user copies (docker/.env) and bench outputs
CREATED = ("docker/.env", "docker/secrets/", "bench/out/")
DOTTED = re.compile(r"(?<![\w./-])(forecasting(?:\.\w+)+)")


def _docstrings(path: Path) -> str:
    tree = ast.parse(path.read_text())
    nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return "\n".join(ast.get_docstring(n) or "" for n in nodes)


def _texts() -> list[tuple[str, str]]:
    return [(str(p.relative_to(REPO)), p.read_text()) for p in DOCS] + [
        (str(p.relative_to(REPO)), _docstrings(p)) for p in CODE
    ]


def _defines(module: Path, name: str) -> bool:
    text = module.read_text()
    return bool(re.search(rf"^\s*(?:def|class|async def)\s+{name}\b|^\s*{name}\s*[:=]|\bimport .*\b{name}\b", text, re.M)
                or re.search(rf"\bimport\s*\([^)]*\b{name}\b", text))  # a re-export


def _dotted_exists(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:cut])
        module = base.with_suffix(".py") if not base.is_dir() else base / "__init__.py"
        if module.is_file():
            rest = parts[cut:]
            return not rest or _defines(module, rest[0])
    return False


def test_every_repository_path_named_in_docs_and_docstrings_exists():
    missing = []
    for where, text in _texts():
        for path in set(PATH.findall(text)):
            path = path.rstrip(".")
            if "*" in path or "<" in path or path.startswith(CREATED):
                continue
            if not (REPO / path).exists():
                missing.append(f"{where}: {path}")
    assert not missing, "paths that do not exist:\n" + "\n".join(sorted(missing))


def test_every_forecasting_name_in_docs_and_docstrings_exists():
    missing = sorted({f"{where}: {name}" for where, text in _texts() for name in DOTTED.findall(text)
                      if not _dotted_exists(name.rstrip("."))})
    assert not missing, "names that do not exist:\n" + "\n".join(missing)


def _package_table() -> dict[str, str]:
    """package -> the text of its row in docs/architecture.md's package table."""
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Packages", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            for name in re.findall(r"`([\w.]+)`", cells[0]):
                rows[name] = cells[1]
    return rows


def _modules() -> list[tuple[str, str]]:
    """(package, module path inside it) for every module of forecasting and riskcast_airflow."""
    out = []
    for root, prefix in ((REPO / "forecasting", "forecasting"), (REPO / "plugins" / "riskcast_airflow", "riskcast_airflow")):
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            if rel.name == "__init__" or "vendor" in rel.parts:
                continue
            if len(rel.parts) == 1 and prefix == "forecasting":
                out.append((f"forecasting.{rel.name}", rel.name))
            elif prefix == "forecasting":
                out.append((f"forecasting.{rel.parts[0]}", "/".join(rel.parts[1:])))
            else:
                out.append((prefix, "/".join(rel.parts)))
    return out


def test_every_module_is_in_the_package_table():
    rows = _package_table()
    missing = []
    for package, module in _modules():
        row = rows.get(package)
        if row is None:
            missing.append(f"{package} (no row)")
        elif package.removeprefix("forecasting.") != module and f"`{module}`" not in row:
            missing.append(f"{package}: `{module}`")
    assert not missing, "docs/architecture.md's package table lacks:\n" + "\n".join(missing)


def test_stage_table_in_the_docs_is_the_declared_one():
    text = (REPO / "docs" / "architecture.md").read_text()
    assert markdown_table() in text, "regenerate the stage table: riskcast stages --markdown"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_docs_exist(doc: Path):
    assert doc.is_file()
