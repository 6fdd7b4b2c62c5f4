"""A direct multi-quantile network as an ensemble member: GluonTS torch's temporal fusion
transformer (TFT), a family that differs from DeepAR's autoregressive likelihood.

It is fitted exactly as DeepAR is (``forecasting.model.fit.fit_model`` with ``family="tft"``:
the same entries, covariates, encoders, early stopping on each series' last horizon, refit
and pooled networks, seeds and thread count, so it is deterministic for a seed; in process
for backtest windows, as a Ray Train job for the forecast stage (``use_ray``)). It is trained
with the pinball loss at ``estimator.TFT_QUANTILES``; its quantiles become count paths through
``shards.quantile_paths`` (comonotone), which the combination lays out in a path member's
ranks (``mixture.vincentized``: the Schaake shuffle), so sums over weeks keep that member's
dependence.
"""

from __future__ import annotations

import pandas as pd

from forecasting.core.config import Settings
from forecasting.core.panel_spec import PanelSpec
from forecasting.model.estimator import TFT
from forecasting.model.fit import fit_model


def fit_tft(train: pd.DataFrame, spec: PanelSpec, settings: Settings, *, seed: int, horizon: int,
            use_ray: bool = False):
    """Fit the TFT member on ``train`` (same signature as the other members; ``use_ray``
    runs the Ray Train job of ``settings.ray``). A ``FittedModel`` (``.predict(panel, n)``)."""
    return fit_model(train, spec, settings, seed=seed, use_ray=use_ray, horizon=horizon, family=TFT)
