"""A user's own long-format panel (CSV, CSV.gz or Parquet) read into the panel contract.

Out: columns unique_id (str), ds (datetime64[ns], the period start), y (float64; a
missing value stays NaN, never zero), the named covariates, is_future (all False); one
row per series and period, sorted. Series with gaps are completed on their frequency grid
with missing ``y`` (only when there are no dynamic covariates to invent). All-missing
series are kept: the backtest skips and lists them. Every problem raises InputError naming
the file, the column, the series and the date, and how to fix it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.core import schema
from forecasting.core.errors import InputError
from forecasting.core.panel_spec import PanelSpec, freq_alias
from forecasting.panel.calendar import period_start

log = logging.getLogger(__name__)

_SHOW = 5  # offending examples named in an error message
_MONTH_END = {"ME", "M", "BM", "BME", "SM", "SME", "CBM"}


def load_panel(
    path: str,
    id_col: str = schema.UNIQUE_ID,
    time_col: str = schema.DS,
    target_col: str = schema.Y,
    static_real: tuple[str, ...] | list[str] = (),
    static_cat: tuple[str, ...] | list[str] = (),
    dynamic_real: tuple[str, ...] | list[str] = (),
    freq: str | None = None,
) -> tuple[pd.DataFrame, PanelSpec]:
    """Read, check and normalise a user panel; see the module docstring for the contract."""
    static_real, static_cat, dynamic_real = tuple(static_real), tuple(static_cat), tuple(dynamic_real)
    raw = _read(path)
    covariates = [*static_real, *static_cat, *dynamic_real]
    needed = [id_col, time_col, target_col, *covariates]
    missing = [c for c in dict.fromkeys(needed) if c not in raw.columns]
    if missing:
        raise InputError(
            f"{path}: column(s) {missing} not found (columns are {list(raw.columns)}): "
            "name them with --id-col / --time-col / --target-col / --static-* / --dynamic-real"
        )
    reserved = {schema.UNIQUE_ID, schema.DS, schema.Y, schema.IS_FUTURE}
    clash = [c for c in covariates if c in reserved]
    if clash:
        raise InputError(
            f"{path}: covariate column(s) {clash} clash with the panel's own columns: rename them"
        )
    df = pd.DataFrame(
        {
            schema.UNIQUE_ID: _ids(raw[id_col], path, id_col),
            schema.DS: _dates(raw, id_col, time_col, path),
        }
    )
    df[schema.Y] = _target(raw, id_col, time_col, target_col, path)
    for col in static_real:
        df[col] = _numeric(raw, col, id_col, time_col, path)
    for col in static_cat:
        df[col] = (
            raw[col]
            .astype(object)
            .where(raw[col].notna(), None)
            .map(lambda v: v if v is None else str(v))
        )
    for col in dynamic_real:
        df[col] = _numeric(raw, col, id_col, time_col, path)
    _check_duplicates(df, path, time_col)
    alias = _normalise_freq(freq_alias(freq) if freq else _infer_freq(df, path))
    df[schema.DS] = _on_grid(df, alias, path, time_col)
    _check_duplicates(df, path, time_col)  # two dates in one period (month ends and starts)
    _check_static(df, [*static_real, *static_cat], path)
    df = _complete_grid(df, alias, list(dynamic_real), [*static_real, *static_cat], path)
    df[schema.IS_FUTURE] = False
    spec = PanelSpec(
        freq=alias,
        static_real=tuple(static_real),
        static_cat=tuple(static_cat),
        dynamic_real=tuple(dynamic_real),
        target=target_col,
        extra={"source": str(path)},
    )
    cols = [schema.UNIQUE_ID, schema.DS, schema.Y, *covariates, schema.IS_FUTURE]
    df = df[cols].sort_values([schema.UNIQUE_ID, schema.DS], kind="stable").reset_index(drop=True)
    empty = df[schema.Y].notna().groupby(df[schema.UNIQUE_ID]).sum() == 0
    if empty.any():
        log.warning("%s: %d series have no observed y at all (kept)", path, int(empty.sum()))
    return df, spec


def _read(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"{path}: no such file: give the path of a long-format CSV or Parquet panel"
        )
    name = p.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(p).reset_index(drop=True)
        if name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")):
            # everything as text first: ids keep leading zeros, bad cells are reported, not guessed
            return pd.read_csv(p, dtype=str, keep_default_na=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot be read as {p.suffix} ({exc}): check the file") from exc
    raise InputError(f"{path}: unknown file type: use .csv, .csv.gz or .parquet")


def _where(df: pd.DataFrame, mask: pd.Series, id_col: str, time_col: str, col: str) -> str:
    """``data row N (series S, date D): 'value'`` for the first offending rows."""
    rows = df.loc[mask].head(_SHOW)
    parts = [
        f"data row {i + 1} (series {r[id_col]!s}, date {r[time_col]!s}): {r[col]!r}"
        for i, r in rows.iterrows()
    ]
    more = f" and {int(mask.sum()) - len(rows)} more" if int(mask.sum()) > len(rows) else ""
    return "; ".join(parts) + more


def _ids(col: pd.Series, path: str, id_col: str) -> np.ndarray:
    bad = col.isna() | (col.astype(str).str.strip() == "")
    if bad.any():
        rows = ", ".join(str(i + 1) for i in col.index[bad][:_SHOW])
        raise InputError(
            f"{path}: column {id_col!r} is empty on data row(s) {rows}: every row needs a series id"
        )
    return col.astype(str).str.strip().to_numpy()


def _dates(raw: pd.DataFrame, id_col: str, time_col: str, path: str) -> np.ndarray:
    col = raw[time_col]
    parsed = pd.to_datetime(col, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = parsed.isna()
    if bad.any():
        raise InputError(
            f"{path}: column {time_col!r} has missing or unparseable dates: "
            f"{_where(raw, bad, id_col, time_col, time_col)}: write dates as YYYY-MM-DD"
        )
    return parsed.astype("datetime64[ns]").to_numpy()


def _target(raw: pd.DataFrame, id_col: str, time_col: str, col: str, path: str) -> np.ndarray:
    text = raw[col]
    y = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = text.notna() & (y.isna() | np.isinf(y))
    if bad.any():
        raise InputError(
            f"{path}: target column {col!r} is not numeric: "
            f"{_where(raw, bad, id_col, time_col, col)}: use counts, and leave a missing value empty"
        )
    neg = y < 0
    if neg.any():
        raise InputError(
            f"{path}: target column {col!r} has negative values: "
            f"{_where(raw, neg, id_col, time_col, col)}: the model forecasts counts (>= 0)"
        )
    frac = y.notna() & (y != np.round(y))
    if frac.any():
        raise InputError(
            f"{path}: target column {col!r} has non-integer values: "
            f"{_where(raw, frac, id_col, time_col, col)}: the negative-binomial model needs counts"
        )
    return y.to_numpy()


def _numeric(raw: pd.DataFrame, col: str, id_col: str, time_col: str, path: str) -> np.ndarray:
    x = pd.to_numeric(raw[col], errors="coerce").astype("float64")
    bad = x.isna() | np.isinf(x)
    if bad.any():
        raise InputError(
            f"{path}: covariate {col!r} is missing or not numeric: "
            f"{_where(raw, bad, id_col, time_col, col)}: covariates must be present on every row"
        )
    return x.to_numpy()


def _categorical(raw: pd.DataFrame, col: str, id_col: str, time_col: str, path: str) -> np.ndarray:
    bad = raw[col].isna() | (raw[col].astype(str).str.strip() == "")
    if bad.any():
        raise InputError(
            f"{path}: static covariate {col!r} is empty: "
            f"{_where(raw, bad, id_col, time_col, col)}: covariates must be present on every row"
        )
    return raw[col].astype(str).str.strip().to_numpy()


def _infer_freq(df: pd.DataFrame, path: str) -> str:
    """Most common ``pd.infer_freq`` over series with at least 3 dates (ties: alphabetical)."""
    patterns = df.groupby(schema.UNIQUE_ID, sort=False)[schema.DS].agg(
        lambda d: tuple(np.unique(d.to_numpy()))
    )
    votes: dict[str, int] = {}
    # series usually share their dates: infer once per distinct date pattern
    for dates, n in patterns.value_counts(sort=False).items():
        if len(dates) >= 3:
            f = pd.infer_freq(pd.DatetimeIndex(dates))
            if f:
                votes[f] = votes.get(f, 0) + int(n)
    if not votes:
        raise InputError(
            f"{path}: cannot infer the frequency (no series has 3 regularly spaced dates): "
            "pass it explicitly (--freq D, W or M)"
        )
    return max(sorted(votes), key=votes.__getitem__)


def _normalise_freq(alias: str) -> str:
    base = alias.split("-")[0]
    return "MS" if base in _MONTH_END else alias


def _on_grid(df: pd.DataFrame, alias: str, path: str, time_col: str) -> pd.Series:
    """Dates moved to their period start where the contract says so; off-grid dates raise."""
    ds = df[schema.DS]
    if alias == "MS":
        ds = period_start(ds, "MS")  # month-end labels become month starts
    try:
        offset = pd.tseries.frequencies.to_offset(alias)
    except ValueError as exc:
        raise InputError(
            f"{path}: frequency {alias!r} is not a pandas frequency: use D, W or M"
        ) from exc
    uniq = pd.Series(ds.unique())
    off = uniq[~uniq.map(offset.is_on_offset)]
    if len(off):
        bad = df.loc[ds.isin(off)].head(_SHOW)
        where = "; ".join(
            f"series {r[schema.UNIQUE_ID]}, {time_col} {r[schema.DS].date()}"
            for _, r in bad.iterrows()
        )
        raise InputError(
            f"{path}: dates not on the {alias} grid: {where}: fix the dates or pass --freq"
        )
    return ds.to_numpy()


def _check_duplicates(df: pd.DataFrame, path: str, time_col: str) -> None:
    dup = df.duplicated([schema.UNIQUE_ID, schema.DS], keep=False)
    if dup.any():
        pairs = df.loc[dup, [schema.UNIQUE_ID, schema.DS]].drop_duplicates().head(_SHOW)
        where = "; ".join(
            f"series {r[schema.UNIQUE_ID]}, {time_col} {r[schema.DS].date()}"
            for _, r in pairs.iterrows()
        )
        n = int(df.loc[dup].drop_duplicates([schema.UNIQUE_ID, schema.DS]).shape[0])
        raise InputError(
            f"{path}: {n} duplicate (series, date) pair(s): {where}: "
            "keep one row per series and period"
        )


def _check_static(df: pd.DataFrame, cols: list[str], path: str) -> None:
    for col in cols:
        counts = df.groupby(schema.UNIQUE_ID)[col].nunique(dropna=False)
        bad = counts[counts > 1]
        if len(bad):
            sid = bad.index[0]
            vals = sorted(map(str, df.loc[df[schema.UNIQUE_ID] == sid, col].unique()))[:3]
            raise InputError(
                f"{path}: static covariate {col!r} changes within series {sid} (values {vals}) and "
                f"{len(bad) - 1} other series: pass it as --dynamic-real or make it constant"
            )


def _complete_grid(
    df: pd.DataFrame, alias: str, dynamic: list[str], static: list[str], path: str
) -> pd.DataFrame:
    """Insert missing periods inside each series with ``y`` missing (statics copied)."""
    # one global grid; a date's position on it makes gap detection arithmetic
    grid = pd.date_range(df[schema.DS].min(), df[schema.DS].max(), freq=alias)
    pos = pd.Series(grid.searchsorted(df[schema.DS].to_numpy()), index=df.index)
    span = pos.groupby(df[schema.UNIQUE_ID]).agg(["min", "max", "size"])
    gaps = span.index[(span["max"] - span["min"] + 1) != span["size"]]
    if not len(gaps):
        return df
    if dynamic:
        sid = gaps[0]
        have = set(pos[df[schema.UNIQUE_ID] == sid])
        first = next(i for i in range(span.loc[sid, "min"], span.loc[sid, "max"]) if i not in have)
        raise InputError(
            f"{path}: series {sid} (and {len(gaps) - 1} more) skips period {grid[first].date()} "
            f"but dynamic covariates {dynamic} must be known for every period: add the rows"
        )
    full = pd.concat(
        [
            pd.DataFrame(
                {
                    schema.UNIQUE_ID: sid,
                    schema.DS: grid[span.loc[sid, "min"] : span.loc[sid, "max"] + 1],
                }
            )
            for sid in gaps
        ],
        ignore_index=True,
    )
    part = df.loc[df[schema.UNIQUE_ID].isin(gaps)]
    filled = full.merge(part, on=[schema.UNIQUE_ID, schema.DS], how="left")
    for col in static:
        filled[col] = filled.groupby(schema.UNIQUE_ID)[col].transform("first")
    log.info("%s: %d series had missing periods, filled with missing y", path, len(gaps))
    return pd.concat([df.loc[~df[schema.UNIQUE_ID].isin(gaps)], filled], ignore_index=True)
