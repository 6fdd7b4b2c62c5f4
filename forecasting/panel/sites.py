"""Static covariates of the sites, from the bronze ``warehouses`` snapshot."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from forecasting.core import schema

log = logging.getLogger(__name__)

OPENED = "_opened"  # internal column: the opening day, dropped before the panel is written
_UNKNOWN = "unknown"


def site_covariates(warehouses: pd.DataFrame) -> pd.DataFrame:
    """Static covariates per site: warehouse_id, region, country, sqft_log and ``OPENED``.

    ``OPENED`` (datetime64[ns]) is the opening day, NaT when unknown; one row per site,
    sorted by warehouse_id.

    A missing or non-positive sqft takes its region's median (the network's if none), a
    missing region or country becomes ``unknown``: covariates are never null.
    """
    w = warehouses.drop_duplicates(schema.WAREHOUSE_ID, keep="last")
    out = pd.DataFrame({schema.WAREHOUSE_ID: w[schema.WAREHOUSE_ID].astype(str).to_numpy()})
    for col in schema.PANEL_STATIC_CAT:
        vals = w[col].astype(object).to_numpy()
        out[col] = [
            str(v) if v is not None and not pd.isna(v) and str(v) else _UNKNOWN for v in vals
        ]
    sqft = pd.to_numeric(w[schema.SQFT], errors="coerce").to_numpy(dtype=float)
    sqft = pd.Series(np.where(sqft > 0, sqft, np.nan))
    fill = sqft.groupby(out[schema.REGION]).transform("median").fillna(sqft.median())
    if sqft.isna().any():
        log.warning(
            "%d site(s) without a usable sqft: using the region median", int(sqft.isna().sum())
        )
    out[schema.SQFT_LOG] = np.log(sqft.fillna(fill).fillna(1.0)).astype("float64")
    out[OPENED] = pd.to_datetime(w[schema.OPENED_ON]).astype("datetime64[ns]").to_numpy()
    return out.sort_values(schema.WAREHOUSE_ID, kind="stable").reset_index(drop=True)
