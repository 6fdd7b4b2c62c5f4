"""Whether the quantile-level map is applied: decided on windows it was not fitted on.

The map of window c is fitted on actuals observed by c (``expanding_levels``). It is applied
to window c only when, on earlier windows (rows with ``ds`` on or before c), the maps fitted
before each of them beat the raw quantiles on both the calibration gap and mean wQL
(``map_improves``); otherwise the raw quantiles go through. Production levels follow the
same rule over every window: a map that helps nowhere it was tested never publishes.
Frames are backtest rows (``model, unique_id, cutoff, ds, step, y, mean, q*, pit_lo,
pit_hi, ...``; see ``forecasting.backtest.engine``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.backtest.baselines import samples_frame
from forecasting.backtest.calibration import (
    KEPT_RAW_METHOD,
    choose_levels,
    expanding_levels,
    identity_levels,
    is_identity,
    map_improves,
    recalibrate_pit,
)
from forecasting.core.schema import (
    CUTOFF,
    DS,
    PIT_HI,
    PIT_LO,
    QUANTILE_LEVELS,
    UNIQUE_ID,
    quantile_col,
)

_KEYS = [CUTOFF, UNIQUE_ID, DS]


@dataclass
class LevelChoice:
    """Per evaluated cutoff: the levels applied (identity unless earlier windows showed
    the map helps), the cutoffs its map was fitted on, and the evidence figures."""

    applied: dict[pd.Timestamp, dict[float, float]]
    fitted_on: dict[pd.Timestamp, list[str]]
    evidence: dict[pd.Timestamp, dict[str, Any]] = field(default_factory=dict)
    mapped: pd.DataFrame = field(default_factory=pd.DataFrame)


def mapped_rows(raw: pd.DataFrame, fs, freq: str, cutoff, levels: dict[float, float]) -> pd.DataFrame:
    """The rows of ``raw`` at ``cutoff`` with quantiles at ``levels`` of the window's sample
    paths ``fs`` (``ids, starts, samples``) and PIT bounds mapped through the past's PIT
    CDF (actuals up to the cutoff only). Identity levels: the raw rows unchanged."""
    qcols = [quantile_col(q) for q in QUANTILE_LEVELS]
    base = raw[raw[CUTOFF] == cutoff]
    if is_identity(levels):
        return base.copy()
    cal = samples_frame(list(fs.ids), list(fs.starts), np.asarray(fs.samples, float), freq, levels)
    out = base.drop(columns=qcols).merge(cal[[UNIQUE_ID, DS, *qcols]], on=[UNIQUE_ID, DS], how="left")
    past = raw[raw[DS] <= cutoff]
    for col in (PIT_LO, PIT_HI):
        out[col] = recalibrate_pit(past[PIT_LO], past[PIT_HI], out[col].to_numpy())
    return out


def choose_window_levels(
    raw: pd.DataFrame, samples: dict, freq: str, cutoffs: list[pd.Timestamp],
    evaluated: list[pd.Timestamp], tolerance: float,
) -> LevelChoice:
    """Fit the expanding map on every window in ``cutoffs`` (calibration windows first),
    then decide per ``evaluated`` cutoff whether to apply it (module docstring)."""
    fitted = expanding_levels(raw, cutoffs, tolerance=tolerance)
    mapped = pd.concat(
        [mapped_rows(raw, samples[c], freq, c, fitted[c][0]) for c in cutoffs], ignore_index=True
    ) if len(raw) else raw.copy()
    raw_s, mapped_s = _aligned(raw), _aligned(mapped)
    applied, evidence = {}, {}
    for c in evaluated:
        mask = ((raw_s[CUTOFF] < c) & (raw_s[DS] <= c)).to_numpy()
        ok, figures = map_improves(raw_s[mask], mapped_s[mask])
        applied[c] = fitted[c][0] if ok else identity_levels()
        evidence[c] = figures
    return LevelChoice(applied, {c: fitted[c][1] for c in evaluated}, evidence, mapped_s)


def production_levels(
    raw: pd.DataFrame, mapped: pd.DataFrame, tolerance: float
) -> tuple[dict[float, float], str, dict[str, Any]]:
    """(levels, method, evidence) for publishing: the map fitted on every window when,
    over all windows, each window's earlier-fitted map beat the raw quantiles on both
    calibration and wQL; else the identity (``KEPT_RAW_METHOD``)."""
    ok, figures = map_improves(_aligned(raw), _aligned(mapped)) if len(raw) else (False, {"applied": False})
    if not ok:
        return identity_levels(), KEPT_RAW_METHOD, figures
    return (*choose_levels(raw, tolerance), figures)


def _aligned(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.sort_values(_KEYS, kind="stable").reset_index(drop=True) if len(rows) else rows
