"""The per-site silence check of a daily source: a site that stopped sending rows.

A network's daily row count hardly moves when one of 60 sites stops reporting, so the
volume band cannot see it. ``site_silence`` reads the rows per site of the source's recent
bronze partitions (the partitions the volume band reads, and more days back) and asks
``volume.silent_sites`` which sites have been silent for longer than their history makes
plausible (``settings.validation.silence_*``). A site found silent on the judged day is a
warning (``site_silence(warehouse_id)``: the day's rows are fine and stay in bronze; the
alert names the site and its history); on the days after, while the silence lasts, a note.
Only sites of the warehouses snapshot are judged when there is one.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow.parquet as pq

from forecasting.core.config import Settings
from forecasting.core.lake import Lake
from forecasting.core.schema import WAREHOUSE_ID, Contract
from forecasting.validation.gx.suite_results import WARNING, ExpectationResult, SuiteResult
from forecasting.validation.inputs import known_warehouse_ids, partition_dates
from forecasting.validation.volume import silent_sites

SILENCE = f"site_silence({WAREHOUSE_ID})"  # its name in results, alerts and the manifest
_CACHE: dict[tuple[str, int, str], pd.Series] = {}  # (uri, size, modified) -> rows per site
_CACHE_MAX = 20_000


def with_silence(settings: Settings, lake: Lake, contract: Contract, day: date, today: pd.Series,
                 result: SuiteResult, notes: list[str]) -> SuiteResult:  # fmt: skip
    """``result`` with the silence check appended when a site fell silent on ``day`` (a
    warning), and a note in ``notes`` for each site still silent. ``today``: the day's
    input rows per site (``warehouse_id`` value counts)."""
    if not contract.daily or WAREHOUSE_ID not in contract.columns:
        return result
    found = site_silence(settings, lake, contract, day, today)
    new = [s for s in found if s.new]
    notes += [f"still silent: {s.message}" for s in found if not s.new]
    if new:
        result.expectations.append(ExpectationResult(
            SILENCE, "riskcast_site_silence", WARNING, False, unexpected_count=len(new),
            element_count=len(today.index), observed_value={s.site: s.days for s in new},
            note="; ".join(s.message for s in new),
        ))  # fmt: skip
    return result


def rows_per_site(frame: pd.DataFrame) -> pd.Series:
    """Input rows per site of a day's frame (site id -> rows)."""
    if WAREHOUSE_ID not in frame.columns:
        return pd.Series(dtype="float64")
    return frame[WAREHOUSE_ID].dropna().astype("string").value_counts().astype("float64")


def site_silence(settings: Settings, lake: Lake, contract: Contract, day: date, today: pd.Series) -> list:
    """``volume.silent_sites`` on the day: the recent partitions' rows per site, then
    ``today`` (the day's rows per site); sites of the latest warehouses snapshot, if any."""
    v = settings.validation
    counts = site_counts(lake, contract, day, v.silence_history_days + 2 * v.silence_days)
    if counts.empty:  # no earlier rows: nothing to judge a silence by
        return []
    counts.loc[pd.Timestamp(day)] = today.reindex(counts.columns).fillna(0)
    known = known_warehouse_ids(lake, day)
    sites = sorted(set(counts.columns) if known is None else set(counts.columns) & set(known))
    return silent_sites(counts[sites].fillna(0), min_days=v.silence_days, tail=v.silence_tail,
                        history_days=v.silence_history_days, min_history=max(v.silence_history_days // 2, 2))  # fmt: skip


def site_counts(lake: Lake, contract: Contract, day: date, window: int) -> pd.DataFrame:
    """Rows per site (columns) of the last ``window`` bronze partitions before ``day`` (one
    row per partition date, ascending; 0 where a site sent none)."""
    found = {}
    for d in [d for d in partition_dates(lake, contract.name) if d < day][-window:]:
        uri = lake.bronze_file(contract.name, d)
        if lake.exists(uri):
            found[pd.Timestamp(d)] = _rows_per_site(lake, uri)
    frame = pd.DataFrame(found).T if found else pd.DataFrame()
    return frame.fillna(0).astype("float64")


def _rows_per_site(lake: Lake, uri: str) -> pd.Series:
    info = lake.fs.info(uri)
    key = (uri, int(info.get("size") or 0), str(info.get("mtime") or info.get("LastModified") or ""))
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        with lake.open(uri) as fh:
            ids = pq.read_table(fh, columns=[WAREHOUSE_ID]).column(0).to_pandas()
        _CACHE[key] = ids.astype("string").value_counts().astype("float64")
    return _CACHE[key]
