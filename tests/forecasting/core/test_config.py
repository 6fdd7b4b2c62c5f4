"""Settings: defaults, YAML file, env precedence, secrets, and errors that name the field."""

from __future__ import annotations

import logging

import pytest

from forecasting.core.config import load_settings
from forecasting.core.errors import ConfigError
from forecasting.core.lake import parse_date


def test_defaults_are_the_embedded_stack(monkeypatch):
    monkeypatch.delenv("RISKCAST_CONFIG", raising=False)
    s = load_settings()
    assert s.lake_uri == "./data/lake"
    assert s.reserves_url == "sqlite:///./data/reserves.db"
    assert s.freq == "W" and s.quantiles == (0.5, 0.9, 0.95)
    assert s.context_length == max(12, 4 * s.horizon)


def test_env_beats_yaml_and_overrides_beat_env(tmp_path, monkeypatch):
    cfg = tmp_path / "riskcast.yaml"
    cfg.write_text("horizon: 4\nlake_uri: /from/yaml\nray:\n  num_workers: 3\n  use_gpu: true\n")
    monkeypatch.setenv("RISKCAST_LAKE_URI", "/from/env")
    monkeypatch.setenv("RISKCAST_RAY__NUM_WORKERS", "2")
    s = load_settings(cfg)
    assert s.horizon == 4
    assert s.lake_uri == "/from/env"
    assert s.ray.num_workers == 2 and s.ray.use_gpu is True  # nested merge keeps yaml's use_gpu
    assert load_settings(cfg, horizon=6).horizon == 6


def test_config_file_from_env_var(tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("freq: D\n")
    monkeypatch.setenv("RISKCAST_CONFIG", str(cfg))
    assert load_settings().freq == "D"


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [("horizon: 0\n", "horizon"), ("freq: Q\n", "freq"), ("ray:\n  num_workers: -1\n", "ray.num_workers"),
     ("quantiles: [0.5, 1.5]\n", "quantiles"), ("no_such_setting: 1\n", "no_such_setting")],
)
def test_invalid_settings_name_the_field(tmp_path, yaml_text, field):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError, match=rf"'{field}"):
        load_settings(cfg)


def test_secrets_are_refused_in_yaml(tmp_path):
    cfg = tmp_path / "secret.yaml"
    cfg.write_text("pii_key: hunter2hunter2hunter2\n")
    with pytest.raises(ConfigError, match="RISKCAST_"):
        load_settings(cfg)


def test_secret_from_env_is_hidden_from_flat_dump(monkeypatch):
    monkeypatch.setenv("RISKCAST_PII_KEY", "a-very-secret-key-123")
    s = load_settings()
    assert s.pii_key.get_secret_value() == "a-very-secret-key-123"
    assert "a-very-secret-key-123" not in str(s.flat()) and "a-very-secret-key-123" not in repr(s)


def test_missing_or_broken_yaml_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("horizon: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)


# ---------------------------------------------------------------------------- issue 14: bad input
SECRET = "hunter2-very-secret-value"


@pytest.mark.parametrize(
    ("yaml_text", "named", "closest"),
    [
        (f"alerts:\n  smtp_pasword: {SECRET}\n", "'alerts.smtp_pasword'", "'alerts.smtp_password'"),
        ("horizn: 4\n", "'horizn'", "'horizon'"),
        ("ray:\n  num_worker: 2\n", "'ray.num_worker'", "'ray.num_workers'"),
        (f"pii_keys: {SECRET}\n", "'pii_keys'", "'pii_key'"),
    ],
)
def test_unknown_yaml_keys_are_an_error_with_the_closest_name_and_no_value(
    tmp_path, yaml_text, named, closest
):
    cfg = tmp_path / "typo.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    msg = str(err.value)
    assert named in msg and f"did you mean {closest}" in msg and SECRET not in msg


def test_unknown_env_vars_are_a_warning_with_the_closest_name(monkeypatch, caplog):
    monkeypatch.setenv("RISKCAST_ALERTS__SMTP_PASWORD", SECRET)
    monkeypatch.setenv("RISKCAST_HORIZN", "3")
    with caplog.at_level(logging.WARNING):
        load_settings()
    text = caplog.text
    assert "RISKCAST_ALERTS__SMTP_PASWORD" in text and "RISKCAST_ALERTS__SMTP_PASSWORD?" in text
    assert "did you mean RISKCAST_HORIZON?" in text and SECRET not in text


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("RISKCAST_ALERTS__SMTP_PASSWORD", "x" * 3),  # fine on its own ...
        ("RISKCAST_PII_KEY", SECRET),
    ],
)
def test_errors_never_print_a_secret(monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    monkeypatch.setenv("RISKCAST_ALERTS__SMTP_PORT", "not-a-port")  # ... the error is elsewhere
    monkeypatch.setenv("RISKCAST_ALERTS", "{}")
    with pytest.raises(ConfigError) as err:
        load_settings(alerts={"smtp_password": SECRET, "smtp_port": "nope"})
    assert SECRET not in str(err.value) and err.value.__cause__ is None
    assert "'alerts.smtp_port'" in str(err.value)


def test_a_url_with_a_password_is_a_secret(tmp_path, monkeypatch):
    url = f"postgresql+psycopg://publisher:{SECRET}@db:5432/reserves"
    cfg = tmp_path / "url.yaml"
    cfg.write_text(f"reserves_url: '{url}'\n")
    with pytest.raises(ConfigError, match="URL with a credential") as err:
        load_settings(cfg)
    assert SECRET not in str(err.value) and "reserves_url" in str(err.value)
    monkeypatch.setenv("RISKCAST_RESERVES_URL", url)  # from env it is allowed, never shown
    settings = load_settings()
    assert settings.reserves_url == url and SECRET not in str(settings.flat())
    with pytest.raises(ConfigError) as err:
        load_settings(horizon=0, lake_uri=f"s3://key:{SECRET}@bucket/lake", freq="Q")
    assert SECRET not in str(err.value)


CREDENTIAL_URLS = [
    f"postgresql://svc@db/reserves?password={SECRET}",  # libpq and SQLAlchemy accept it
    f"postgresql+psycopg://svc@db/reserves?sslmode=require&PASSWORD={SECRET}",
    f"https://hooks.example.com/x?token={SECRET}",
    f"https://bucket.s3.amazonaws.com/k?X-Amz-Credential=AKIA&X-Amz-Signature={SECRET}",
    f"s3://key:{SECRET}@bucket/lake",
]


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
def test_a_credential_in_a_url_query_is_a_secret_too(tmp_path, monkeypatch, url):
    from forecasting.core.settings_checks import mask_url, strip_url

    cfg = tmp_path / "url.yaml"
    cfg.write_text(f"public_base_url: '{url}'\nreserves_url: '{url}'\n")
    with pytest.raises(ConfigError, match="URL with a credential") as err:
        load_settings(cfg)  # refused in YAML, named, never quoted
    assert SECRET not in str(err.value) and "reserves_url" in str(err.value)
    monkeypatch.setenv("RISKCAST_RESERVES_URL", url)
    settings = load_settings()
    assert settings.reserves_url == url and SECRET not in str(settings.flat())
    assert SECRET not in mask_url(url) and "***" in mask_url(url)
    assert SECRET not in strip_url(url) and "***" not in strip_url(url)
    with pytest.raises(ConfigError) as err:
        load_settings(horizon=0, public_base_url=url)
    assert SECRET not in str(err.value)


def test_urls_without_credentials_are_left_alone():
    from forecasting.core.settings_checks import mask_url, url_password

    for url in ("s3://bucket/lake", "sqlite:///./data/reserves.db", "postgresql://svc@db/r?sslmode=require",
                "http://airflow.example.com/riskcast", "./data/lake"):  # fmt: skip
        assert not url_password(url) and mask_url(url) == url


@pytest.mark.parametrize(
    "value", ["2024-04-20-garbage", "20240420", "2024-04-20T10:00", "1000-01-01", "9999-12-31", ""]
)
def test_dates_are_strict_iso_days_in_range(value):
    with pytest.raises(ConfigError, match="--date"):
        parse_date(value, "--date")


def test_an_env_list_that_is_not_json_is_one_line_without_the_secret(monkeypatch):
    monkeypatch.setenv("RISKCAST_ALERTS__SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("RISKCAST_ALERTS__ROUTES", "smtp")
    with pytest.raises(ConfigError, match=r"alerts.*JSON") as err:
        load_settings()
    assert SECRET not in str(err.value) and "\n" not in str(err.value)


def test_every_daily_source_has_drop_settings_from_yaml_and_env(tmp_path, monkeypatch, caplog):
    from forecasting.core.drops import DropsSettings
    from forecasting.core.schema import DAILY_SOURCES

    assert set(DropsSettings.model_fields) == set(DAILY_SOURCES)  # declared once, for each source
    cfg = tmp_path / "riskcast.yaml"
    cfg.write_text("drops:\n  security_reports:\n    success_marker: true\n    owner: SOC\n")
    monkeypatch.setenv("RISKCAST_DROPS__RECONCILIATION_LOGS__DEADLINE_HOURS", "8")
    with caplog.at_level(logging.WARNING):
        s = load_settings(cfg)
    assert not [r for r in caplog.records if "RISKCAST_DROPS" in r.getMessage()]  # a known setting
    assert s.drop("security_reports").success_marker and s.drop("security_reports").owner == "SOC"
    assert s.drop("reconciliation_logs").deadline_hours == 8
    assert s.lookback_days == 14 and s.landing_retention_days == 30
    with pytest.raises(ConfigError, match="no drop settings for 'events'"):
        s.drop("events")
    monkeypatch.setenv("RISKCAST_DROPS__RECONCILIATION_LOGS__DEADLINE_HOURS", "30")
    with pytest.raises(ConfigError, match="drops.reconciliation_logs.deadline_hours"):
        load_settings()
    cfg.write_text("drops:\n  security_reports:\n    sucess_marker: true\n")
    with pytest.raises(ConfigError, match="drops.security_reports.success_marker"):
        load_settings(cfg)


# ---------------------------------------------------------------------------- issue 32: value hidden
@pytest.mark.parametrize(
    ("env", "field", "expects"),
    [
        ("RISKCAST_MAX_BACKFILL_DAYS", "max_backfill_days", "expects int"),
        ("RISKCAST_HORIZON", "horizon", "expects int"),
        ("RISKCAST_ALERTS__ROUTES", "alerts.routes", "expects list["),
        ("RISKCAST_FREQ", "freq", "expects Literal['D', 'W']"),
        ("RISKCAST_RAY__NUM_WORKERS", "ray.num_workers", "expects int"),
        ("RISKCAST_INTAKE_MAX_EXPANSION", "intake_max_expansion", "expects float"),
    ],
)
def test_an_invalid_env_value_is_never_echoed_for_any_setting(monkeypatch, env, field, expects):
    """A secret pasted into the wrong setting (an integer, a list, a choice) stays hidden."""
    monkeypatch.setenv(env, f'"{SECRET}"' if field == "alerts.routes" else SECRET)
    with pytest.raises(ConfigError) as err:
        load_settings()
    msg = str(err.value)
    assert SECRET not in msg and "hunter2" not in msg and err.value.__cause__ is None
    assert f"setting '{field}' (from env {env})" in msg and expects in msg
    assert "value hidden" in msg and "\n" not in msg


def test_an_invalid_yaml_or_override_value_is_never_echoed(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"horizon: {SECRET}\nlookback_days: 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    msg = str(err.value)
    assert SECRET not in msg and f"setting 'horizon' (from config file {cfg}): expects int" in msg
    assert "value hidden" in msg
    with pytest.raises(ConfigError) as err:
        load_settings(intake_workers=SECRET, public_base_url=None)
    msg = str(err.value)
    assert SECRET not in msg and "'intake_workers' (from a command-line flag or override)" in msg


def test_an_unknown_setting_names_the_closest_one_without_its_value(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(max_backfil_days=SECRET)
    msg = str(err.value)
    assert "setting 'max_backfil_days'" in msg and "did you mean 'max_backfill_days'?" in msg
    assert SECRET not in msg and "value hidden" in msg
    cfg = tmp_path / "typo.yaml"
    cfg.write_text(f"max_backfil_days: {SECRET}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "did you mean 'max_backfill_days'?" in str(err.value) and "(values hidden)" in str(err.value)
    assert SECRET not in str(err.value)
