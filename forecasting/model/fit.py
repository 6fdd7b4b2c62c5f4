"""Fit DeepAR NB on a panel: the early-stopped run, the refit on every period, pooling.

``fit_model`` turns a panel into a ``FittedModel``, in this process (backtest windows)
or as the Ray Train job of ``settings.ray`` (``forecasting.model.distributed``). The
training stage (``forecasting.train``) and the backtest both call it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from forecasting.core.config import Settings
from forecasting.core.errors import ModelError
from forecasting.core.panel_spec import PanelSpec
from forecasting.model.dataset import UNSEEN, Encoders, check_panel, history_rows, training_entries
from forecasting.model.deepar import FittedModel
from forecasting.model.distributed import fit_ray
from forecasting.model.estimator import TFT, TFT_QUANTILES, gluonts_freq, model_config
from forecasting.model.trainer import fit_local


def fit_model(
    df: pd.DataFrame,
    spec: PanelSpec,
    settings: Settings,
    *,
    seed: int | None = None,
    use_ray: bool = False,
    horizon: int | None = None,
    init: Sequence[dict] | None = None,
    patience: int | None = None,
    family: str = "deepar",
):
    """Fit DeepAR NB on the observed (non-``is_future``) rows of ``df``; a ``FittedModel``.

    ``init``: weights to start from (``FittedModel.warm_state()`` of a model fitted on an
    earlier cutoff: the refit network's first, then the early-stopped one's); each run
    starts from its own lineage and stops after ``patience`` epochs without a better
    held-out loss (default ``model.patience``). In process only (a backtest's windows).
    ``family`` ``tft``: the same fit of a temporal fusion transformer (``estimator.TFT``).

    ``use_ray`` False fits in this process (backtest windows); True runs the Ray Train
    job of ``settings.ray``. Same network, data and defaults either way. ``seed``
    defaults to ``settings.model.seed``, ``horizon`` to ``settings.horizon``. Raises
    InputError for a panel a count model cannot use and ModelError when training
    diverges (NaN/inf loss) or no series is long enough to train on.
    """

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
    if family == TFT:
        config.update(family=TFT, quantiles=list(TFT_QUANTILES))
    if patience is not None:
        config["patience"] = int(patience)
    starts = list(init or [])
    state, metrics = _fit(config, train, val, settings, use_ray, starts[-1] if starts else None)
    members: tuple[dict, ...] = ()
    if settings.model.validation == "refit" and val:
        holdout_state = state
        whole = {e["item_id"]: e for e in val}  # a validated series' entry spans its history
        everything = [whole.get(e["item_id"], e) for e in train]
        state, metrics = _refit(config, metrics, everything, settings, use_ray, starts[0] if starts else None)
        members = (holdout_state,) if settings.model.pool_holdout else ()
    metrics["series"] = n_series
    metrics["pooled_networks"] = 1 + len(members)
    return FittedModel.from_state_dict(config, spec, encoders, state, metrics, members)


def _fit(config: dict, train: list[dict], val: list[dict], settings: Settings, use_ray: bool, init=None):
    """One training run (Ray Train or in process): (weights, metrics); ModelError on divergence."""

    train = train + _unseen_copies(train)
    if use_ray:
        if init is not None:
            raise ModelError("a warm start (init weights) runs in process only: use_ray=False")
        state, metrics = fit_ray(config, train, val, settings)
    else:
        state, metrics = fit_local(config, train, val, use_gpu=settings.ray.use_gpu, init=init)
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


def _refit(config: dict, holdout_metrics: dict, train: list[dict], settings: Settings, use_ray: bool, init=None):
    """Train again on ``train`` (every observed period) for as many epochs as the holdout run's best.

    The holdout run chose the epoch count on windows it never trained on; this run, seeded
    the same way, sees the last horizon too (the most recent evidence, which the holdout
    run had to leave out). ``config`` keeps ``max_epochs`` = that count.
    """
    epochs = int(holdout_metrics["best_epoch"]) + 1
    config.update(max_epochs=epochs, early_stop=False)
    state, metrics = _fit(config, train, [], settings, use_ray, init)
    metrics["holdout"] = {k: v for k, v in holdout_metrics.items() if k != "ray_run"}
    metrics["refit_epochs"] = epochs
    return state, metrics


def _unseen_copies(train: list[dict]) -> list[dict]:
    """Every 4th series again with its categories set to 'unseen' (index 0).

    Without these the unseen embedding is never trained and a site in a new region or
    country would forecast from random weights.
    """

    return [
        dict(e, item_id=f"{e['item_id']}#unseen", feat_static_cat=e["feat_static_cat"] * 0 + UNSEEN)
        for e in train[::4]
        if "feat_static_cat" in e
    ]
