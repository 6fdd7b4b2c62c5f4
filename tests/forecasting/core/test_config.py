"""Settings: defaults, YAML file, env precedence, secrets, and errors that name the field."""

from __future__ import annotations

import pytest

from forecasting.core.config import load_settings
from forecasting.core.errors import ConfigError


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
