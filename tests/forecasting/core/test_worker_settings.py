"""What leaves the process for Ray is an allow-list: no secret, no URL credential, and the PII
key only as the argument of the intake actors that hash (never in settings of a task, never
in an environment). Checked on the settings object and on what real Ray tasks and actors got."""

from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel, SecretStr

from forecasting.core.config import Settings
from forecasting.core.worker_settings import HELD, HELD_URL, SHIPPED, for_workers
from tests.support.keys import TEST_PII_KEY

SMTP, HOOK, PG = "smtp-pass-0451", "hook-token-0452", "pg-pass-0453"


@pytest.fixture
def secret_settings(settings_factory, monkeypatch):
    monkeypatch.setenv("RISKCAST_ALERTS__SMTP_PASSWORD", SMTP)
    monkeypatch.setenv("RISKCAST_ALERTS__WEBHOOK_URL", f"https://hooks.example.com/x?token={HOOK}")
    return settings_factory(reserves_url=f"postgresql://svc@db/r?password={PG}",
                            public_base_url=f"https://user:{PG}@airflow.example.com",
                            ray={"address": f"ray://head:10001?token={PG}"})  # fmt: skip


def _secrets_in(blob: bytes) -> list[str]:
    return [s for s in (SMTP, HOOK, PG, TEST_PII_KEY) if s.encode() in blob]


def test_every_setting_is_shipped_or_held_and_every_secret_is_known():
    assert set(SHIPPED) | set(HELD) == set(Settings.model_fields) and not set(SHIPPED) & set(HELD)

    def secret_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
        out = set()
        for name, info in model.model_fields.items():
            if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
                out |= secret_fields(info.annotation, f"{prefix}{name}.")
            elif "SecretStr" in str(info.annotation):
                out.add(prefix + name)
        return out

    secrets = secret_fields(Settings)
    assert secrets == {"pii_key", "alerts.smtp_password", "alerts.webhook_url"}, "a new secret: hold it"


def test_workers_get_no_secret_and_no_url_credential(secret_settings):
    shipped = for_workers(secret_settings)
    assert secret_settings.pii_key is not None and secret_settings.alerts.smtp_password is not None
    assert shipped.pii_key is None and shipped.alerts.smtp_password is None and shipped.alerts.webhook_url is None
    assert shipped.reserves_url == HELD_URL
    assert shipped.public_base_url == "https://user@airflow.example.com"
    assert shipped.ray.address == "ray://head:10001"
    assert _secrets_in(pickle.dumps(shipped)) == []  # what Ray's object store would hold
    assert _secrets_in(pickle.dumps(secret_settings)) != []  # (the check can fail)
    assert shipped.model.model_dump() == secret_settings.model.model_dump()  # the rest as it was
    assert shipped.horizon == secret_settings.horizon and shipped.lake_uri == secret_settings.lake_uri


def _task_view(settings: Settings) -> bytes:  # a Ray task's body: the settings it received
    return pickle.dumps(settings)


def _actor_view(settings: Settings, chunk: list) -> tuple[bytes, str | None]:
    key = settings.pii_key.get_secret_value() if isinstance(settings.pii_key, SecretStr) else None
    return pickle.dumps(settings.model_copy(update={"pii_key": None})), key


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ray_tasks_and_actors_receive_the_allow_list(ray_local, secret_settings):
    from forecasting.core.cluster import ray_map
    from forecasting.ingest.actors import run_on_actors

    settings = secret_settings.model_copy(update={"intake_workers": 2})
    got = ray_map(settings, _task_view, [(settings,), (settings,)], 2, "check", "backtest_workers")
    assert all(_secrets_in(blob) == [] for blob in got)
    hashing = run_on_actors(settings, _actor_view, [[1], [2]], "check", sources=["security_reports"])
    assert [key for _, key in hashing] == [TEST_PII_KEY, TEST_PII_KEY]  # the hashing actors have it
    assert all(_secrets_in(blob) == [] for blob, _ in hashing)  # ... and nothing else secret
    # no PII columns, but the PII screen may hash what it finds in any source: the key; off, none
    screening = run_on_actors(settings, _actor_view, [[1], [2]], "check", sources=["events"])
    assert [key for _, key in screening] == [TEST_PII_KEY, TEST_PII_KEY]
    off = settings.model_copy(update={"pii_screen": settings.pii_screen.model_copy(update={"enabled": False})})
    plain = run_on_actors(off, _actor_view, [[1], [2]], "check", sources=["events"])
    assert [key for _, key in plain] == [None, None]
    assert all(_secrets_in(blob) == [] for blob, _ in screening + plain)
