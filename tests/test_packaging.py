"""The built wheel, not the editable checkout: every module and data file is in it, and an
install of it alone (outside the checkout) imports every module and runs ``riskcast --help``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"forecasting": REPO / "forecasting", "riskcast_airflow": REPO / "plugins" / "riskcast_airflow"}


def _expected() -> set[str]:
    files = set()
    for name, root in PACKAGES.items():
        files |= {f"{name}/{p.relative_to(root).as_posix()}" for p in root.rglob("*.py")}
        files |= {f"{name}/{p.relative_to(root).as_posix()}" for p in root.rglob("*.sql")}
    return files


def _install(wheel: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A fresh venv with only the wheel installed: (venv, its python, its site-packages).

    Dependencies come from this environment's site-packages as a plain path entry: its
    editable-install hook (a .pth there) does not run, so `forecasting` is the wheel's.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True).strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv, py, site


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    (found,) = out.glob("riskcast-*.whl")
    return found


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_wheel_holds_every_module_and_sql_file(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_expected() - names)
    assert not missing, f"not in {wheel.name}: {missing}"
    assert not any(n.startswith(("tests/", "bench/", "dags/")) for n in names)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_installed_wheel_imports_every_module_and_runs_the_cli(wheel: Path, tmp_path: Path):
    venv, py, site = _install(wheel, tmp_path)
    modules = sorted(
        ".".join(Path(f).with_suffix("").parts).removesuffix(".__init__")
        for f in _expected() if f.endswith(".py")
    )
    script = (
        "import importlib, forecasting, sys\n"
        f"assert forecasting.__file__.startswith({str(site)!r}), forecasting.__file__\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "from importlib.resources import files\n"
        "assert any(p.name.endswith('.sql') for p in files('forecasting.reserves').joinpath('sql').iterdir())\n"
        "from forecasting.validation.gx.suites import default_suites_dir, suite_names\n"
        "assert str(default_suites_dir()).startswith(sys.prefix), default_suites_dir()\n"
        "assert {'security_reports', 'panel'} <= set(suite_names()), suite_names()\n"
        "print('imported', len(" + repr(modules) + "))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(py), "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    cli = subprocess.run([str(venv / "bin" / "riskcast"), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert cli.returncode == 0 and "ingest" in cli.stdout, cli.stderr[-2000:]


# import name -> distribution, where they differ; stdlib and first-party names are skipped
_DISTS = {"yaml": "pyyaml", "pydantic_settings": "pydantic-settings", "markdown_it": "markdown-it-py",
          "sqlalchemy": "sqlalchemy", "great_expectations": "great-expectations", "airflow": "apache-airflow"}
_FIRST_PARTY = {"forecasting", "riskcast_airflow"}


def _requirements(wheel: Path) -> tuple[list[str], dict[str, list[str]]]:
    import re

    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    core, extras = [], {}
    for line in zipfile.ZipFile(wheel).read(meta).decode().splitlines():
        if not line.startswith("Requires-Dist: "):
            continue
        req = line.removeprefix("Requires-Dist: ")
        extra = re.search(r"extra == \"([^\"]+)\"", req)
        (extras.setdefault(extra.group(1), []) if extra else core).append(req)
    return core, extras


def _name(req: str) -> str:
    import re

    return re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].lower().replace("_", "-")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dependencies_are_ranges_and_airflow_is_an_extra(wheel: Path):
    core, extras = _requirements(wheel)
    assert not [r for r in core if "==" in r], "exact pins belong in constraints.txt"
    assert "apache-airflow" not in {_name(r) for r in core}, "the library must install without Airflow"
    assert {"apache-airflow", "apache-airflow-providers-amazon"} <= {_name(r) for r in extras["airflow"]}
    pins = {_name(line.split("==")[0]) for line in (REPO / "constraints.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    assert {_name(r) for r in core} <= pins | {"ray"}, "every dependency has a tested pin"
    assert "torch" in pins, "constraints.txt pins the CPU torch build"


def test_every_imported_third_party_package_is_declared():
    import ast

    declared = {_name(r) for r in _pyproject_requirements()}
    stdlib = set(sys.stdlib_module_names)
    missing = set()
    for path in (REPO / "forecasting").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top in _FIRST_PARTY:
                    continue
                if _DISTS.get(top, top.replace("_", "-")).lower() not in declared:
                    missing.add(f"{top} ({path.relative_to(REPO)})")
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"


def _pyproject_requirements() -> list[str]:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"]) + list(project["optional-dependencies"]["airflow"])


_NO_AIRFLOW = '''
import importlib.abc, sys
class _NoAirflow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (core install: no Airflow)")
sys.meta_path.insert(0, _NoAirflow())
'''


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_core_install_runs_without_airflow_and_the_extra_parses_the_dags(wheel: Path, tmp_path: Path):
    venv, py, site = _install(wheel, tmp_path)
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(_NO_AIRFLOW)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    core_env = {**env, "PYTHONPATH": str(blocker)}
    script = (
        "import importlib, pkgutil, forecasting\n"
        "for m in pkgutil.walk_packages(forecasting.__path__, 'forecasting.'): importlib.import_module(m.name)\n"
        "try:\n    import airflow\nexcept ModuleNotFoundError:\n    print('no airflow')\n"
        # the one route that needs the provider says so instead of an ImportError
        "from forecasting.alerts.routes import deliver_sns\n"
        "from forecasting.core.config import Settings\n"
        "from forecasting.core.errors import ConfigError\n"
        "s = Settings(alerts={'routes': ['sns'], 'sns_topic_arn': 'arn:aws:sns:eu-west-1:1:t'})\n"
        "try:\n    deliver_sns(s, None)\nexcept ConfigError as exc:\n    print('sns:', exc)\n"
    )
    core = subprocess.run([str(py), "-c", script], cwd=tmp_path, env=core_env, capture_output=True, text=True)
    assert core.returncode == 0 and "no airflow" in core.stdout, core.stderr[-3000:]
    assert "sns:" in core.stdout and "riskcast[airflow]" in core.stdout, core.stdout[-2000:]
    cli = subprocess.run([str(venv / "bin" / "riskcast"), "--help"], cwd=tmp_path, env=core_env,
                         capture_output=True, text=True)
    assert cli.returncode == 0 and "ingest" in cli.stdout, cli.stderr[-2000:]
    parse = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(REPO / 'dags')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "import riskcast_airflow; assert riskcast_airflow.__file__.startswith(" + repr(str(site)) + ")\n"
        "print(sorted(bag.dag_ids))\n"
    )
    home = {**env, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    dags = subprocess.run([str(py), "-c", parse], cwd=tmp_path, env=home, capture_output=True, text=True)
    assert dags.returncode == 0 and "riskcast_forecast" in dags.stdout, dags.stderr[-3000:]
