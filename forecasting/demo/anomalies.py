"""Known root causes injected into the sample network (``riskcast demo-data --anomalies``).

Five causes, each at its own sites (at most one episode per site), in whole Monday weeks
of the last ``WINDOW_WEEKS`` full weeks before the final settle week, so an as-of date
just before that window publishes forecasts over it and a later as-of sees the actuals:

| cause (graph node) | what happens at the site for 1..3 weeks |
|---|---|
| ``thefts``       | a theft ring: extra thefts at max(4 x mu, 0.6) a day (reported and counted as usual) |
| ``reporting``    | reporting collapse: no security report is filed (thefts or other incidents) |
| ``count_errors`` | a miscount burst: extra MISCOUNT lines and UNEXPLAINED loss lines that are no theft |
| ``value_mix``    | a shift to high-value goods: every theft is HVG at 15 x its unit value |
| ``activity``     | an unannounced launch: extra TRANSFER/DAMAGE lines and thefts at max(3 x mu, 0.5) a day; no event row |

The node names are those of ``forecasting.explain.graph``; ``_truth/anomalies.csv`` lists
``warehouse_id, period_start, cause`` per affected week. Without ``--anomalies`` nothing
here runs and the network is byte-identical to one generated without it.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from forecasting.core.schema import (
    ANOMALY_CAUSE,
    COLD_START,
    COUNTED_UNITS,
    EXPECTED_UNITS,
    IS_HVG,
    LOSS_VALUE_EUR,
    NODE_ACTIVITY,
    NODE_COUNT_ERRORS,
    NODE_REPORTING,
    NODE_THEFTS,
    NODE_VALUE_MIX,
    OPENED_ON,
    PERIOD_START,
    REASON_CODE,
    SEVERITY,
    TRUE_REPORTED,
    UNIT_VALUE_EUR,
    UNITS,
    WAREHOUSE_ID,
)
from forecasting.demo import activity as act
from forecasting.demo.network import TrueProcess

ANOMALIES_STEM = "anomalies"  # _truth/anomalies.csv
CAUSE = ANOMALY_CAUSE
THEFTS, REPORTING, COUNT_ERRORS, VALUE_MIX, ACTIVITY = (
    NODE_THEFTS, NODE_REPORTING, NODE_COUNT_ERRORS, NODE_VALUE_MIX, NODE_ACTIVITY,
)  # fmt: skip
CAUSES = (THEFTS, REPORTING, COUNT_ERRORS, VALUE_MIX, ACTIVITY)
WEEKS = {THEFTS: (2, 3), REPORTING: (2, 3), COUNT_ERRORS: (1, 2), VALUE_MIX: (2, 3), ACTIVITY: (1, 2)}
WINDOW_WEEKS, SETTLE_DAYS, MIN_HISTORY_WEEKS = 8, 7, 26
VALUE_FACTOR = 15.0
_FIRST, _LAST = "_first", "_last"  # day indices of an episode (inclusive)


def window_mondays(start: date, days: int) -> list[date]:
    """The Mondays of the weeks anomalies may fall in (full weeks ending before the settle week)."""
    end = start + timedelta(days=days - 1 - SETTLE_DAYS)
    last = end - timedelta(days=(end.weekday() + 1) % 7)  # the Sunday on or before end
    mondays = [last - timedelta(days=6 + 7 * i) for i in range(WINDOW_WEEKS)]
    return sorted(m for m in mondays if m >= start)


def plan_anomalies(
    rng: np.random.Generator, wh: pd.DataFrame, start: date, days: int, mu: np.ndarray
) -> pd.DataFrame:
    """Episodes (``_w``, ``cause``, ``_first``, ``_last``): max(1, W // 10) sites per cause.

    Sites must be open ``MIN_HISTORY_WEEKS`` before the window; the value shift goes to the
    busiest of them (a shift is invisible in a week without thefts).
    """
    mondays = window_mondays(start, days)
    if not mondays:
        return pd.DataFrame(columns=[act.W, CAUSE, _FIRST, _LAST])
    first_day = (mondays[0] - start).days
    opened = np.array([(d - start).days for d in wh[OPENED_ON]])
    ok = (opened <= first_day - 7 * MIN_HISTORY_WEEKS) & ~wh[COLD_START].to_numpy(dtype=bool)
    eligible = list(rng.permutation(np.flatnonzero(ok)))
    per = max(1, len(wh) // 10)
    busy = sorted(eligible, key=lambda w: -mu[w, :days].mean())
    rows = []
    for cause in (VALUE_MIX, *[c for c in CAUSES if c != VALUE_MIX]):
        pool = busy if cause == VALUE_MIX else eligible
        for w in pool[:per]:
            eligible.remove(w)
            busy.remove(w)
            lo, hi = WEEKS[cause]
            n = int(rng.integers(lo, hi + 1))
            k = int(rng.integers(0, max(1, len(mondays) - n + 1)))
            first = (mondays[k] - start).days
            rows.append({act.W: int(w), CAUSE: cause, _FIRST: first,
                         _LAST: min(first + 7 * n, days) - 1})  # fmt: skip
    return pd.DataFrame(rows, columns=[act.W, CAUSE, _FIRST, _LAST])


def _mask(plan: pd.DataFrame, cause: str, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for r in plan.loc[plan[CAUSE] == cause].to_dict("records"):
        mask[r[act.W], r[_FIRST] : r[_LAST] + 1] = True
    return mask


def extra_thefts(
    rng: np.random.Generator, plan: pd.DataFrame, counts: np.ndarray, mu: np.ndarray, is_open: np.ndarray
) -> np.ndarray:
    """Add the theft ring's and the unannounced launch's thefts to the (W, D) count matrix."""
    out = counts.copy()
    for cause, factor, floor in ((THEFTS, 4.0, 0.6), (ACTIVITY, 3.0, 0.5)):
        mask = _mask(plan, cause, counts.shape) & is_open
        out += rng.poisson(np.where(mask, np.maximum(factor * mu, floor), 0.0))
    return out


def alter_thefts(plan: pd.DataFrame, thefts: pd.DataFrame, n_sites: int, days: int) -> pd.DataFrame:
    """Value shift (unit value x ``VALUE_FACTOR``) and reporting collapse (nothing reported)."""
    out = thefts.copy()
    w, d = out[act.W].to_numpy(), out[act.DAY].to_numpy()
    shape = (n_sites, days)
    pricey = _mask(plan, VALUE_MIX, shape)[w, d]
    uv = np.round(out[UNIT_VALUE_EUR].to_numpy() * np.where(pricey, VALUE_FACTOR, 1.0), 2)
    out[UNIT_VALUE_EUR] = uv
    out[LOSS_VALUE_EUR] = np.round(out[UNITS].to_numpy() * uv, 2)
    out[IS_HVG] = out[IS_HVG].to_numpy(dtype=bool) | pricey
    hvg, value = out[IS_HVG].to_numpy(dtype=bool), out[LOSS_VALUE_EUR].to_numpy()
    out[SEVERITY] = np.where((hvg & (value >= 2500)) | (value >= 5000), "SEV1",
                             np.where(hvg | (value >= 1000), "SEV2", "SEV3"))  # fmt: skip
    silent = _mask(plan, REPORTING, shape)[w, d]
    out[TRUE_REPORTED] = out[TRUE_REPORTED].to_numpy() & ~silent
    return out


def keep_noise_reports(
    plan: pd.DataFrame, w: np.ndarray, d: np.ndarray, n_sites: int, days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Drop the other incident reports a collapsed site would have filed."""
    keep = ~_mask(plan, REPORTING, (n_sites, days))[w, d]
    return w[keep], d[keep]


def extra_recon(
    rng: np.random.Generator,
    plan: pd.DataFrame,
    wh: pd.DataFrame,
    catalog: pd.DataFrame,
    process: TrueProcess,
    rate_recon: np.ndarray,
    is_open: np.ndarray,
) -> pd.DataFrame:
    """Count lines of the launch (TRANSFER / DAMAGE) and of the miscount burst."""
    shape = is_open.shape
    frames = []
    for cause, factor in ((ACTIVITY, 4.0), (COUNT_ERRORS, 3.0)):
        rate = np.where(_mask(plan, cause, shape) & is_open, factor * rate_recon[:, None], 0.0)
        counts = rng.poisson(rate)
        w, d = np.nonzero(counts)
        w, d = np.repeat(w, counts[w, d]), np.repeat(d, counts[w, d])
        lines = act.noise_recon(rng, w, d, wh, catalog, process)
        n = len(lines)
        if cause == ACTIVITY:
            reason = np.where(rng.random(n) < 0.6, "TRANSFER", "DAMAGE")
        else:  # half plain miscounts, half losses nobody explains (not thefts)
            reason = np.where(rng.random(n) < 0.5, "MISCOUNT", "UNEXPLAINED")
            short = reason == "UNEXPLAINED"
            exp = lines[EXPECTED_UNITS].to_numpy()
            lines[COUNTED_UNITS] = np.where(short, exp - 1 - rng.poisson(1.0, n),
                                            lines[COUNTED_UNITS].to_numpy())  # fmt: skip
        lines[REASON_CODE] = reason
        frames.append(lines)
    return pd.concat(frames, ignore_index=True)


def truth_frame(plan: pd.DataFrame, wh: pd.DataFrame, start: date) -> pd.DataFrame:
    """``warehouse_id, period_start, cause``: one row per affected Monday week, sorted."""
    rows = [
        {WAREHOUSE_ID: wh[WAREHOUSE_ID].iloc[r[act.W]],
         PERIOD_START: str(start + timedelta(days=day)), CAUSE: r[CAUSE]}
        for r in plan.to_dict("records") for day in range(r[_FIRST], r[_LAST] + 1, 7)
    ]  # fmt: skip
    out = pd.DataFrame(rows, columns=[WAREHOUSE_ID, PERIOD_START, CAUSE])
    return out.sort_values([WAREHOUSE_ID, PERIOD_START], kind="stable").reset_index(drop=True)
