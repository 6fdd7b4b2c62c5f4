"""Typed settings: defaults < YAML file (``--config`` / ``RISKCAST_CONFIG``) < ``RISKCAST_*`` env.

Nested fields use ``__`` in env names, e.g. ``RISKCAST_RAY__NUM_WORKERS=2``.
Secrets (the PII hashing key, SMTP password, webhook URL, a URL with a credential in it:
a password in its userinfo or a ``password=``/``token=``-style query parameter) come from env
or Airflow connections only; a YAML file that holds one is rejected. An invalid value is
never quoted, whatever the setting ("value hidden"): the error names the setting, where it
came from and the type it expects. An
unknown key in the YAML file is an error naming the closest setting; an unknown
``RISKCAST_*`` env var is a warning. Error messages never quote a secret.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from forecasting.core.drops import DropSettings, DropsSettings
from forecasting.core.errors import ConfigError
from forecasting.core.page_roles import PageRoles
from forecasting.core.setting_groups import (  # noqa: F401 - importable from here as before
    AlertSettings,
    EscalationSettings,
    ModelSettings,
    PiiScreenSettings,
    RaySettings,
    ReservesSettings,
    ValidationSettings,
)
from forecasting.core.settings_checks import (
    describe,
    mask_urls,
    unknown_env,
    unknown_keys,
    urls_with_passwords,
)

log = logging.getLogger(__name__)

CONFIG_ENV = "RISKCAST_CONFIG"
SECRET_FIELDS = ("pii_key",)
ALERT_SECRET_FIELDS = ("smtp_password", "webhook_url")
SECRET_PATHS = (*SECRET_FIELDS, *(f"alerts.{k}" for k in ALERT_SECRET_FIELDS))
ENV_PREFIX = "RISKCAST_"


class Settings(BaseSettings):
    """All of riskcast's settings. Invalid values fail at load, naming the field."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    landing_uri: str = "./data/landing"
    lake_uri: str = "./data/lake"
    reserves_url: str = "sqlite:///./data/reserves.db"
    aws_conn_id: str = "aws_default"
    # the Airflow web server as people reach it (e.g. https://airflow.example.com): alert links
    # to reports and Data Docs become pages of the riskcast plugin there instead of lake paths
    public_base_url: str | None = None
    freq: Literal["D", "W"] = "W"
    horizon: int = Field(8, ge=1)
    quantiles: tuple[float, ...] = (0.5, 0.9, 0.95)
    target: Literal["reported_incidents", "unexplained_losses", "estimated_thefts"] = (
        "estimated_thefts"
    )
    match_window_days: int = Field(14, ge=0)
    estimated_thefts_method: Literal["union", "rate"] = "union"  # see forecasting.panel.targets
    backtest_windows: int = Field(3, ge=1)
    refit_every_window: bool = True
    intake_workers: int = Field(
        1, ge=0, description="backfill partitions at once (ingest of days, GX screens of day "
        "batches): 1 in process; N > 1 on N Ray actors; 0 one actor per Ray CPU. Outputs are "
        "identical; a single day or a short range stays in process"
    )
    intake_block_bytes: int = Field(
        64 * 1024**2, ge=1024, description="a source-day whose landing files hold more bytes is "
        "ingested in blocks of about this many bytes (bounded memory, identical output); a "
        "smaller one is read whole"
    )
    intake_max_plain_bytes: int = Field(8 * 1024**3, ge=1024, description="decompressed size cap of a landing file")
    intake_max_expansion: float = Field(
        200.0, gt=1, description="expansion-ratio cap of a compressed landing file past its first 16 MiB"
    )
    backtest_workers: int = Field(
        1, ge=0, description="backtest windows at once: 1 in process; N > 1 as Ray tasks, at most "
        "N in flight; 0 as many as the Ray cluster's CPUs allow (each task takes model.num_threads "
        "CPUs; results are identical). In process whenever refit_every_window is False"
    )
    # backtest windows and ensemble choice: README settings table, docs/architecture.md
    backtest_cutoffs: Literal["anchored", "latest"] = Field(
        "anchored", description="anchored: cutoffs on a fixed calendar grid, so next week's backtest "
        "reuses this week's windows; latest: the last cutoff is the horizon before the panel's end")
    backtest_warm_start: bool = Field(
        True, description="DeepAR windows fitted in cutoff order, each from the weights of the one before")
    backtest_warm_patience: int = Field(1, ge=1, description="epochs without a better held-out loss (warm)")
    backtest_reuse: bool = Field(True, description="reuse stored windows of unchanged cutoff, data and config")
    backtest_baselines: tuple[str, ...] = Field(
        ("seasonal_naive", "croston_sba", "tsb", "adida"), description="baselines beside riskcast "
        "(gluonts_deepar, plain GluonTS at riskcast's budget, is opt-in)")
    ensemble_members: tuple[str, ...] = Field(
        ("local_nb", "gbm"), description="fitted beside DeepAR at each cutoff (local_nb, gbm, tft)")
    ensemble_max_p: float = Field(
        0.05, gt=0, lt=1, description="a blend publishes only when a paired bootstrap gives p <= this")
    ensemble_shrinkage: float = Field(0.5, ge=0, le=1, description="share of blend weights moved to the best")
    ensemble_combination: Literal["quantiles", "paths"] = Field(
        "quantiles", description="quantiles: quantile averaging in a reference's path ranks; paths: mixing")
    forecast_shard_series: int = Field(
        5000, ge=1, description="a panel with more series samples its forecast paths in shards of "
        "this many series, each seeded on its own: the same paths whatever runs them"
    )
    forecast_workers: int = Field(
        1, ge=0, description="forecast shards at once: 1 in process; N > 1 as Ray tasks, at most N "
        "in flight; 0 as many as the Ray cluster's CPUs allow (identical paths)"
    )
    calibration_tolerance: float = Field(0.025, ge=0, lt=0.5)
    escalation_quantile_history: float = Field(0.95, gt=0, lt=1)
    max_backfill_days: int = Field(
        3 * 366, ge=1, description="longest --from/--to range one ingest run accepts (a typo "
        "like --to 9999-12-31 must not start millions of day runs)"
    )
    lookback_days: int = Field(14, ge=0, description="past days each ingest run sweeps for "
                               "added, changed or removed landing files (restatements); 0: off")
    landing_retention_days: int = Field(30, ge=1, description="landing files of older days are "
                                        "deleted once ingested and validated; bronze never")
    pii_key: SecretStr | None = None
    pii_screen: PiiScreenSettings = PiiScreenSettings()
    drops: DropsSettings = DropsSettings()
    ray: RaySettings = RaySettings()
    model: ModelSettings = ModelSettings()
    alerts: AlertSettings = AlertSettings()
    validation: ValidationSettings = ValidationSettings()
    reserves: ReservesSettings = ReservesSettings()
    escalation: EscalationSettings = EscalationSettings()
    ui: PageRoles = PageRoles()

    @field_validator("quantiles")
    @classmethod
    def _quantiles_in_unit_interval(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any(not 0 < q < 1 for q in v):
            raise ValueError("every quantile must lie strictly between 0 and 1")
        return tuple(sorted(v))

    @model_validator(mode="after")
    def _context_fits(self) -> Settings:
        if self.model.context_length is not None and self.model.context_length < 2:
            raise ValueError("model.context_length must be at least 2")
        return self

    def drop(self, source: str) -> DropSettings:
        """The drop settings of daily ``source``."""
        if source not in DropsSettings.model_fields:
            raise ConfigError(f"no drop settings for {source!r}: use one of {sorted(DropsSettings.model_fields)}")
        return getattr(self.drops, source)

    @property
    def context_length(self) -> int:
        """The model's context length: set, or 4 x horizon (at least 12)."""
        return self.model.context_length or max(12, 4 * self.horizon)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # first wins: CLI overrides, then env, then the YAML file, then defaults
        return (init_settings, env_settings, _YamlSource(settings_cls))

    def flat(self) -> dict[str, Any]:
        """JSON-able dict of every setting with secrets removed and every URL credential
        masked (Ray config, registry, summaries)."""
        data = self.model_dump(mode="json", exclude={"pii_key"})
        data["alerts"] = {k: v for k, v in data["alerts"].items() if k not in ALERT_SECRET_FIELDS}
        return mask_urls(data)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist: fix --config or {CONFIG_ENV}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings, not {type(data).__name__}")
    leaked = [k for k in SECRET_FIELDS if k in data]
    leaked += [f"alerts.{k}" for k in ALERT_SECRET_FIELDS if k in (data.get("alerts") or {})]
    if leaked:
        raise ConfigError(
            f"config file {path} holds secret(s) {leaked}: remove them and set them through "
            "RISKCAST_* env vars or an Airflow connection instead"
        )
    if unknown := unknown_keys(data, Settings):
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)} (values hidden); fix the key")
    if with_password := urls_with_passwords(data):
        raise ConfigError(
            f"config file {path}: {with_password} hold(s) a URL with a credential (a password in "
            "it, or a password=/token= parameter): remove it from the file and set the whole URL "
            "through its RISKCAST_* env var (e.g. RISKCAST_RESERVES_URL) or use a password file (.pgpass)"
        )
    return data


class _YamlSource(PydanticBaseSettingsSource):
    """The YAML file named by load_settings (or RISKCAST_CONFIG), already read."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_YAML_VALUES.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_YAML_VALUES.get() or {})


_YAML_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("riskcast_yaml", default=None)


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from an optional YAML file, env vars and explicit overrides.

    Env beats the file; ``overrides`` (CLI flags; None means unset) beat both.
    Raises ConfigError naming the offending field.
    """
    path = config or os.environ.get(CONFIG_ENV)
    token = _YAML_VALUES.set(_read_yaml(Path(path)) if path else {})
    for warning in unknown_env(dict(os.environ), Settings, ENV_PREFIX):
        log.warning("%s", warning)
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        # from None: the chained pydantic error would print every input, secrets included
        raise ConfigError(describe(exc, Settings, partial(_origin, given, path))) from None
    except SettingsError as exc:  # an env value that is not JSON where a list/mapping is due
        raise ConfigError(
            f"invalid settings: {exc}; list and mapping settings in env vars are JSON, e.g. "
            """RISKCAST_ALERTS__ROUTES='["smtp"]'"""
        ) from None
    finally:
        _YAML_VALUES.reset(token)


def _origin(overrides: dict[str, Any], config: str | Path | None, field: str) -> str:
    """Where the value of setting ``field`` (dotted) came from, first source first."""
    parts = field.split(".")
    if parts[0] in overrides:
        return "a command-line flag or override"
    for depth in range(len(parts), 0, -1):  # RISKCAST_RAY__NUM_WORKERS, then RISKCAST_RAY
        name = ENV_PREFIX + "__".join(parts[:depth]).upper()
        if name in os.environ:
            return f"env {name}"
    return f"config file {config}" if config else ""


def with_ray_overrides(settings: Settings, workers: int | None = None, use_gpu: bool | None = None) -> Settings:
    """``settings`` with a run's Ray choices applied (CLI flags, DAG params); None keeps the setting."""
    update = {k: v for k, v in {"num_workers": workers, "use_gpu": use_gpu}.items() if v is not None}
    return settings.model_copy(update={"ray": settings.ray.model_copy(update=update)})
