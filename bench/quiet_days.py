"""False alarms of the volume band and the silence check on clean sample networks (issue 33).

For each network size (``--sites``), writes a clean sample network (``generate_network``, no
faults, no anomalies) of ``--days`` days, reads every daily drop with ingest's own reader
(``ingest.reader.read_file``: rows per site and day), then judges every day of each daily
source with the functions validation calls, on the settings' defaults:

- ``volume.count_band`` over the earlier ``volume_window_days`` counts (the volume
  expectation, critical), and the floor ``min_day_rows`` 0 (a complete header-only drop);
- ``volume.silent_sites`` over the rows per site (the silence check, warning);
- for comparison, the rule before issue 33: ``non_empty`` (at least one row) and the band
  [0.25 x median, 5 x median] of the 14 earlier days.

Then, on the same clean counts, what a real failure looks like: a day whose export lost
every row (header only) on each day with a full band (share of such days the band rejects),
and one site cut off for good half-way (days until the silence check alerts), for each site.

A full ``riskcast ingest`` of 3 years x 60 sites takes hours on this machine (about 0.45 s a
day for 6 sites, more with more rows); the judging functions are the same, so this reads the
drops' counts only. Usage: ``PYTHONPATH=$PWD .venv/bin/python bench/quiet_days.py --sites 6 20 60
--days 1096``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.core import schema as s
from forecasting.core.config import load_settings
from forecasting.demo.generate import generate_network
from forecasting.ingest.reader import read_file
from forecasting.validation.volume import count_band, silent_sites

START = date(2023, 1, 2)


def site_counts(landing: Path, source: str) -> pd.DataFrame:
    """Rows per site (columns) and day (index) of every drop of ``source``."""
    contract = s.CONTRACTS[source]
    out = {}
    for folder in sorted((landing / source).glob("date=*")):
        ids = []
        for f in sorted(folder.iterdir()):
            if f.name != "_SUCCESS":
                raw = read_file(f.name, f.read_bytes(), contract)
                ids += raw.table.column(s.WAREHOUSE_ID).to_pylist()
        out[pd.Timestamp(folder.name[5:])] = pd.Series(ids, dtype="string").value_counts()
    return pd.DataFrame(out).T.fillna(0).sort_index()


def judge_volume(totals: np.ndarray, window: int, tail: float) -> dict[str, int]:
    """Critical volume alerts on clean days: the band (new), the old rule, and zero days."""
    new = old = zeros = zero_ok = full = lost = 0
    for k in range(len(totals)):
        history, n = totals[max(0, k - window):k], int(totals[k])
        zeros += n == 0
        band = count_band(history, tail)
        if band is not None:
            full += 1
            new += band.judge(n) is not None
            zero_ok += n == 0 and band.judge(0) is None
            lost += band.judge(0) is not None  # had this day's export lost every row
        recent = totals[max(0, k - 14):k]
        if len(recent) >= 3:
            med = float(np.median(recent))
            old += n < max(1, np.floor(0.25 * med)) or n > np.ceil(max(med, 1) * 5)
        else:
            old += n == 0
    return {"days": len(totals), "zero_days": int(zeros), "critical_new": new, "critical_old": old,
            "zero_days_accepted": zero_ok, "lost_export_caught_pct": round(100 * lost / max(full, 1), 1)}  # fmt: skip


def judge_silence(counts: pd.DataFrame, v) -> int:
    """Silence warnings (new runs only) on the clean counts."""
    look = v.silence_history_days + 2 * v.silence_days
    alerts = 0
    for k in range(v.silence_days, len(counts)):
        found = silent_sites(counts.iloc[max(0, k - look):k + 1], min_days=v.silence_days, tail=v.silence_tail,
                             history_days=v.silence_history_days, min_history=max(v.silence_history_days // 2, 2))
        alerts += sum(x.new for x in found)
    return alerts


def detection_days(counts: pd.DataFrame, v) -> list[int | None]:
    """Per site: days from its cut-off (half-way) until the silence check alerts (None: never
    within 60 days)."""
    look = v.silence_history_days + 2 * v.silence_days
    cut = len(counts) // 2
    out = []
    for site in counts.columns:
        cutoff = counts.copy()
        cutoff.iloc[cut:, cutoff.columns.get_loc(site)] = 0
        found = None
        for k in range(cut, min(cut + 60, len(counts))):
            hit = silent_sites(cutoff.iloc[max(0, k - look):k + 1][[site]], min_days=v.silence_days,
                               tail=v.silence_tail, history_days=v.silence_history_days,
                               min_history=max(v.silence_history_days // 2, 2))  # fmt: skip
            if hit:
                found = k - cut + 1
                break
        out.append(found)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, nargs="+", default=[6, 20, 60])
    ap.add_argument("--days", type=int, default=1096)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    v = load_settings(None).validation
    rows = []
    for sites in args.sites:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            generate_network(tmp, sites, START, args.days, args.seed, False)
            for source in s.DAILY_SOURCES:
                counts = site_counts(Path(tmp), source)
                totals = counts.sum(axis=1).to_numpy()
                found = detection_days(counts, v)
                delays = [d for d in found if d is not None]
                rows.append({
                    "sites": sites, "source": source, "rows_per_day": round(float(totals.mean()), 1),
                    **judge_volume(totals, v.volume_window_days, v.volume_tail),
                    "silence_warnings": judge_silence(counts, v),
                    "cut_site_alerted": f"{len(delays)}/{len(found)}",
                    "days_to_alert_median": float(np.median(delays)) if delays else None,
                    "seconds": round(time.perf_counter() - t0, 1),
                })  # fmt: skip
                print(json.dumps(rows[-1], default=int), flush=True)
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
