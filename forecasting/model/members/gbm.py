"""A global gradient-boosted count model (LightGBM, Tweedie objective) as an ensemble member.

One LightGBM model for every series and step (direct multi-step: ``step`` is a feature;
features in ``forecasting.model.members.features``) predicts each period's mean count ``mu``
with a log link (Tweedie deviance, variance power ``TWEEDIE_POWER``: the count objective
the M5 leaders used on intermittent sales). Training rows are every (series, origin, step)
whose target is observed, from one period before each series' first observation (so the
model sees young series: cold starts forecast from static covariates and calendar); the
rows whose target falls in the last ``horizon`` periods are held out for early stopping
and for the negative-binomial dispersion of the residuals, one ``r`` per bin of the
predicted mean (method of moments on the held-out rows of the bin: ``1/r = sum((y - mu)^2
- mu) / sum(mu^2)``). The booster is then refitted on every row at the early-stopped size.

Sample paths: per (series, path) one level ``G ~ Gamma(r, 1/r)`` (mean 1), then
``y_h ~ Poisson(mu_h * G)`` for every step, so each step is NB(mu_h, r) and a path's steps
share its level (period totals keep the level uncertainty, as ``local_nb``'s do).
Deterministic for a seed (LightGBM ``deterministic``, fixed threads).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.core.config import Settings
from forecasting.core.errors import InputError
from forecasting.core.panel_spec import PanelSpec
from forecasting.model.members import features as gf
from forecasting.model.members.local_nb import MAX_DISPERSION
from forecasting.model.samples import ForecastSamples

GBM = "gbm"
TWEEDIE_POWER = 1.2
MAX_ROUNDS, EARLY_STOP = 600, 40
MAX_ROWS = 1_500_000  # training rows kept (latest origins first; older origins by stride)
LEVEL_BINS = 8  # dispersion bins of the predicted mean
PARAMS = {
    "objective": "tweedie", "tweedie_variance_power": TWEEDIE_POWER, "learning_rate": 0.05,
    "num_leaves": 31, "min_data_in_leaf": 50, "feature_fraction": 0.8, "bagging_fraction": 0.8,
    "bagging_freq": 1, "lambda_l2": 1.0, "verbosity": -1, "deterministic": True,
    "force_row_wise": True,
}


@dataclass
class GbmCountModel:
    """A fitted booster (``model_to_string``) with what ``predict`` needs: the panel's
    ``spec``, ``horizon``, the static categories seen in training, the NB dispersion per
    bin of the mean level (``dispersion[k]`` for levels between ``level_edges[k-1]`` and
    ``level_edges[k]``)."""

    spec: PanelSpec
    horizon: int
    booster: str
    dispersion: list[float]
    categories: dict[str, list[str]] = field(default_factory=dict)
    seed: int = 0
    level_edges: list[float] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def predict(self, df: pd.DataFrame, num_samples: int, *, seed: int | None = None) -> ForecastSamples:
        """``num_samples`` paths over ``horizon`` periods after each series' last history row.

        ``df``: a panel (``unique_id, ds, y``, covariates; ``is_future`` rows carry the
        horizon's dynamic covariates). Returns ``ForecastSamples`` (ids sorted, float32
        samples (n_series, num_samples, horizon)); series without observed ``y`` are cold.
        """
        import lightgbm as lgb

        grid = gf.panel_grid(df, self.spec, self.horizon)
        series = np.arange(len(grid.ids))
        statics = gf.static_matrix(df, self.spec, grid.ids, self.categories)
        x, _, _ = gf.step_rows(grid, series, grid.last, self.horizon, self.spec.freq, statics)
        mu = lgb.Booster(model_str=self.booster).predict(x).reshape(len(series), self.horizon)
        mu = np.clip(np.nan_to_num(mu, nan=0.0, posinf=0.0), 0.0, None)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        # one dispersion per series: the bin of its mean level over the horizon
        r = np.asarray(self.dispersion)[np.searchsorted(self.level_edges, mu.mean(axis=1))]
        level = rng.gamma(r[:, None], 1.0 / r[:, None], size=(len(series), num_samples))
        level = np.where(r[:, None] >= MAX_DISPERSION, 1.0, level)
        samples = rng.poisson(mu[:, None, :] * level[:, :, None]).astype("float32")
        offset = pd.tseries.frequencies.to_offset(self.spec.freq)
        starts = [grid.periods[k] + offset if k >= 0 else grid.periods[0] for k in grid.last]
        cold = tuple(i for i, f in zip(grid.ids, grid.first, strict=True) if f < 0)
        return ForecastSamples(grid.ids, starts, samples, self.spec.freq, 0, cold)


def fit_gbm(train: pd.DataFrame, spec: PanelSpec, settings: Settings, *, seed: int, horizon: int) -> GbmCountModel:
    """Fit the member on ``train`` (history rows; same signature as the other members)."""
    import lightgbm as lgb

    grid = gf.panel_grid(train, spec, 0, before=1)
    categories = {c: sorted(train[c].dropna().astype(str).unique()) for c in spec.static_cat}
    statics = gf.static_matrix(train, spec, grid.ids, categories)
    series, origins = _origins(grid, horizon)
    x, target, s = gf.step_rows(grid, series, origins, horizon, spec.freq, statics)
    y = grid.y[s, np.clip(target, 0, grid.y.shape[1] - 1)]
    keep = (target <= grid.last[s]) & ~np.isnan(y)
    x, y, target = x[keep], y[keep], target[keep]
    if len(y) == 0 or not np.nansum(y) > 0:
        raise InputError("gbm member: no observed positive targets to learn from")
    held = target > int(grid.last.max()) - horizon
    names = gf.feature_names(spec, spec.freq)
    cats = [names.index(c) for c in spec.static_cat]
    params = {**PARAMS, "seed": int(seed), "num_threads": settings.model.num_threads}
    rounds, edges, r = MAX_ROUNDS // 3, [], [MAX_DISPERSION]
    if held.any() and (~held).any():
        dtrain = lgb.Dataset(x[~held], y[~held], feature_name=names, categorical_feature=cats, free_raw_data=False)
        dvalid = lgb.Dataset(x[held], y[held], reference=dtrain)
        booster = lgb.train(params, dtrain, MAX_ROUNDS, valid_sets=[dvalid],
                            callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)])
        rounds = max(int(booster.best_iteration or MAX_ROUNDS), 1)
        edges, r = _dispersion_by_level(y[held], booster.predict(x[held], num_iteration=rounds))
    full = lgb.Dataset(x, y, feature_name=names, categorical_feature=cats)
    booster = lgb.train(params, full, rounds)
    return GbmCountModel(spec, int(horizon), booster.model_to_string(), [float(v) for v in r], categories,
                         int(seed), [float(e) for e in edges], {"rounds": float(rounds), "rows": float(len(y))})


def _origins(grid: gf.Grid, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(series, origin) pairs with a target inside the history: from one period before the
    series' first observation to its last-but-one period; strided when over ``MAX_ROWS``."""
    pairs = [(i, t) for i in range(len(grid.ids)) if grid.first[i] >= 0
             for t in range(max(grid.first[i] - 1, 0), grid.last[i])]
    if not pairs:
        return np.empty(0, int), np.empty(0, int)
    series, origins = (np.asarray(v, int) for v in zip(*pairs, strict=True))
    stride = int(np.ceil(len(series) * horizon / MAX_ROWS))
    if stride > 1:  # keep the latest origin of each series and every stride-th before it
        keep = (grid.last[series] - 1 - origins) % stride == 0
        series, origins = series[keep], origins[keep]
    return series, origins


def _dispersion_by_level(y: np.ndarray, mu: np.ndarray, bins: int = LEVEL_BINS) -> tuple[np.ndarray, np.ndarray]:
    """(edges, r): NB dispersion per bin of the predicted mean (``bins`` quantile bins of
    ``mu``; inner edges ascending, len(r) = len(edges) + 1): variance grows with the level
    differently on small and large series. A bin without extra variance is Poisson."""
    edges = np.unique(np.quantile(mu, np.linspace(0, 1, bins + 1)[1:-1])) if len(mu) else np.empty(0)
    which = np.searchsorted(edges, mu)
    r = np.array([_dispersion(y[which == b], mu[which == b]) for b in range(len(edges) + 1)])
    return edges, r


def _dispersion(y: np.ndarray, mu: np.ndarray) -> float:
    """NB dispersion r from held-out (y, mu) by moments; Poisson (MAX_DISPERSION) when the
    residuals show no extra variance."""
    excess = float(np.sum((y - mu) ** 2 - mu))
    scale = float(np.sum(mu**2))
    if not excess > 0 or not scale > 0:
        return MAX_DISPERSION
    return float(np.clip(scale / excess, 1e-2, MAX_DISPERSION))

