"""Typed settings: defaults < YAML file (``--config`` / ``RISKCAST_CONFIG``) < ``RISKCAST_*`` env.

Nested fields use ``__`` in env names, e.g. ``RISKCAST_RAY__NUM_WORKERS=2``.
Secrets (the PII hashing key, SMTP password, webhook URL, a URL with a password in it)
come from env or Airflow connections only; a YAML file that holds one is rejected. An
unknown key in the YAML file is an error naming the closest setting; an unknown
``RISKCAST_*`` env var is a warning. Error messages never quote a secret.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from forecasting.core.errors import ConfigError
from forecasting.core.layout import ALERTS, OUTBOX_FILE
from forecasting.core.settings_checks import (
    describe,
    mask_url,
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


class RaySettings(BaseModel):
    """Ray Train scaling; ``address`` None starts local Ray, else joins that cluster."""

    address: str | None = None
    jobs_address: str | None = Field(
        None, description="Ray Jobs API (http://head:8265): train as a Ray Job there"
    )
    num_workers: int = Field(1, ge=1)
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0)
    max_failures: int = Field(2, ge=0)
    checkpoints_to_keep: int = Field(2, ge=1)
    job_timeout_s: int = Field(3600, ge=10)


class ModelSettings(BaseModel):
    """DeepAR (negative binomial) hyper-parameters."""

    context_length: int | None = Field(None, ge=1, description="None: 4 x horizon, at least 12")
    num_layers: int = Field(2, ge=1)
    hidden_size: int = Field(40, ge=4)
    dropout_rate: float = Field(0.1, ge=0, lt=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-8, ge=0)
    max_epochs: int = Field(30, ge=1)
    batches_per_epoch: int = Field(50, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(5, ge=1)
    validation: Literal["refit", "holdout", "in_sample"] = Field(
        "refit", description="refit: early-stop on each series' last horizon (left out of "
        "training), then train again on every period for the best epoch count; holdout: keep "
        "the early-stopped network only (it never sees the last window); in_sample: one run on "
        "every period, the last window only monitors it (overfits small networks). Measured in "
        "bench/README.md (## backtest)"
    )
    pool_holdout: bool = Field(
        True, description="with validation=refit, forecast from both networks (the refit and "
        "the early-stopped one), half of the sample paths each: a two-member ensemble at no "
        "extra training cost"
    )
    num_samples: int = Field(
        1000, ge=10, description="sample paths per series (split between pooled networks); quantiles "
        "of counts from 200 paths scored carparts 0.005 worse in mean_wQL (sampling noise)"
    )
    gradient_clip_val: float = Field(10.0, gt=0)
    seed: int = 0
    num_threads: int = Field(
        1, ge=1, description="torch CPU threads per fit/predict process or Ray worker; a small "
        "LSTM runs fastest on 1 (more threads mostly spin on a shared machine)"
    )


class AlertSettings(BaseModel):
    """Where alerts go. ``routes`` picks among file, smtp, webhook, sns."""

    routes: list[Literal["file", "smtp", "webhook", "sns"]] = ["file"]
    outbox_path: str | None = Field(None, description=f"None: <lake>/{ALERTS}/{OUTBOX_FILE}")
    max_rows: int = Field(20, ge=0)
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "riskcast@localhost"
    smtp_to: list[str] = []
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    webhook_url: SecretStr | None = None
    timeout_s: float = Field(15.0, gt=0, description="per-route network timeout (SMTP, webhook)")
    sns_topic_arn: str | None = None
    aws_conn_id: str = "aws_default"


class ValidationSettings(BaseModel):
    """Great Expectations run options."""

    max_bad_row_share: float = Field(0.2, ge=0, le=1)
    volume_window_days: int = Field(14, ge=1)
    volume_max_factor: float = Field(5.0, gt=1)
    volume_min_factor: float = Field(
        0.25, ge=0, description="a day with fewer rows than this x the median of recent days "
        "is rejected (a lost file or a cut-off export); 0 turns the lower bound off"
    )
    max_row_age_days: int | None = Field(
        30, ge=0, description="rows dated (reported_at, count_date) more than this many days "
        "before the drop's day are held back as stale; None turns the check off"
    )
    sqft_min: float = 1_000
    sqft_max: float = 5_000_000
    batch_days: int = Field(
        60, ge=1, description="a backfill validates up to this many days of a source in one GX "
        "run (the fixed cost of a suite run is paid per batch); 1 validates day by day"
    )
    batch_rows: int = Field(500_000, ge=1, description="a batch stops growing at this many rows")
    block_rows: int = Field(
        500_000, ge=1, description="a day with more bronze rows is validated in blocks of about "
        "this many rows (bounded memory, the same files), when its suite can be split"
    )


class ReservesSettings(BaseModel):
    """Monte Carlo of compound losses (incident paths x empirical loss severity)."""

    draws_per_path: int = Field(4, ge=1, description="severity draws per incident sample path")
    seed: int = Field(0, description="mixed with the as-of date, so reruns are identical")
    min_region_losses: int = Field(30, ge=1, description="fewer: pool the network's losses")


class EscalationSettings(BaseModel):
    """Per-warehouse thresholds on a period's P95; absent sites default from their history."""

    incidents_p95: dict[str, float] = Field(default_factory=dict, description="warehouse -> count")
    loss_eur_p95: dict[str, float] = Field(default_factory=dict, description="warehouse -> EUR")
    history_margin: float = Field(
        1.25, ge=1, description="history default: margin x the history quantile, so noise does not escalate"
    )
    severe_factor: float = Field(2.0, gt=1, description="P95 above factor x threshold: severe")
    min_history_periods: int = Field(8, ge=1, description="fewer: no history default")


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
    pii_key: SecretStr | None = None
    ray: RaySettings = RaySettings()
    model: ModelSettings = ModelSettings()
    alerts: AlertSettings = AlertSettings()
    validation: ValidationSettings = ValidationSettings()
    reserves: ReservesSettings = ReservesSettings()
    escalation: EscalationSettings = EscalationSettings()

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
        """JSON-able dict of every setting with secrets removed (Ray config, registry)."""
        data = self.model_dump(mode="json", exclude={"pii_key"})
        for url in ("reserves_url", "landing_uri", "lake_uri"):
            data[url] = mask_url(data[url])
        data["alerts"] = {k: v for k, v in data["alerts"].items() if k not in ALERT_SECRET_FIELDS}
        return data


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
    unknown = unknown_keys(data, Settings)
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)}; fix the key")
    with_password = urls_with_passwords(data)
    if with_password:
        raise ConfigError(
            f"config file {path}: {with_password} hold(s) a URL with a password: remove the "
            "password from the file and set the whole URL through its RISKCAST_* env var "
            "(e.g. RISKCAST_RESERVES_URL) or use a password file (.pgpass)"
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
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        # from None: the chained pydantic error would print every input, secrets included
        raise ConfigError(describe(exc, SECRET_PATHS)) from None
    except SettingsError as exc:  # an env value that is not JSON where a list/mapping is due
        raise ConfigError(
            f"invalid settings: {exc}; list and mapping settings in env vars are JSON, e.g. "
            """RISKCAST_ALERTS__ROUTES='["smtp"]'"""
        ) from None
    finally:
        _YAML_VALUES.reset(token)


def with_ray_overrides(settings: Settings, workers: int | None = None, use_gpu: bool | None = None) -> Settings:
    """``settings`` with a run's Ray choices applied (CLI flags, DAG params); None keeps the setting."""
    update = {k: v for k, v in {"num_workers": workers, "use_gpu": use_gpu}.items() if v is not None}
    return settings.model_copy(update={"ray": settings.ray.model_copy(update=update)})
