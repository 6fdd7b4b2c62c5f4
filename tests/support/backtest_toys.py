"""A small deterministic count model standing in for DeepAR in backtest tests.

It is a test double for the *model* only: the backtest, baselines, calibration, metrics
and report code under test are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.backtest.engine import MODELS
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.schema import DS, IS_FUTURE, REGION, UNIQUE_ID, Y

# plain GluonTS and the TFT member train networks: slow tests only
FAST = tuple(m for m in MODELS if m not in ("gluonts_deepar", "tft"))
RATES = [0.2, 0.5, 1.0, 3.0, 6.0, 0.1, 2.0, 4.0]


def toy_panel(n_periods: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i, lam in enumerate(RATES):
        for d in pd.date_range("2020-01-01", periods=n_periods, freq="MS"):
            rows.append((f"s{i}", d, float(rng.negative_binomial(2, 2 / (2 + lam))), "north" if i % 2 else "south"))
    return pd.DataFrame(rows, columns=[UNIQUE_ID, DS, Y, REGION])


def wide_panel(n_series: int = 60, n_periods: int = 40, seed: int = 0) -> pd.DataFrame:
    """``n_series`` monthly NB(2) series at rates drawn in [0.5, 5.5]: enough rows per
    window for coverage and wQL comparisons to mean something."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_series):
        lam = 0.5 + 5.0 * rng.random()
        for d in pd.date_range("2020-01-01", periods=n_periods, freq="MS"):
            rows.append((f"s{i}", d, float(rng.negative_binomial(2, 2 / (2 + lam))), "north" if i % 2 else "south"))
    return pd.DataFrame(rows, columns=[UNIQUE_ID, DS, Y, REGION])


SPEC = PanelSpec(freq="MS", static_cat=(REGION,))


@dataclass
class _Samples:
    ids: list
    starts: list
    samples: np.ndarray
    capped: int = 0


class NegBinModel:
    """Per-series negative binomial at the training mean; records what it was shown."""

    def __init__(self, train: pd.DataFrame, log: list, spread: float = 2.0, scale: float = 1.0) -> None:
        log.append(("fit", train[DS].max(), set(train[UNIQUE_ID])))
        self.rate = train.groupby(UNIQUE_ID)[Y].mean() * scale
        self.log, self.spread = log, spread

    def predict(self, ctx: pd.DataFrame, num_samples: int) -> _Samples:
        hist = ctx[~ctx[IS_FUTURE]]
        self.log.append(("predict", hist.loc[hist[Y].notna(), DS].max(), None))
        ids = sorted(hist[UNIQUE_ID].unique())
        last = hist.groupby(UNIQUE_ID)[DS].max()
        lam = np.array([self.rate.get(i, self.rate.mean()) for i in ids]) + 1e-3
        rng = np.random.default_rng(0)
        k = self.spread
        draws = rng.negative_binomial(k, k / (k + lam[:, None, None]), size=(len(ids), num_samples, 6))
        return _Samples(ids, [last[i] + pd.offsets.MonthBegin() for i in ids], draws.astype(float))


def toy_fit(log: list, spread: float = 2.0, scale: float = 1.0):
    def fit(train, spec, settings, *, seed, horizon):
        return NegBinModel(train, log, spread, scale)

    return fit
