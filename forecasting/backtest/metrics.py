"""Forecast metrics: small vectorised functions over the tidy backtest frame.

The backtest frame (``forecasting.backtest.run``) has one row per model, series, cutoff and
horizon step: ``model, unique_id, cutoff, ds, step, y, mean, q0.05, q0.5, q0.9, q0.95``,
plus ``cold_start`` (bool), ``mase_scale`` (in-sample seasonal-naive MAE before the cutoff),
``pit_lo`` / ``pit_hi`` (F(y-1), F(y) from sample paths; NaN for quantile-only models) and,
for lake panels, ``region``.

Definitions (``q`` a quantile level, ``q-hat`` its forecast):

- ``wQL_q = 2 * sum(pinball_q) / sum(|y|)`` (GluonTS ``wQuantileLoss``); ``mean_wQL`` is
  their mean over ``EVAL_QUANTILES``.
- ``coverage_q = share(y <= q-hat)`` and ``coverage_strict_q = share(y < q-hat)``. For counts a
  calibrated q-quantile satisfies ``coverage_strict_q <= q <= coverage_q``: with many zeros
  and ``q-hat = 0``, coverage alone is 1 whatever the model.
- ``interval_coverage_0.90``: share of ``q0.05 <= y <= q0.95``.
- ``MASE``: per series and cutoff ``mean|y - q0.5| / mase_scale``, averaged over series whose
  scale is positive (GluonTS averages per-item MASE the same way).
- ``bias``: ``sum(mean - y) / sum(|y|)``; positive means over-forecasting.
- PIT for counts (Czado, Gneiting & Held 2009): the actual's predictive CDF lies in
  ``[F(y-1), F(y)]``; the randomised PIT draws uniformly there, and the non-randomised PIT
  CDF ``mean(clip((u - F(y-1)) / (F(y) - F(y-1)), 0, 1))`` is its expectation at level ``u``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.core.schema import (
    COLD_START,
    CUTOFF,
    EVAL_QUANTILES,
    MASE_SCALE,
    MEAN,
    METRIC,
    METRIC_VALUE,
    MODEL,
    REGION,
    SEGMENT,
    STEP,
    UNIQUE_ID,
    Y,
    quantile_col,
)

INTERVAL = (0.05, 0.95)
MEAN_WQL = "mean_wQL"
INTERVAL_COVERAGE = "interval_coverage_0.90"
MASE = "MASE"
BIAS = "bias"
SEGMENT_ALL = "all"
SEGMENT_COLD = "cold_start"


def wql_name(q: float) -> str:
    return f"wQL_{q:g}"


def coverage_name(q: float, strict: bool = False) -> str:
    return f"coverage_strict_{q:g}" if strict else f"coverage_{q:g}"


def metric_names(quantiles: tuple[float, ...] = EVAL_QUANTILES) -> list[str]:
    """Every metric ``summarize`` returns, in reporting order."""
    names = [MEAN_WQL] + [wql_name(q) for q in quantiles]
    names += [coverage_name(q) for q in quantiles] + [INTERVAL_COVERAGE]
    names += [coverage_name(q, strict=True) for q in quantiles]
    return names + [MASE, BIAS]


def pinball_loss(y: np.ndarray, qhat: np.ndarray, q: float) -> np.ndarray:
    """Elementwise pinball (quantile) loss: ``max(q * (y - qhat), (q - 1) * (y - qhat))``."""
    diff = np.asarray(y, dtype=float) - np.asarray(qhat, dtype=float)
    return np.maximum(q * diff, (q - 1.0) * diff)


def weighted_quantile_loss(df: pd.DataFrame, q: float) -> float:
    """``2 * sum(pinball_q) / sum(|y|)`` over the rows of ``df`` (NaN if all actuals are 0)."""
    denom = np.abs(df[Y].to_numpy(float)).sum()
    loss = pinball_loss(df[Y].to_numpy(float), df[quantile_col(q)].to_numpy(float), q).sum()
    return float(2.0 * loss / denom) if denom > 0 else float("nan")


def coverage(df: pd.DataFrame, q: float, strict: bool = False) -> float:
    """Share of rows with ``y <= q-hat`` (``strict``: ``y < q-hat``)."""
    y, qhat = df[Y].to_numpy(float), df[quantile_col(q)].to_numpy(float)
    hits = y < qhat if strict else y <= qhat
    return float(hits.mean()) if len(hits) else float("nan")


def interval_coverage(df: pd.DataFrame, lo: float = INTERVAL[0], hi: float = INTERVAL[1]) -> float:
    """Share of rows with ``q_lo <= y <= q_hi`` (two-sided)."""
    y = df[Y].to_numpy(float)
    inside = (y >= df[quantile_col(lo)].to_numpy(float)) & (y <= df[quantile_col(hi)].to_numpy(float))
    return float(inside.mean()) if len(inside) else float("nan")


def mase(df: pd.DataFrame) -> float:
    """Mean over (series, cutoff) of ``mean|y - q0.5| / mase_scale``; zero scales excluded."""
    err = (df[Y] - df[quantile_col(0.5)]).abs()
    per = err.groupby([df[UNIQUE_ID], df[CUTOFF]], sort=False).mean()
    scale = df[MASE_SCALE].groupby([df[UNIQUE_ID], df[CUTOFF]], sort=False).first()
    ratio = (per / scale)[scale > 0]
    return float(ratio.mean()) if len(ratio) else float("nan")


def bias(df: pd.DataFrame) -> float:
    """``sum(mean - y) / sum(|y|)``: relative bias of the mean forecast."""
    denom = np.abs(df[Y].to_numpy(float)).sum()
    return float((df[MEAN] - df[Y]).sum() / denom) if denom > 0 else float("nan")


def summarize(df: pd.DataFrame, quantiles: tuple[float, ...] = EVAL_QUANTILES) -> dict[str, float]:
    """All metrics (``metric_names``) over the rows of ``df`` (one model, one segment)."""
    out: dict[str, float] = {}
    wqls = [weighted_quantile_loss(df, q) for q in quantiles]
    out[MEAN_WQL] = float(np.mean(wqls))
    out.update({wql_name(q): v for q, v in zip(quantiles, wqls, strict=True)})
    out.update({coverage_name(q): coverage(df, q) for q in quantiles})
    out[INTERVAL_COVERAGE] = interval_coverage(df)
    out.update({coverage_name(q, strict=True): coverage(df, q, strict=True) for q in quantiles})
    out[MASE] = mase(df) if MASE_SCALE in df else float("nan")
    out[BIAS] = bias(df)
    return out


def segments(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Row masks by segment: ``all``, ``cold_start`` (if any) and each region (if present)."""
    masks = {SEGMENT_ALL: pd.Series(True, index=df.index)}
    if COLD_START in df and df[COLD_START].any():
        masks[SEGMENT_COLD] = df[COLD_START].astype(bool)
    if REGION in df:
        for region in sorted(df[REGION].dropna().astype(str).unique()):
            masks[region] = df[REGION].astype(str) == region
    return masks


def metrics_table(bt: pd.DataFrame, quantiles: tuple[float, ...] = EVAL_QUANTILES) -> pd.DataFrame:
    """Long metrics frame ``model, metric, value, segment`` (sorted: model order kept)."""
    rows = []
    for seg, mask in segments(bt).items():
        for model, group in bt[mask].groupby(MODEL, sort=False):
            for name, value in summarize(group, quantiles).items():
                rows.append((model, name, value, seg))
    return pd.DataFrame(rows, columns=[MODEL, METRIC, METRIC_VALUE, SEGMENT])


def metrics_by_step(bt: pd.DataFrame, quantiles: tuple[float, ...] = EVAL_QUANTILES) -> pd.DataFrame:
    """Long metrics frame ``model, step, metric, value`` over every row of each horizon step."""
    rows = []
    for (model, step), group in bt.groupby([MODEL, STEP], sort=False):
        for name, value in summarize(group, quantiles).items():
            rows.append((model, int(step), name, value))
    out = pd.DataFrame(rows, columns=[MODEL, STEP, METRIC, METRIC_VALUE])
    return out.sort_values([MODEL, STEP, METRIC], kind="stable").reset_index(drop=True)


def pit_bounds(samples: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``F(y-1)`` and ``F(y)`` of each actual under its empirical sample distribution.

    ``samples``: (n, num_samples) for n actuals ``y`` (n,). Counts are integers, so the
    predictive CDF jumps at integers; F(y-1) = share(samples < y), F(y) = share(samples <= y).
    """
    y = np.asarray(y, dtype=float)[:, None]
    return (samples < y).mean(axis=1), (samples <= y).mean(axis=1)


def randomized_pit(lo: np.ndarray, hi: np.ndarray, seed: int = 0) -> np.ndarray:
    """Randomised PIT for counts: one uniform draw in ``[F(y-1), F(y)]`` per actual."""
    rng = np.random.default_rng(seed)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return lo + rng.random(lo.shape) * (hi - lo)


def pit_cdf(lo: np.ndarray, hi: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Non-randomised PIT CDF at ``levels``: expected share of randomised PITs <= level.

    For a calibrated forecast it equals the level (the diagonal of a reliability diagram).
    """
    lo, hi = np.asarray(lo, float)[:, None], np.asarray(hi, float)[:, None]
    u = np.asarray(levels, float)[None, :]
    width = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(width > 0, (u - lo) / width, (u >= hi).astype(float))
    return np.clip(frac, 0.0, 1.0).mean(axis=0)
