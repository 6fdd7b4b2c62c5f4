"""Panel frame -> GluonTS entries (dicts), vectorised per series.

A GluonTS entry is ``{"start": pd.Period, "target": float32[T] (NaN = missing),
"feat_static_cat": int64[C], "feat_static_real": float32[S], "feat_dynamic_real":
float32[D, T (+ horizon when predicting)], "item_id": str}``; real covariates are
standardised and categoricals encoded by ``Encoders``. Series are put on their
frequency's grid by integer period ordinals, so a missing row is a NaN period, never a
silent shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.core.errors import InputError
from forecasting.core.panel_spec import PanelSpec, freq_alias
from forecasting.core.schema import DS, IS_FUTURE, UNIQUE_ID, Y
from forecasting.model.encoders import UNSEEN, Encoders, history_rows, static_table

__all__ = ["UNSEEN", "Encoders", "check_panel", "history_rows", "prediction_entries",
           "training_entries"]

_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def check_panel(df: pd.DataFrame, spec: PanelSpec, source: str = "panel") -> None:
    """Raise InputError naming the column/row for frames a count model cannot train on."""
    missing = [c for c in (UNIQUE_ID, DS, Y, *spec.static_real, *spec.static_cat, *spec.dynamic_real)
               if c not in df.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {missing}; the panel contract needs them")
    if df.empty:
        raise InputError(f"{source}: the panel has no rows")
    y = pd.to_numeric(df[Y], errors="coerce")
    bad = df.index[(y < 0) | np.isinf(y) | (y.isna() & df[Y].notna())]
    if len(bad):
        row = bad[0]
        raise InputError(
            f"{source}: column '{Y}' must hold non-negative finite counts or NaN (missing); "
            f"row {row} ({df.at[row, UNIQUE_ID]}, {df.at[row, DS]}) holds {df.at[row, Y]!r}: "
            f"fix or blank it ({len(bad)} such row(s))"
        )
    dup = df.duplicated([UNIQUE_ID, DS])
    if dup.any():
        row = df.index[dup][0]
        raise InputError(
            f"{source}: duplicate ({UNIQUE_ID}, {DS}) at row {row} "
            f"({df.at[row, UNIQUE_ID]}, {df.at[row, DS]}): keep one row per series and period"
        )


def training_entries(
    df: pd.DataFrame,
    spec: PanelSpec,
    enc: Encoders,
    gluonts_freq: str,
    holdout: int,
    in_sample: bool = False,
) -> tuple[list[dict], list[dict]]:
    """(train, validation) entries from the observed history of every series.

    Leading missing periods are trimmed; gaps inside a series become NaN (missing). A
    series with at least ``2 * holdout`` periods is validated on its last ``holdout``
    periods and, unless ``in_sample``, trained on the rest only; shorter ones are trained
    on whole. ``in_sample`` trains every series on its whole history (the validation
    window is then a fixed in-sample monitor). Series without any observed value (cold
    start) are left out.
    """
    table = _Table(history_rows(df), spec, enc, gluonts_freq)
    train, val = [], []
    for s in table.series():
        observed = ~np.isnan(s.y)
        if not observed.any():
            continue
        begin, end = s.ordinal[observed].min(), s.ordinal.max() + 1
        entry = table.entry(s, begin, end, end)
        if end - begin >= 2 * holdout:
            val.append(entry)
            entry = entry if in_sample else _truncate(entry, holdout)
        train.append(entry)
    return train, val


def prediction_entries(
    df: pd.DataFrame,
    spec: PanelSpec,
    enc: Encoders,
    gluonts_freq: str,
    horizon: int,
    context_length: int,
    future_df: pd.DataFrame | None = None,
) -> tuple[list[dict], list[pd.Timestamp], np.ndarray, np.ndarray]:
    """Entries to forecast ``horizon`` periods after each series' last history row.

    Returns (entries, first forecast period per series, largest observed target per
    series with NaN for cold start, closed steps per series), sorted by id. A series with
    no observed value gets a target of ``context_length`` NaNs, so the model forecasts it
    from its static features. A site opening inside the horizon (its first row after the
    panel's forecast start) is forecast from that start like every other series; its
    ``closed`` leading steps (int64, before it opens) need no covariates and must be
    zeroed by the caller. Dynamic features must cover the open steps of the horizon
    (``is_future`` rows or ``future_df``).
    """
    if future_df is not None:
        lacking = [c for c in (UNIQUE_ID, DS, *spec.dynamic_real) if c not in future_df.columns]
        if lacking:
            raise InputError(f"future_df: missing column(s) {lacking}; it must carry the "
                             "horizon's dynamic covariates per series and period")
    frames = [df] if future_df is None else [df, future_df.assign(**{IS_FUTURE: True})]
    full = pd.concat(frames, ignore_index=True) if future_df is not None else df
    if future_df is not None:
        full = full.drop_duplicates([UNIQUE_ID, DS], keep="first")
    table = _Table(full, spec, enc, gluonts_freq)
    series = list(table.series())
    hist_ends = [s.ordinal[~s.future].max() + 1 for s in series if (~s.future).any()]
    common = max(hist_ends) if hist_ends else min(s.ordinal.min() for s in series)
    entries, starts, maxima, closed = [], [], [], []
    for s in series:
        hist = ~s.future
        opens = s.ordinal.min()
        first_fc = s.ordinal[hist].max() + 1 if hist.any() else min(opens, common)
        shut = int(min(max(opens - first_fc, 0), horizon))
        observed = hist & ~np.isnan(s.y)
        begin = s.ordinal[observed].min() if observed.any() else first_fc - context_length
        entry = table.entry(s, begin, first_fc, first_fc + horizon)
        if spec.dynamic_real:
            known = np.isfinite(table.raw_dynamic(s, first_fc, first_fc + horizon)).all(axis=0)
            known[:shut] = True  # the site is closed then: its forecast is zero whatever they are
            if not known.all():
                lacking = [str(table.timestamp(first_fc + k).date()) for k in np.flatnonzero(~known)[:3]]
                raise InputError(
                    f"series {s.uid!r} has no {list(spec.dynamic_real)} for forecast period(s) "
                    f"{lacking}: add {IS_FUTURE} rows with covariates or pass future_df"
                )
        entries.append(entry)
        starts.append(table.timestamp(first_fc))
        closed.append(shut)
        target = entry["target"]
        maxima.append(float(np.nanmax(target)) if np.isfinite(target).any() else np.nan)
    return entries, starts, np.asarray(maxima, dtype="float64"), np.asarray(closed, dtype="int64")


@dataclass
class _Series:
    """One series' rows, sorted by period: ``rows`` index the table's arrays."""

    uid: str
    rows: np.ndarray
    ordinal: np.ndarray
    y: np.ndarray
    future: np.ndarray
    index: int  # position in the static table


class _Table:
    """The frame as numpy arrays sorted by (id, period), with per-series slices."""

    def __init__(self, df: pd.DataFrame, spec: PanelSpec, enc: Encoders, gluonts_freq: str):
        self.spec, self.enc, self.gluonts_freq = spec, enc, gluonts_freq
        self.period_freq = _period_freq(spec.freq)
        ids = df[UNIQUE_ID].astype(str).to_numpy()
        ds = pd.DatetimeIndex(pd.to_datetime(df[DS]))
        periods = ds.to_period(self.period_freq)
        off = ds != periods.start_time
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise InputError(
                f"series {ids[i]!r}: {DS} {ds[i]} is not on the panel's '{spec.freq}' grid: "
                "align period starts to the frequency"
            )
        ordinal = periods.asi8
        order = np.lexsort((ordinal, ids))
        self.ids, self.ordinal = ids[order], ordinal[order]
        self.y = pd.to_numeric(df[Y], errors="coerce").to_numpy("float64")[order]
        fut = df[IS_FUTURE].fillna(False).to_numpy(bool) if IS_FUTURE in df else np.zeros(len(df), bool)
        self.future = fut[order]
        self.dynamic = (df[list(spec.dynamic_real)].to_numpy("float64")[order].T
                        if spec.dynamic_real else np.zeros((0, len(df))))
        self.statics = static_table(df, spec)

    def series(self):
        uniq, first = np.unique(self.ids, return_index=True)
        bounds = np.append(first, len(self.ids))
        for k, uid in enumerate(uniq):
            rows = np.arange(bounds[k], bounds[k + 1])
            yield _Series(str(uid), rows, self.ordinal[rows], self.y[rows], self.future[rows], k)

    def timestamp(self, ordinal: int) -> pd.Timestamp:
        return pd.Period(ordinal=int(ordinal), freq=self.period_freq).start_time

    def raw_dynamic(self, s: _Series, begin: int, end: int) -> np.ndarray:
        """Unscaled dynamic covariates over periods ``[begin, end)``: (D, end - begin), NaN gaps."""
        out = np.full((self.dynamic.shape[0], end - begin), np.nan)
        pos = s.ordinal - begin
        keep = (pos >= 0) & (pos < end - begin)
        out[:, pos[keep]] = self.dynamic[:, s.rows[keep]]
        return out

    def entry(self, s: _Series, begin: int, target_end: int, end: int) -> dict:
        """The entry of series ``s``: target over ``[begin, target_end)`` (history rows
        only), dynamic features over ``[begin, end)``."""
        target = np.full(target_end - begin, np.nan, dtype="float32")
        pos = s.ordinal - begin
        keep = ~s.future & (pos >= 0) & (pos < len(target))
        target[pos[keep]] = s.y[keep]
        entry = {
            "item_id": s.uid,
            "start": pd.Period(self.timestamp(begin), freq=self.gluonts_freq),
            "target": target,
        }
        static = self.statics.iloc[s.index]
        if self.spec.static_cat:
            entry["feat_static_cat"] = np.array(
                [self.enc.encode_cat(c, static[c]) for c in self.spec.static_cat], dtype="int64")
        if self.spec.static_real:
            entry["feat_static_real"] = np.concatenate(
                [self.enc.scale_real(c, [static[c]]) for c in self.spec.static_real])
        if self.spec.dynamic_real:
            raw = self.raw_dynamic(s, begin, end)
            entry["feat_dynamic_real"] = np.stack(
                [self.enc.scale_real(c, raw[i]) for i, c in enumerate(self.spec.dynamic_real)])
        return entry


def _period_freq(panel_freq: str) -> str:
    """The pandas Period frequency whose periods start on the panel's ``ds`` labels.

    ``W-MON`` labels a week by its Monday: that is the period ``W-SUN`` (ending Sunday).
    """
    alias = freq_alias(panel_freq)
    if alias.startswith("W-") and alias[2:] in _WEEKDAYS:
        return "W-" + _WEEKDAYS[_WEEKDAYS.index(alias[2:]) - 1]
    return {"W": "W-SAT", "MS": "M", "QS": "Q", "YS": "Y", "AS": "Y"}.get(alias, alias)


def _truncate(entry: dict, n: int) -> dict:
    out = dict(entry, target=entry["target"][:-n])
    if "feat_dynamic_real" in entry:
        out["feat_dynamic_real"] = entry["feat_dynamic_real"][:, :-n]
    return out
