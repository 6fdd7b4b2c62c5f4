"""Forecast stage: sample paths and quantiles for every series of the panel.

Writes under ``<lake>/forecasts/as_of=D/``:

- ``quantiles.parquet``: ``unique_id, ds, step, mean, q0.05, q0.5, q0.9, q0.95`` (plus any
  other ``settings.quantiles``), ``model_version``; one row per series and horizon step.
- ``samples.parquet``: ``unique_id, step, ds, sample, value`` (int32 step/sample, float32
  value); ``settings.model.num_samples`` paths per series, what the reserves stage
  compounds with loss severities.

The paths are the ensemble the gating backtest chose and recorded in the registry with its
verdict (``registry.ensemble_weights``; evidence in ``backtests/as_of=D/ensemble.json``):
DeepAR and members such as ``local_nb``, combined by weight as ``settings.ensemble_combination``
says (``forecasting.model.mixture``: quantiles averaged in the heaviest member's path ranks,
or whole paths mixed); with no weights recorded, or DeepAR alone chosen, DeepAR's; a member
alone (the backtest found no blend better than the best member), that member's paths.
Cold-start sites (no observed history) are forecast from their static features. Paths are
seeded (``settings.model.seed``), so a rerun writes byte-identical files.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from forecasting.core.config import Settings
from forecasting.core.errors import RiskcastError
from forecasting.core.lake import Lake, join
from forecasting.core.layout import FORECASTS as FORECAST_STAGE
from forecasting.core.layout import QUANTILES_FILE, SAMPLES_FILE
from forecasting.core.schema import MODEL_VERSION, QUANTILE_LEVELS
from forecasting.model.mixture import DEEPAR, MEMBER_FITS, mix_forecasts, reference_member
from forecasting.model.registry import (
    LATEST,
    ensemble_weights,
    load_predictor,
    require_gate,
    resolve_version,
)
from forecasting.model.shards import plan as shard_plan
from forecasting.panel.build import read_panel
from forecasting.panel.calendar import partly_observed

log = logging.getLogger(__name__)


@dataclass
class ForecastSummary:
    """What ``riskcast forecast`` prints and Airflow passes on (JSON-able)."""

    as_of: str
    model_version: str
    ungated: str | None
    series: int
    cold_start: list[str]
    horizon: int
    num_samples: int
    first_period: str
    last_period: str
    capped_values: int
    quantiles_uri: str
    samples_uri: str
    ensemble: dict[str, float] = field(default_factory=dict)  # member -> share of the paths
    # first_period when as_of falls inside it (not its last day): its days so far are unused
    partly_observed: dict[str, Any] | None = None
    missing_data: dict[str, Any] = field(default_factory=dict)  # the panel's: drops that had not arrived

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def forecast_panel(
    settings: Settings, as_of: date, model_version: str = LATEST, *, allow_ungated: bool = False
) -> ForecastSummary:
    """Forecast every series of the ``as_of`` panel with a registered model; write both files.

    ``model_version`` ``latest`` is the newest model that passed the calibration gate on this
    as_of's panel. An explicit version must have passed it too (CalibrationGateError), unless
    ``allow_ungated`` (the summary's ``ungated`` says why it was needed).
    Raises ModelError when no such model exists or the forecasts are not sane (nothing is
    written then), InputError when the panel lacks the model's covariates.
    """

    df, spec = read_panel(settings, as_of)
    resolved = resolve_version(settings, model_version, as_of)
    ungated = require_gate(settings, resolved, as_of, allow_ungated=allow_ungated)
    model = load_predictor(settings, resolved)
    version = model.metrics["model_version"]
    fs = model.predict(df, num_samples=settings.model.num_samples, seed=settings.model.seed,
                       shards=shard_plan(settings))
    lake = Lake.from_settings(settings)
    fs, weights = _ensemble(settings, version, df, model, fs)
    levels = tuple(sorted(set(QUANTILE_LEVELS) | set(settings.quantiles)))
    quantiles = fs.to_frame(levels).assign(**{MODEL_VERSION: version})
    out = lake.stage(FORECAST_STAGE, as_of)
    periods = fs.periods()
    summary = ForecastSummary(
        as_of=str(as_of),
        model_version=version,
        ungated=ungated,
        series=len(fs.ids),
        cold_start=list(fs.cold_start),
        horizon=fs.horizon,
        num_samples=fs.num_samples,
        first_period=str(periods.min().date()),
        last_period=str(periods.max().date()),
        capped_values=fs.capped,
        quantiles_uri=join(out, QUANTILES_FILE),
        samples_uri=join(out, SAMPLES_FILE),
        ensemble=weights,
        partly_observed=partly_observed(as_of, spec.freq),
        missing_data=(lake.read_json(lake.panel_summary(as_of)).get("missing_data") or {}),
    )
    lake.write_parquet(fs.to_samples_frame(), summary.samples_uri)
    lake.write_parquet(quantiles, summary.quantiles_uri)
    return summary


def _ensemble(settings: Settings, version: str, df, model, fs):
    """(paths, weights): DeepAR's ``fs`` mixed with the members the registry's ensemble
    weights (recorded by the gating backtest, ``registry.ensemble_weights``) name.

    Members forecast the same panel with the same seed; where a member forecasts a series
    from another period (a site opening inside the horizon) that series keeps DeepAR's
    paths; a member that fails outright leaves DeepAR alone (logged; the weights say so).
    """
    chosen = ensemble_weights(settings, version)
    weights = {m: w for m, w in chosen.items() if m == DEEPAR or m in MEMBER_FITS} or {DEEPAR: 1.0}
    if list(weights) == [DEEPAR]:
        return fs, weights
    members = {DEEPAR: fs}
    try:
        for name in weights:
            if name != DEEPAR:
                fit = MEMBER_FITS[name]
                ray = {"use_ray": True} if "use_ray" in inspect.signature(fit).parameters else {}  # a network member
                member = fit(df, model.spec, settings, seed=settings.model.seed, horizon=fs.horizon, **ray)
                members[name] = member.predict(df, num_samples=fs.num_samples, seed=settings.model.seed)
        reference = reference_member(weights)
        return mix_forecasts(members, weights, strict=False, method=settings.ensemble_combination,
                             reference=reference), weights
    except (RiskcastError, ValueError, ArithmeticError) as exc:  # a member's data problem, not DeepAR's
        log.warning("ensemble %s not published, DeepAR alone: %s", weights, exc)
        return fs, {DEEPAR: 1.0}
