"""A local per-series count model: negative binomial on each series' recent history.

An ensemble member beside DeepAR (``forecasting.model.mixture``). Per series, the mean
``m`` and variance ``v`` of the last ``window`` observed periods give a negative binomial
by the method of moments (dispersion ``r = m^2 / (v - m)``; Poisson when ``v <= m``).
Sample paths are drawn as a gamma-Poisson mixture with ONE rate per path
(``lambda ~ Gamma(r, m / r)``, then ``y_t ~ Poisson(lambda)`` for every step): each step
is NB(m, r), and a path's steps share its level, so period totals carry the level
uncertainty as DeepAR's paths do. Series without observed history (cold start) take the
pooled mean and dispersion of the others. Nothing is trained: ``predict`` reads the
history it is given, so the same object serves every cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.core.config import Settings
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.schema import DS, IS_FUTURE, UNIQUE_ID, Y
from forecasting.model.samples import ForecastSamples

LOCAL_NB = "local_nb"
# periods of recent history per series: a year of weeks or months, a quarter of days
WINDOWS = {"W-MON": 52, "W": 52, "MS": 12, "M": 12, "D": 91}
MAX_DISPERSION = 1e4  # r above this is a Poisson for every purpose


@dataclass(frozen=True)
class LocalCountModel:
    """Per-series NB on the last ``window`` periods; ``freq`` the panel's offset alias."""

    freq: str
    horizon: int
    window: int
    seed: int = 0

    def predict(
        self, df: pd.DataFrame, num_samples: int, *, seed: int | None = None
    ) -> ForecastSamples:
        """``num_samples`` paths over ``horizon`` periods after each series' last history row.

        ``df``: a panel (``unique_id, ds, y``; ``is_future`` rows are ignored). Returns
        ``ForecastSamples`` with ids sorted, samples float32 (n_series, num_samples, horizon).
        """
        future = df[IS_FUTURE].fillna(False).astype(bool) if IS_FUTURE in df else pd.Series(False, df.index)
        hist = df[~future][[UNIQUE_ID, DS, Y]].sort_values([UNIQUE_ID, DS], kind="stable")
        ids = sorted(df[UNIQUE_ID].astype(str).unique())
        offset = pd.tseries.frequencies.to_offset(self.freq)
        # first forecast period: after the last history row; a site with covariate rows only
        # (opening inside the horizon) starts at its first future row
        first = (df[future].groupby(df[future][UNIQUE_ID].astype(str))[DS].min() - offset).reindex(ids)
        last = hist.groupby(hist[UNIQUE_ID].astype(str))[DS].max().reindex(ids).fillna(first)
        seen = hist[hist[Y].notna()]
        recent = seen.groupby(UNIQUE_ID, sort=False).tail(self.window)
        stats = recent.groupby(recent[UNIQUE_ID].astype(str))[Y].agg(["mean", "var", "size"])
        mean, disp = _moments(stats, ids)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        shape = np.broadcast_to(disp[:, None], (len(ids), num_samples))
        rates = rng.gamma(shape, mean[:, None] / shape)
        rates = np.where(disp[:, None] >= MAX_DISPERSION, mean[:, None], rates)
        samples = rng.poisson(np.repeat(rates[:, :, None], self.horizon, axis=2)).astype("float32")
        cold = tuple(i for i in ids if i not in stats.index)
        starts = [last[i] + offset for i in ids]
        return ForecastSamples(ids, starts, samples, self.freq, 0, cold)


def _moments(stats: pd.DataFrame, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(mean, NB dispersion r) per id; ids without rows get the pooled figures."""
    known = stats.reindex(ids)
    m = known["mean"].to_numpy(float)
    v = known["var"].fillna(0.0).to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(v > m, m * m / (v - m), MAX_DISPERSION)
    r = np.clip(np.nan_to_num(r, nan=MAX_DISPERSION), 1e-3, MAX_DISPERSION)
    missing = np.isnan(m)
    if missing.any():
        pooled_m = float(np.nanmean(m)) if (~missing).any() else 0.0
        pooled_r = float(np.median(r[~missing])) if (~missing).any() else MAX_DISPERSION
        m, r = np.where(missing, pooled_m, m), np.where(missing, pooled_r, r)
    return np.maximum(m, 0.0), np.where(m > 0, r, MAX_DISPERSION)


def fit_local(train: pd.DataFrame, spec: PanelSpec, settings: Settings, *, seed: int, horizon: int) -> LocalCountModel:
    """The member's 'fit' (same signature as DeepAR's): nothing to learn but the settings."""
    return LocalCountModel(spec.freq, int(horizon), WINDOWS.get(spec.freq, 52), int(seed))
