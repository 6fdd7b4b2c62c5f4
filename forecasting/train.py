"""Training stage: one global DeepAR (negative binomial), in process or as a Ray Train job.

``fit_model`` turns a panel into a ``FittedModel`` (the backtest calls it per window);
``train_model`` is the stage (``riskcast train``): read the lake panel, fit with Ray Train
V2 data parallelism, register the model under ``models/<version>/``.

The Ray job is ``forecasting.model.distributed``: a Ray Train V2 ``TorchTrainer`` whose
workers each fit their shard of series under ``RayDDPStrategy``, checkpointing every
epoch and resuming from the latest checkpoint when a worker is lost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import pandas as pd

from forecasting.config import Settings
from forecasting.errors import ModelError
from forecasting.lake import Lake, join
from forecasting.panel import PanelSpec

log = logging.getLogger(__name__)


@dataclass
class TrainSummary:
    """What ``riskcast train`` prints and Airflow passes on (JSON-able)."""

    as_of: str
    model_version: str
    uri: str
    snapshot_id: str
    series: int
    epochs: int
    best_epoch: int | None
    train_loss: float | None
    val_loss: float | None
    workers: int
    resumed_from_epoch: int
    seconds: float
    reused: bool = False  # the version was already registered: not retrained
    refit_epochs: int | None = None  # validation=refit: epochs of the run on every period
    pooled_networks: int = 1  # networks whose sample paths a forecast pools

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_model(settings: Settings, as_of: date, force: bool = False) -> TrainSummary:
    """Read the panel of ``as_of``, fit DeepAR as a Ray Train job and register it.

    Idempotent by logical date: the version is a hash of as_of, the panel snapshot and the
    model settings, so when that version is already registered it is reused as it is
    (a rerun publishes the same figures); ``force`` retrains and replaces it.
    """
    from forecasting.model.registry import model_version, register_model
    from forecasting.panel import read_panel

    t0 = time.perf_counter()
    df, spec = read_panel(settings, as_of)
    snapshot_id = panel_snapshot_id(settings, as_of)
    version = model_version(settings, as_of, snapshot_id)
    lake = Lake(settings.lake_uri, settings.aws_conn_id)
    manifest_uri = join(lake.models(version), "manifest.json")
    if not force and lake.exists(manifest_uri):
        m = lake.read_json(manifest_uri).get("metrics", {})
        log.info("model %s is already registered for this panel and settings: reused", version)
        return _summary(as_of, version, lake, snapshot_id, m, time.perf_counter() - t0, reused=True)
    fitted = fit_model(df, spec, settings, use_ray=True)
    m = fitted.metrics
    version = register_model(settings, fitted, as_of, snapshot_id, m)
    return _summary(as_of, version, lake, snapshot_id, m, time.perf_counter() - t0, reused=False)


def _summary(as_of, version, lake, snapshot_id, m, seconds, reused) -> TrainSummary:
    holdout = m.get("holdout") or {}  # a refit's early-stopped run holds the validation loss
    val_loss = m.get("best_val_loss", m.get("val_loss"))  # the registered epoch's
    return TrainSummary(
        as_of=str(as_of),
        model_version=version,
        uri=lake.models(version),
        snapshot_id=snapshot_id,
        series=int(m.get("series", 0)),
        epochs=int(m.get("epochs", 0)),
        best_epoch=m.get("best_epoch"),
        train_loss=m.get("train_loss"),
        val_loss=val_loss if val_loss is not None else holdout.get("best_val_loss"),
        workers=int(m.get("workers", 0)),
        resumed_from_epoch=int(m.get("resumed_from_epoch", 0)),
        seconds=round(seconds, 3),
        reused=reused,
        refit_epochs=m.get("refit_epochs"),
        pooled_networks=int(m.get("pooled_networks", 1)),
    )


def fit_model(
    df: pd.DataFrame,
    spec: PanelSpec,
    settings: Settings,
    *,
    seed: int | None = None,
    use_ray: bool = False,
    horizon: int | None = None,
):
    """Fit DeepAR NB on the observed (non-``is_future``) rows of ``df``; a ``FittedModel``.

    ``use_ray`` False fits in this process (backtest windows); True runs the Ray Train
    job of ``settings.ray``. Same network, data and defaults either way. ``seed``
    defaults to ``settings.model.seed``, ``horizon`` to ``settings.horizon``. Raises
    InputError for a panel a count model cannot use and ModelError when training
    diverges (NaN/inf loss) or no series is long enough to train on.
    """
    from forecasting.model.dataset import Encoders, check_panel, history_rows, training_entries
    from forecasting.model.estimator import gluonts_freq, model_config
    from forecasting.model.fitted import FittedModel

    check_panel(df, spec, "training panel")
    h = horizon or settings.horizon
    hist = history_rows(df)
    encoders = Encoders.fit(hist, spec)
    train, val = training_entries(
        hist, spec, encoders, gluonts_freq(spec.freq), holdout=h,
        in_sample=settings.model.validation == "in_sample",
    )
    n_series = len(train)
    train = [e for e in train if len(e["target"]) >= h]
    if not train:
        raise ModelError(
            f"no series has {h} observed periods to train on ({n_series} series with any): "
            "extend the history or lower the horizon"
        )
    longest = max(len(e["target"]) for e in train + val)
    config = model_config(settings, spec, encoders, horizon=h, longest_series=longest, seed=seed)
    config["use_gpu"] = settings.ray.use_gpu
    state, metrics = _fit(config, train, val, settings, use_ray)
    members: tuple[dict, ...] = ()
    if settings.model.validation == "refit" and val:
        holdout_state = state
        whole = {e["item_id"]: e for e in val}  # a validated series' entry spans its history
        everything = [whole.get(e["item_id"], e) for e in train]
        state, metrics = _refit(config, metrics, everything, settings, use_ray)
        members = (holdout_state,) if settings.model.pool_holdout else ()
    metrics["series"] = n_series
    metrics["pooled_networks"] = 1 + len(members)
    return FittedModel.from_state_dict(config, spec, encoders, state, metrics, members)


def _fit(config: dict, train: list[dict], val: list[dict], settings: Settings, use_ray: bool):
    """One training run (Ray Train or in process): (weights, metrics); ModelError on divergence."""
    from forecasting.model.fitting import fit_local

    train = train + _unseen_copies(train)
    if use_ray:
        from forecasting.model.distributed import fit_ray

        state, metrics = fit_ray(config, train, val, settings)
    else:
        state, metrics = fit_local(config, train, val, use_gpu=settings.ray.use_gpu)
    if metrics.get("diverged_epoch") is not None:
        raise ModelError(
            f"training diverged at epoch {metrics['diverged_epoch']} (train_loss="
            f"{metrics.get('train_loss')}, val_loss={metrics.get('val_loss')}): nothing was "
            "registered; lower model.lr or model.gradient_clip_val, or check the panel for "
            "extreme values"
        )
    if state is None:
        raise ModelError("training produced no epoch with a finite loss: nothing was registered")
    return state, metrics


def _refit(config: dict, holdout_metrics: dict, train: list[dict], settings: Settings, use_ray: bool):
    """Train again on ``train`` (every observed period) for as many epochs as the holdout run's best.

    The holdout run chose the epoch count on windows it never trained on; this run, seeded
    the same way, sees the last horizon too (the most recent evidence, which the holdout
    run had to leave out). ``config`` keeps ``max_epochs`` = that count.
    """
    epochs = int(holdout_metrics["best_epoch"]) + 1
    config.update(max_epochs=epochs, early_stop=False)
    state, metrics = _fit(config, train, [], settings, use_ray)
    metrics["holdout"] = {k: v for k, v in holdout_metrics.items() if k != "ray_run"}
    metrics["refit_epochs"] = epochs
    return state, metrics


def panel_snapshot_id(settings: Settings, as_of: date) -> str:
    """The panel's ``snapshot_id`` from its ``summary.json``; ModelError if absent."""
    lake = Lake(settings.lake_uri, settings.aws_conn_id)
    uri = join(lake.stage("panel", as_of), "summary.json")
    snapshot = lake.read_json(uri).get("snapshot_id") if lake.exists(uri) else None
    if not snapshot:
        raise ModelError(f"{uri} has no snapshot_id: rebuild the panel with `riskcast panel`")
    return str(snapshot)


def _unseen_copies(train: list[dict]) -> list[dict]:
    """Every 4th series again with its categories set to 'unseen' (index 0).

    Without these the unseen embedding is never trained and a site in a new region or
    country would forecast from random weights.
    """
    from forecasting.model.dataset import UNSEEN

    return [
        dict(e, item_id=f"{e['item_id']}#unseen", feat_static_cat=e["feat_static_cat"] * 0 + UNSEEN)
        for e in train[::4]
        if "feat_static_cat" in e
    ]
