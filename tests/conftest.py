"""Shared fixtures: isolated env and settings per test, one local Ray per session.

Fixtures that only one module needs live in that module.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.support.keys import TEST_PII_KEY

_REPO = Path(__file__).resolve().parents[1]
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="riskcast-tests-"))


def pytest_configure(config: pytest.Config) -> None:
    # Before anything imports Airflow or Ray: keep their state out of $HOME.
    for name in [k for k in os.environ if k.startswith("RISKCAST_") and k != "RISKCAST_TEST_POSTGRES_URL"]:
        del os.environ[name]
    os.environ["RISKCAST_PII_KEY"] = TEST_PII_KEY
    os.environ.setdefault("AIRFLOW_HOME", str(_SESSION_TMP / "airflow"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # dag.test() runs the serialized DAG of the dags-folder bundle: point it at ours
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(_REPO / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(_REPO / "plugins"))
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    os.environ.pop("RAY_ADDRESS", None)


@pytest.fixture
def settings_factory(tmp_path: Path):
    """Build Settings rooted in this test's tmp folder; keyword overrides win."""
    from forecasting.core.config import load_settings

    def _make(**overrides):
        base = {
            "landing_uri": str(tmp_path / "landing"),
            "lake_uri": str(tmp_path / "lake"),
            "reserves_url": f"sqlite:///{tmp_path / 'reserves.db'}",
        }
        base.update(overrides)
        return load_settings(None, **base)

    return _make


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance for the whole session (ray.init costs 3-4 s)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL URL for production-path tests; skip visibly where none is configured."""
    url = os.environ.get("RISKCAST_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI=true but RISKCAST_TEST_POSTGRES_URL is not set (.ci/run sets it)")
        pytest.skip("no PostgreSQL configured: set RISKCAST_TEST_POSTGRES_URL to run this test")
    return url
