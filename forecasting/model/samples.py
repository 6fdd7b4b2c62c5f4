"""Forecast sample paths and their tidy summaries (quantiles per step, long sample table)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.core.schema import (
    DS,
    MEAN,
    QUANTILE_LEVELS,
    SAMPLE,
    STEP,
    UNIQUE_ID,
    VALUE,
    quantile_col,
)


@dataclass
class ForecastSamples:
    """Sample paths of every series over the horizon.

    ``ids``: series ids (sorted); ``starts``: first forecast period per series;
    ``samples``: float32 ``(n_series, num_samples, horizon)`` of non-negative finite
    counts; ``freq``: the panel's pandas offset alias; ``capped``: number of sample values
    that were cut to the sanity bound (see ``FittedModel.predict``); ``cold_start``: ids
    forecast without any observed history.
    """

    ids: list[str]
    starts: list[pd.Timestamp]
    samples: np.ndarray
    freq: str
    capped: int = 0
    cold_start: tuple[str, ...] = ()

    @property
    def horizon(self) -> int:
        return int(self.samples.shape[2])

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[1])

    def periods(self) -> pd.DatetimeIndex:
        """``ds`` of every (series, step), series-major: length ``n_series * horizon``."""
        offset = pd.tseries.frequencies.to_offset(self.freq)
        steps = np.arange(self.horizon)
        return pd.DatetimeIndex(
            [start + int(k) * offset for start in self.starts for k in steps], name=DS
        )

    def to_frame(self, quantiles: tuple[float, ...] = QUANTILE_LEVELS) -> pd.DataFrame:
        """``unique_id, ds, step (1-based), mean, q<level>...``: one row per series and step."""
        n, _, h = self.samples.shape
        flat = self.samples.astype("float64")
        out = pd.DataFrame(
            {
                UNIQUE_ID: np.repeat(np.asarray(self.ids, dtype=object), h),
                DS: self.periods(),
                STEP: np.tile(np.arange(1, h + 1, dtype="int64"), n),
                MEAN: flat.mean(axis=1).reshape(-1),
            }
        )
        for q in quantiles:
            out[quantile_col(q)] = np.quantile(flat, q, axis=1).reshape(-1)
        return out

    def to_samples_frame(self) -> pd.DataFrame:
        """``unique_id, step, ds, sample, value`` (int32 step/sample, float32 value), long."""
        n, s, h = self.samples.shape
        ids = np.asarray(self.ids, dtype=object)
        ds = self.periods().to_numpy().reshape(n, h)
        return pd.DataFrame(
            {
                UNIQUE_ID: np.repeat(ids, s * h),
                STEP: np.tile(np.arange(1, h + 1, dtype="int32"), n * s),
                DS: np.repeat(ds[:, None, :], s, axis=1).reshape(-1),
                SAMPLE: np.tile(np.repeat(np.arange(s, dtype="int32"), h), n),
                VALUE: self.samples.astype("float32").reshape(-1),
            }
        )
