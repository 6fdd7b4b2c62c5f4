"""Ensemble members of one backtest window: each fitted on the window's training rows and
forecast over its horizon, then checked, so that a member that fails or diverges weighs 0
wherever that window counts (``forecasting.backtest.ensemble``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from forecasting.core.errors import ModelError
from forecasting.core.schema import UNIQUE_ID, Y
from forecasting.model.deepar import CAP_FACTOR
from forecasting.model.mixture import MEMBER_FITS, aligned_samples


def fit_members(win, spec, settings, horizon: int, seed: int, n: int, deepar, fits=MEMBER_FITS) -> dict:
    """``{member: ForecastSamples or failure reason (str)}`` for one window; ``deepar`` is
    the window's DeepAR forecast (the series and periods every member must match)."""
    out: dict[str, Any] = {}
    history_max = win.history.groupby(UNIQUE_ID)[Y].max()
    for name, fit in fits.items():
        try:
            fs = fit(win.train, spec, settings, seed=seed, horizon=horizon).predict(win.context, num_samples=n)
            samples = aligned_samples(fs, list(deepar.ids), list(deepar.starts))
            _check_sane(samples, history_max.reindex([str(i) for i in deepar.ids]).to_numpy(float))
            out[name] = fs
        except Exception as exc:  # noqa: BLE001 - a failed member is weighed 0 and reported
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


def _check_sane(samples: np.ndarray, maxima: np.ndarray) -> None:
    if not np.isfinite(samples).all():
        raise ModelError("non-finite sample paths (diverged)")
    bound = CAP_FACTOR * np.maximum(np.nan_to_num(maxima, nan=np.nanmax(maxima, initial=1.0)), 1.0)
    if (np.median(samples, axis=1) > bound[:, None]).any():
        raise ModelError(f"median beyond {CAP_FACTOR:g}x the largest observed value (diverged)")
