"""Calibration in euros: how often the backtest's loss P95 held, not only its incident P95.

The calibration gate judges incident counts. Finance books euros, so the reserves stage
repeats the check on losses: the sample paths of the backtest's held-out windows
(``backtests/as_of=D/paths.parquet``, with each window's level map from
``calibration.json``) are compounded with the same severity pools as the reserves, and each
site-week's calibrated loss quantile is compared with the loss that week actually booked
(the panel's ``severity.parquet``, summed per warehouse and week). The network is judged
the same way on its weekly totals. The pools hold the held-out weeks' own losses too, so the
check is slightly kind to the model; with a few hundred site-weeks its own noise is larger.

``loss_coverage`` returns a JSON-able dict (``coverage.json`` of the reserves stage):
``windows``, ``site_weeks``, ``network_weeks``, and per level ``sites`` / ``network`` ->
``{"0.95": {"incidents": share, "loss_eur": share}}``; or ``{"available": False,
"reason": ...}`` when there is nothing to judge.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from forecasting.backtest.calibration import apply_levels
from forecasting.core import schema
from forecasting.core.lake import Lake
from forecasting.reserves import compound

LEVELS = (0.5, 0.9, 0.95)


def loss_coverage(
    lake: Lake,
    as_of: date,
    sites: pd.DataFrame,
    pools: compound.SeverityPools,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Held-out coverage of the incident and loss quantiles, per site-week and network-week.

    ``sites``: ``warehouse_id, region`` (the reserves' sites; others use the network pool).
    """
    paths_uri, gate_uri = lake.backtest_file(as_of, "paths"), lake.backtest_file(as_of, "gate")
    if not (lake.exists(paths_uri) and lake.exists(gate_uri)):
        return {"available": False, "reason": "no backtest sample paths for this date"}
    windows = [pd.Timestamp(w) for w in lake.read_json(gate_uri).get("windows") or []]
    paths = lake.read_parquet(paths_uri)
    paths = paths[pd.to_datetime(paths[schema.CUTOFF]).isin(windows)]
    if paths.empty:
        return {"available": False, "reason": "the backtest kept no paths of its held-out windows"}
    cal_uri = lake.backtest_file(as_of, "calibration")
    window_levels = lake.read_json(cal_uri).get("window_levels", {}) if lake.exists(cal_uri) else {}
    actual = _actuals(lake, as_of)
    region = dict(zip(sites[schema.WAREHOUSE_ID], sites[schema.REGION], strict=True))
    site_hits: dict[tuple[float, str], list[np.ndarray]] = {}
    net_hits: dict[tuple[float, str], list[np.ndarray]] = {}
    for cutoff, part in paths.groupby(schema.CUTOFF, sort=True):
        levels = window_levels.get(str(pd.Timestamp(cutoff).date())) or {f"{q:g}": q for q in LEVELS}
        levels = {q: float(levels.get(f"{q:g}", q)) for q in LEVELS}
        counts, ids, ds = _cube(part)
        names = sorted({region.get(i, compound.NETWORK_POOL) for i in ids})
        pool_list = [pools.pool_of(r) for r in names]
        site_pool = np.array([names.index(region.get(i, compound.NETWORK_POOL)) for i in ids])
        counts = np.repeat(counts, draws, axis=-1)
        index = np.broadcast_to(site_pool[:, None, None], counts.shape).ravel()
        losses = compound.simulate_losses(counts.ravel(), index, pool_list, rng).reshape(counts.shape)
        y = actual.reindex(pd.MultiIndex.from_product([ids, ds]))
        y_inc = y[schema.INCIDENTS_ACTUAL].to_numpy(float).reshape(len(ids), len(ds))
        y_loss = y[schema.LOSS_EUR_ACTUAL].to_numpy(float).reshape(len(ids), len(ds))
        seen = np.isfinite(y_inc)
        y_loss = np.where(seen, np.nan_to_num(y_loss), np.nan)
        for name, sims, obs in (("incidents", counts.astype(float), y_inc), ("loss_eur", losses, y_loss)):
            q_site = apply_levels(sims, levels, axis=-1)
            q_net = apply_levels(sims.sum(axis=0), levels, axis=-1)
            net_obs = np.where(seen.all(axis=0), np.nansum(obs, axis=0), np.nan)
            for q in LEVELS:
                site_hits.setdefault((q, name), []).append((obs <= q_site[q])[seen])
                ok = np.isfinite(net_obs)
                net_hits.setdefault((q, name), []).append((net_obs <= q_net[q])[ok])
    n_sites = int(sum(len(h) for h in site_hits[(LEVELS[0], "incidents")]))
    n_net = int(sum(len(h) for h in net_hits[(LEVELS[0], "incidents")]))
    if n_sites == 0:
        return {"available": False, "reason": "no actuals yet for the held-out weeks"}
    return {
        "available": True,
        "windows": [str(w.date()) for w in windows],
        "site_weeks": n_sites,
        "network_weeks": n_net,
        "sites": _shares(site_hits),
        "network": _shares(net_hits),
    }


def _shares(hits: dict[tuple[float, str], list[np.ndarray]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for (q, name), parts in sorted(hits.items()):
        arr = np.concatenate(parts) if parts else np.array([], bool)
        out.setdefault(f"{q:g}", {})[name] = round(float(arr.mean()), 4) if len(arr) else None
    return out


def _cube(part: pd.DataFrame) -> tuple[np.ndarray, list[str], list[pd.Timestamp]]:
    """Counts (sites, steps, samples) of one window, its sorted ids and period starts."""
    part = part.assign(**{schema.UNIQUE_ID: part[schema.UNIQUE_ID].astype(str)})
    ids = sorted(part[schema.UNIQUE_ID].unique())
    steps = sorted(part[schema.STEP].unique())
    samples = sorted(part[schema.SAMPLE].unique())
    key = [schema.UNIQUE_ID, schema.STEP, schema.SAMPLE]
    full = pd.MultiIndex.from_product([ids, steps, samples], names=key)
    values = part.set_index(key)[schema.VALUE].reindex(full).fillna(0.0).to_numpy(float)
    counts = np.rint(np.clip(values, 0, None)).astype(np.int64).reshape(len(ids), len(steps), len(samples))
    ds = part.groupby(schema.STEP)[schema.DS].min().sort_index()
    return counts, ids, [pd.Timestamp(d) for d in ds]


def _actuals(lake: Lake, as_of: date) -> pd.DataFrame:
    """Incidents (the panel's target) and booked loss per (warehouse, period start)."""
    panel = lake.read_parquet(lake.panel_file(as_of))[[schema.UNIQUE_ID, schema.DS, schema.Y]]
    panel = panel[panel[schema.Y].notna()]
    keys = [panel[schema.UNIQUE_ID].astype(str), pd.to_datetime(panel[schema.DS])]
    out = pd.DataFrame({schema.INCIDENTS_ACTUAL: panel[schema.Y].astype(float).to_numpy()},
                       index=pd.MultiIndex.from_arrays(keys))  # fmt: skip
    sev = lake.read_parquet(lake.panel_severity(as_of))
    if {schema.WAREHOUSE_ID, schema.DS} <= set(sev.columns):
        loss = sev.groupby([sev[schema.WAREHOUSE_ID].astype(str), pd.to_datetime(sev[schema.DS])])[
            schema.SEVERITY_LOSS_EUR
        ].sum()
        out[schema.LOSS_EUR_ACTUAL] = loss.reindex(out.index).fillna(0.0).to_numpy()
    else:
        out[schema.LOSS_EUR_ACTUAL] = np.nan
    out = out[~out.index.duplicated(keep="last")]
    return out
