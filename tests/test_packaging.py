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
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    # Dependencies come from this environment's site-packages as a plain path entry: its
    # editable-install hook (a .pth there) does not run, so `forecasting` is the wheel's.
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True).strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
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
        "from forecasting.intake.suites import default_suites_dir, suite_names\n"
        "assert str(default_suites_dir()).startswith(sys.prefix), default_suites_dir()\n"
        "assert {'security_reports', 'panel'} <= set(suite_names()), suite_names()\n"
        "print('imported', len(" + repr(modules) + "))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(py), "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    cli = subprocess.run([str(venv / "bin" / "riskcast"), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert cli.returncode == 0 and "ingest" in cli.stdout, cli.stderr[-2000:]
