"""Panel frame -> GluonTS entries (dicts), with the encoders fitted on the training panel.

A GluonTS entry is ``{"start": pd.Period, "target": float32[T] (NaN = missing),
"feat_static_cat": int[C], "feat_static_real": float32[S], "feat_dynamic_real":
float32[D, T (+ horizon when predicting)], "item_id": str}``.

Encoders map each categorical value to ``1..n`` (``0`` = unseen or missing, so a
warehouse in a new region still forecasts) and standardise real covariates with the
training panel's mean and standard deviation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.errors import InputError
from forecasting.panel import PanelSpec
from forecasting.schema import DS, IS_FUTURE, UNIQUE_ID, Y

UNSEEN = 0  # categorical index of values not seen at training time


@dataclass
class Encoders:
    """Categorical codes and real-covariate statistics learned from the training panel.

    ``categories``: column -> sorted values (code = position + 1). ``real_stats``: column ->
    ``[mean, std]``. ``default_scale``: NB scale for a context with no (or only zero)
    observations, the mean over series of each series' mean target. ``y_max``: the largest
    observed training target (the forecast sanity bound for series without history).
    """

    categories: dict[str, list[str]] = field(default_factory=dict)
    real_stats: dict[str, list[float]] = field(default_factory=dict)
    default_scale: float = 1.0
    y_max: float = 0.0

    @classmethod
    def fit(cls, df: pd.DataFrame, spec: PanelSpec) -> Encoders:
        hist = history_rows(df)
        static = _static_table(df, spec)
        categories = {
            col: sorted(str(v) for v in static[col].dropna().unique()) for col in spec.static_cat
        }
        stats = {}
        for col, values in [(c, static[c]) for c in spec.static_real] + [
            (c, df[c]) for c in spec.dynamic_real
        ]:
            v = pd.to_numeric(values, errors="coerce").astype("float64")
            mean, std = (float(v.mean()), float(v.std(ddof=0))) if v.notna().any() else (0.0, 1.0)
            stats[col] = [mean, std if np.isfinite(std) and std > 1e-9 else 1.0]
        observed = hist[Y].dropna()
        level = observed.groupby(hist.loc[observed.index, UNIQUE_ID]).mean()
        return cls(
            categories=categories,
            real_stats=stats,
            default_scale=max(float(level.mean()), 1e-3) if len(level) else 1.0,
            y_max=float(observed.max()) if len(observed) else 0.0,
        )

    def cardinality(self, spec: PanelSpec) -> list[int]:
        return [len(self.categories[c]) + 1 for c in spec.static_cat]

    def encode_cat(self, col: str, value: Any) -> int:
        values = self.categories[col]
        key = None if pd.isna(value) else str(value)
        i = int(np.searchsorted(values, key)) if key is not None else len(values)
        return i + 1 if i < len(values) and values[i] == key else UNSEEN

    def scale_real(self, col: str, values: Any) -> np.ndarray:
        mean, std = self.real_stats[col]
        out = (np.asarray(values, dtype="float64") - mean) / std
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype("float32")

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``categories`` as column -> {value: index}, index 0 = unseen."""
        data = asdict(self)
        data["categories"] = {
            col: {v: i + 1 for i, v in enumerate(values)} for col, values in self.categories.items()
        }
        data["unseen_index"] = UNSEEN
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Encoders:
        cats = {col: sorted(m, key=m.get) for col, m in data["categories"].items()}
        return cls(cats, {k: list(v) for k, v in data["real_stats"].items()},
                   float(data["default_scale"]), float(data["y_max"]))


def history_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that are not covariate-only forecast-horizon rows (``is_future`` False or absent)."""
    if IS_FUTURE in df.columns:
        return df[~df[IS_FUTURE].fillna(False).astype(bool)]
    return df


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
    df: pd.DataFrame, spec: PanelSpec, enc: Encoders, gluonts_freq: str, holdout: int
) -> tuple[list[dict], list[dict]]:
    """(train, validation) entries from the observed history of every series.

    Leading missing periods are trimmed; gaps inside a series become NaN (missing). A
    series with at least ``2 * holdout`` periods is validated on its last ``holdout``
    periods and trained on the rest; shorter ones are trained on whole. Series without
    any observed value (cold start) are left out.
    """
    train, val = [], []
    for uid, g in _series(history_rows(df), spec):
        if not g[Y].notna().any():
            continue
        hist = g.loc[g[Y].first_valid_index():]
        entry = _make(uid, hist[DS].iloc[0], hist[Y], _static_row(g, spec),
                      hist.set_index(DS), spec, enc, gluonts_freq)
        if len(hist) >= 2 * holdout:
            val.append(entry)
            entry = _truncate(entry, holdout)
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
) -> tuple[list[dict], list[pd.Timestamp], np.ndarray]:
    """Entries to forecast ``horizon`` periods after each series' last history row.

    Returns (entries, first forecast period per series, largest observed target per
    series with NaN for cold start), sorted by id. A series with no observed value gets
    a target of ``context_length`` NaNs, so the model forecasts it from its static
    features. Dynamic features must cover the horizon (``is_future`` rows or ``future_df``).
    """
    frames = [df] if future_df is None else [df, future_df.assign(**{IS_FUTURE: True})]
    full = pd.concat(frames, ignore_index=True).drop_duplicates([UNIQUE_ID, DS], keep="first")
    offset = pd.tseries.frequencies.to_offset(spec.freq)
    entries, starts, maxima = [], [], []
    for uid, g in _series(full, spec):
        hist = history_rows(g)
        first_fc = hist[DS].max() + offset if len(hist) else g[DS].min()
        if hist[Y].notna().any():
            begin = hist.at[hist[Y].first_valid_index(), DS]
        else:  # cold start: an unobserved context ending just before the forecast
            begin = first_fc - context_length * offset
        span = pd.date_range(begin, first_fc + (horizon - 1) * offset, freq=spec.freq)
        cov = g.set_index(DS).reindex(span)
        if spec.dynamic_real:
            known = cov[list(spec.dynamic_real)].iloc[-horizon:].notna().all(axis=1)
            if not known.all():
                lacking = [str(d.date()) for d in known.index[~known][:3]]
                raise InputError(
                    f"series {uid!r} has no {list(spec.dynamic_real)} for forecast period(s) "
                    f"{lacking}: add {IS_FUTURE} rows with covariates or pass future_df"
                )
        target = cov[Y].iloc[:-horizon].to_numpy("float32")
        entries.append(_make(uid, begin, target, _static_row(g, spec), cov, spec, enc, gluonts_freq))
        starts.append(pd.Timestamp(first_fc))
        maxima.append(float(np.nanmax(target)) if np.isfinite(target).any() else np.nan)
    return entries, starts, np.asarray(maxima, dtype="float64")


def _series(df: pd.DataFrame, spec: PanelSpec):
    """Yield (id, frame) per series sorted by id, each sorted by ds and on the freq grid."""
    df = df.assign(**{UNIQUE_ID: df[UNIQUE_ID].astype(str), DS: pd.to_datetime(df[DS])})
    for uid, g in df.sort_values([UNIQUE_ID, DS]).groupby(UNIQUE_ID, sort=True):
        if g.empty:
            continue
        grid = pd.date_range(g[DS].iloc[0], g[DS].iloc[-1], freq=spec.freq)
        off_grid = ~g[DS].isin(grid)
        if off_grid.any():
            raise InputError(
                f"series {uid!r}: {DS} {g[DS][off_grid].iloc[0]} is not on the panel's "
                f"'{spec.freq}' grid: align period starts to the frequency"
            )
        yield str(uid), g.set_index(DS).reindex(grid).rename_axis(DS).reset_index()


def _static_table(df: pd.DataFrame, spec: PanelSpec) -> pd.DataFrame:
    cols = [*spec.static_real, *spec.static_cat]
    if not cols:
        return pd.DataFrame(index=pd.Index(sorted(df[UNIQUE_ID].astype(str).unique())))
    return df.assign(**{UNIQUE_ID: df[UNIQUE_ID].astype(str)}).groupby(UNIQUE_ID)[cols].first()


def _static_row(g: pd.DataFrame, spec: PanelSpec) -> dict[str, Any]:
    """First non-missing value of each static column in one series' rows."""
    return {c: g[c].dropna().iloc[0] if g[c].notna().any() else np.nan
            for c in (*spec.static_real, *spec.static_cat)}


def _make(uid, start, target, static, cov, spec, enc, gluonts_freq) -> dict:
    entry: dict[str, Any] = {
        "item_id": uid,
        "start": pd.Period(start, freq=gluonts_freq),
        "target": np.asarray(target, dtype="float32"),
    }
    if spec.static_cat:
        entry["feat_static_cat"] = np.array(
            [enc.encode_cat(c, static[c]) for c in spec.static_cat], dtype="int64")
    if spec.static_real:
        entry["feat_static_real"] = np.concatenate(
            [enc.scale_real(c, [static[c]]) for c in spec.static_real])
    if spec.dynamic_real:
        entry["feat_dynamic_real"] = np.stack(
            [enc.scale_real(c, cov[c].to_numpy()) for c in spec.dynamic_real])
    return entry


def _truncate(entry: dict, n: int) -> dict:
    out = dict(entry, target=entry["target"][:-n])
    if "feat_dynamic_real" in entry:
        out["feat_dynamic_real"] = entry["feat_dynamic_real"][:, :-n]
    return out
