"""What of the settings leaves this process for Ray: an allow-list, no secret, no credential.

Ray tasks (backtest windows, forecast shards) and intake actors receive their settings
through Ray's object store, and a Ray Job receives them as ``RISKCAST_*`` environment
variables, which the Ray dashboard shows to whoever can open it. So what goes there is
``for_workers(settings)``:

- the settings ``SHIPPED`` names, each with the reason a worker needs it; every other
  setting (``HELD``) stays here: a worker gets a value that fails loudly if used
  (``HELD_URL``) or None, never the real one;
- inside shipped sections, every secret field (``SecretStr``: the SMTP password, the
  webhook URL) is None;
- every URL in what is shipped loses its credentials (a password in its userinfo,
  ``password=``/``token=`` parameters: ``settings_checks.strip_url``).

The PII key is HELD: the intake actors that hash (PII columns, or what the PII screen
finds) get it as a separate argument
(``ingest.actors``), never in an environment. A setting added to ``Settings`` must be put
in one list or the other (tests/forecasting/core/test_worker_settings.py says so).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr

from forecasting.core.config import Settings
from forecasting.core.settings_checks import strip_url

HELD_URL = "unset://held-back-from-ray-workers"
# setting -> why it stays in the driver (Airflow, the CLI)
HELD: dict[str, str] = {
    "pii_key": "secret: only the ingest actors that hash get it, as an argument",
    "reserves_url": "the reserves database is written by the driver only (publish, model records)",
}
# setting -> what a Ray worker (task, actor or job) reads it for
SHIPPED: dict[str, str] = {
    "landing_uri": "intake actors read the landing drops",
    "lake_uri": "every worker reads and writes the lake",
    "aws_conn_id": "the lake's credentials (the worker's own connection or instance role)",
    "public_base_url": "links in what a worker renders",
    "freq": "the panel's frequency", "horizon": "the forecast horizon",
    "quantiles": "forecast quantiles", "target": "the modelled target",
    "match_window_days": "audit matching", "estimated_thefts_method": "the panel's target",
    "backtest_windows": "backtest plan", "refit_every_window": "backtest plan",
    "intake_workers": "intake pool size", "intake_block_bytes": "streamed ingest",
    "intake_max_plain_bytes": "decompression cap", "intake_max_expansion": "decompression cap",
    "backtest_workers": "backtest plan", "forecast_shard_series": "forecast shards",
    "forecast_workers": "forecast shards", "calibration_tolerance": "the gate in a window",
    "escalation_quantile_history": "escalation thresholds",
    "max_backfill_days": "backfill range check", "ray": "Ray Train scaling (a job trains)",
    "model": "the network's hyper-parameters", "alerts": "alert rendering (secrets removed)",
    "validation": "GX options of the validation actors", "reserves": "Monte Carlo options",
    "escalation": "escalation thresholds", "ui": "page roles (no secret)",
    "drops": "arrival rules of a day an intake actor ingests (marker, per-site files)",
    "lookback_days": "the sweep's window (no secret)", "landing_retention_days": "retention (no secret)",
    "backtest_cutoffs": "backtest plan", "backtest_warm_start": "backtest windows",
    "backtest_warm_patience": "backtest windows", "backtest_reuse": "backtest windows",
    "backtest_baselines": "baselines a window fits", "ensemble_members": "the ensemble of a window",
    "ensemble_max_p": "ensemble rule", "ensemble_shrinkage": "ensemble rule",
    "ensemble_combination": "how member paths combine",
    "pii_screen": "intake actors screen text values for personal data (patterns, no secret)",
}  # fmt: skip


def for_workers(settings: Settings) -> Settings:
    """``settings`` as a Ray worker may hold them (see the module doc)."""
    update: dict[str, Any] = {name: _clean(getattr(settings, name)) for name in SHIPPED}
    update.update({name: None if _is_secret(settings, name) else HELD_URL for name in HELD})
    return settings.model_copy(update=update)


def shipped_names(settings: Settings) -> list[str]:
    """The top-level settings that leave this process, in declaration order."""
    return [name for name in type(settings).model_fields if name in SHIPPED]


def _is_secret(model: BaseModel, name: str) -> bool:
    value = getattr(model, name)
    return value is None or isinstance(value, SecretStr)


def _clean(value: Any) -> Any:
    """``value`` with secrets set to None and URL credentials stripped, however nested."""
    if isinstance(value, BaseModel):
        return value.model_copy(update={
            name: None if isinstance(getattr(value, name), SecretStr) else _clean(getattr(value, name))
            for name in type(value).model_fields
        })  # fmt: skip
    if isinstance(value, str):
        return strip_url(value)
    if isinstance(value, list | tuple):
        return type(value)(_clean(v) for v in value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value
