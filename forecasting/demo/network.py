"""The sample network: geography, sites, SKU catalog and the true theft process.

Everything is drawn from a numpy ``Generator``, so a seed fixes the network. The true
daily theft count of warehouse ``w`` on day ``t`` is NegativeBinomial(mean ``mu``,
dispersion ``k``; Var = mu + mu^2 / k) with::

    log mu = b0 + b_sqft * log(sqft / sqft_ref) + region_effect[region]
             + b_launch * launch + b_peak * peak + b_holiday * holiday
             + weekday_effect[weekday] + log(risk_factor_w)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.schema import (
    COLD_START,
    COUNTRY,
    IS_HOLIDAY,
    IS_HVG,
    IS_LAUNCH,
    IS_PEAK,
    OPENED_ON,
    PRODUCT_CATEGORY,
    REGION,
    REPORTING_RATE,
    RISK_FACTOR,
    SKU,
    SQFT,
    UNIT_VALUE_EUR,
    WAREHOUSE_ID,
    WAREHOUSE_NAME,
)

REGIONS: dict[str, tuple[str, ...]] = {
    "DACH": ("DE", "AT", "CH"),
    "Benelux": ("NL", "BE", "LU"),
    "France": ("FR",),
    "Iberia": ("ES", "PT"),
    "Italy": ("IT",),
    "Nordics": ("SE", "DK", "FI", "NO"),
    "CEE": ("PL", "CZ", "HU", "SK", "RO"),
}
COUNTRY_REGION = {c: r for r, cs in REGIONS.items() for c in cs}

# country -> (share of sites, phone prefix, cities); the shares mimic a big EU 3PL.
COUNTRIES: dict[str, tuple[int, str, tuple[str, ...]]] = {
    "DE": (14, "+49", ("Berlin", "Hamburg", "Dortmund", "Leipzig", "Frankfurt", "Nürnberg")),
    "AT": (3, "+43", ("Wien", "Linz", "Graz")),
    "CH": (2, "+41", ("Zürich", "Basel")),
    "NL": (6, "+31", ("Venlo", "Tilburg", "Rotterdam", "Almere")),
    "BE": (4, "+32", ("Antwerpen", "Liège", "Gent")),
    "LU": (1, "+352", ("Bettembourg",)),
    "FR": (9, "+33", ("Lyon", "Lille", "Marseille", "Orléans", "Toulouse")),
    "ES": (6, "+34", ("Madrid", "Zaragoza", "Barcelona", "Valencia")),
    "PT": (2, "+351", ("Lisboa", "Porto")),
    "IT": (6, "+39", ("Milano", "Piacenza", "Bologna", "Roma")),
    "SE": (3, "+46", ("Göteborg", "Stockholm", "Jönköping")),
    "DK": (2, "+45", ("Aarhus", "København")),
    "FI": (1, "+358", ("Vantaa",)),
    "NO": (1, "+47", ("Oslo",)),
    "PL": (7, "+48", ("Poznań", "Łódź", "Wrocław", "Gliwice")),
    "CZ": (4, "+420", ("Praha", "Brno", "Ostrava")),
    "HU": (2, "+36", ("Budapest", "Győr")),
    "SK": (1, "+421", ("Bratislava",)),
    "RO": (2, "+40", ("București", "Cluj-Napoca")),
}
_SITE_KINDS = ("DC", "Hub", "Fulfilment Centre", "Cross-Dock", "Logistics Park")

# product category -> (high-value goods?, median unit value in EUR)
PRODUCT_CATEGORIES: dict[str, tuple[bool, float]] = {
    "phones": (True, 450.0),
    "laptops": (True, 900.0),
    "tablets": (True, 380.0),
    "consoles": (True, 420.0),
    "cosmetics": (True, 55.0),
    "spirits": (True, 40.0),
    "power_tools": (True, 180.0),
    "apparel": (False, 30.0),
    "toys": (False, 22.0),
    "household": (False, 18.0),
    "books": (False, 12.0),
    "grocery": (False, 6.0),
    "garden": (False, 35.0),
}
SQFT_RANGE = (20_000.0, 800_000.0)


def _region_dict(**values: float) -> dict[str, float]:
    return {r: float(values[r]) for r in REGIONS}


@dataclass(frozen=True)
class TrueProcess:
    """Parameters of the true theft, severity, reporting and noise processes."""

    b0: float = -2.0  # ~0.9 thefts/week at a reference-size site with risk factor 1
    b_sqft: float = 0.5
    sqft_ref: float = 126_000.0  # geometric middle of SQFT_RANGE
    region_effect: dict[str, float] = field(
        default_factory=lambda: _region_dict(
            DACH=0.0, Benelux=0.1, France=0.2, Iberia=-0.1, Italy=0.15, Nordics=-0.3, CEE=0.25
        )
    )
    b_launch: float = 0.4
    b_peak: float = 0.5
    b_holiday: float = -0.3  # fewer people on site, fewer goods moving
    weekday_effect: tuple[float, ...] = (0.05, 0.05, 0.05, 0.05, 0.1, -0.15, -0.4)  # Mon..Sun
    dispersion: float = 0.8
    risk_factor_sigma: float = 0.45  # lognormal, mean 1
    hvg_share: float = 0.6
    units_extra_mean_hvg: float = 0.8  # units = 1 + Poisson(this)
    units_extra_mean_other: float = 3.0
    unit_value_sigma: float = 0.35  # lognormal spread of SKU prices within a category
    region_price: dict[str, float] = field(
        default_factory=lambda: _region_dict(
            DACH=1.05, Benelux=1.0, France=1.0, Iberia=0.92, Italy=0.95, Nordics=1.15, CEE=0.85
        )
    )
    reporting_mean: dict[str, float] = field(
        default_factory=lambda: _region_dict(
            DACH=0.65, Benelux=0.55, France=0.45, Iberia=0.35, Italy=0.4, Nordics=0.7, CEE=0.3
        )
    )
    reporting_concentration: float = 12.0  # Beta(m c, (1 - m) c) across sites
    reporting_bounds: tuple[float, float] = (0.15, 0.85)
    report_delay_max_hours: int = 72
    count_delay_max_days_hvg: int = 3
    count_delay_max_days_other: int = 10
    noise_reports_per_day: float = 0.9  # at sqft_ref, scaled by (sqft / sqft_ref) ** 0.3
    noise_recon_per_day: float = 1.2  # at sqft_ref, scaled by (sqft / sqft_ref) ** 0.4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrueProcess:
        names = cls.__dataclass_fields__
        kept = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names}
        return cls(**kept)


def build_warehouses(
    rng: np.random.Generator, n: int, days: int, start: date, process: TrueProcess
) -> pd.DataFrame:
    """One row per site, sorted by id.

    Columns: ``warehouse_id`` (``WH-DE-001``), ``name``, ``country``, ``region``, ``sqft``
    (float, log-uniform 20k..800k), ``opened_on`` (date), ``risk_factor`` (lognormal, mean
    1), ``reporting_rate`` (Beta by region), ``cold_start`` (bool: the one site opening a
    few days before the last day). About 15% of the others open part-way through the range.
    """
    countries = sorted(_draw_countries(rng, n))
    ids, names, seen = [], [], {}
    for c in countries:
        k = seen.get(c, 0)
        seen[c] = k + 1
        cities = COUNTRIES[c][2]
        kind = _SITE_KINDS[(k // len(cities)) % len(_SITE_KINDS)]
        lap = k // (len(cities) * len(_SITE_KINDS))
        ids.append(f"WH-{c}-{k + 1:03d}")
        names.append(f"{cities[k % len(cities)]} {kind}" + (f" {lap + 1}" if lap else ""))
    regions = [COUNTRY_REGION[c] for c in countries]

    lo, hi = np.log(SQFT_RANGE[0]), np.log(SQFT_RANGE[1])
    sqft = np.round(np.exp(rng.uniform(lo, hi, n)), -2)
    offsets = -rng.integers(60, 3650, n)  # days before start
    cold = int(rng.integers(n))
    others = np.array([i for i in range(n) if i != cold], dtype=int)
    n_part = int(round(0.15 * n)) if n >= 4 else 0
    part = rng.choice(others, size=n_part, replace=False)
    offsets[part] = rng.integers(days // 10, int(days * 0.8), n_part)
    offsets[cold] = days - 1 - rng.integers(3, 8)  # 3..7 days before the last day

    s = process.risk_factor_sigma
    risk = rng.lognormal(-s * s / 2, s, n)
    mean = np.array([process.reporting_mean[r] for r in regions])
    c = process.reporting_concentration
    rate = np.clip(rng.beta(mean * c, (1 - mean) * c), *process.reporting_bounds)

    return pd.DataFrame(
        {
            WAREHOUSE_ID: ids,
            WAREHOUSE_NAME: names,
            COUNTRY: countries,
            REGION: regions,
            SQFT: sqft,
            OPENED_ON: [start + timedelta(days=int(o)) for o in offsets],
            RISK_FACTOR: risk,
            REPORTING_RATE: rate,
            COLD_START: np.arange(n) == cold,
        }
    )


def _draw_countries(rng: np.random.Generator, n: int) -> list[str]:
    """One site in each region first (so small networks still span Europe), then by share."""
    regions = list(REGIONS)
    out = []
    for r in rng.permutation(len(regions))[: min(n, len(regions))]:
        cs = REGIONS[regions[r]]
        w = np.array([COUNTRIES[c][0] for c in cs], dtype=float)
        out.append(cs[int(rng.choice(len(cs), p=w / w.sum()))])
    codes = list(COUNTRIES)
    w = np.array([COUNTRIES[c][0] for c in codes], dtype=float)
    out += [codes[i] for i in rng.choice(len(codes), size=max(0, n - len(out)), p=w / w.sum())]
    return out


def build_catalog(rng: np.random.Generator, n_skus: int = 600) -> pd.DataFrame:
    """The SKU catalog, sorted by sku.

    Columns: ``sku`` (``SKU-123456``), ``product_category``, ``is_hvg`` (bool),
    ``unit_value_eur`` (base price before the region's price level; lognormal around the
    category median). Half the SKUs are high-value goods.
    """
    cats = list(PRODUCT_CATEGORIES)
    hvg_cats = [c for c in cats if PRODUCT_CATEGORIES[c][0]]
    other_cats = [c for c in cats if not PRODUCT_CATEGORIES[c][0]]
    half = n_skus // 2
    chosen = [hvg_cats[i] for i in rng.integers(len(hvg_cats), size=half)]
    chosen += [other_cats[i] for i in rng.integers(len(other_cats), size=n_skus - half)]
    median = np.array([PRODUCT_CATEGORIES[c][1] for c in chosen])
    value = np.round(median * rng.lognormal(0.0, TrueProcess().unit_value_sigma, n_skus), 2)
    numbers = rng.choice(np.arange(100_000, 1_000_000), size=n_skus, replace=False)
    df = pd.DataFrame(
        {
            SKU: [f"SKU-{x}" for x in numbers],
            PRODUCT_CATEGORY: chosen,
            IS_HVG: [PRODUCT_CATEGORIES[c][0] for c in chosen],
            UNIT_VALUE_EUR: value,
        }
    )
    return df.sort_values(SKU, kind="stable").reset_index(drop=True)


def log_mu(
    process: TrueProcess,
    warehouses: pd.DataFrame,
    flags: dict[str, np.ndarray],
    dates: pd.DatetimeIndex,
) -> np.ndarray:
    """log of the true NB mean, shape (warehouses, dates); flags are bool (W, T) arrays."""
    site = (
        process.b0
        + process.b_sqft * np.log(warehouses[SQFT].to_numpy() / process.sqft_ref)
        + warehouses[REGION].map(process.region_effect).to_numpy()
        + np.log(warehouses[RISK_FACTOR].to_numpy())
    )
    weekday = np.asarray(process.weekday_effect)[dates.dayofweek.to_numpy()]
    return (
        site[:, None]
        + weekday[None, :]
        + process.b_launch * flags[IS_LAUNCH]
        + process.b_peak * flags[IS_PEAK]
        + process.b_holiday * flags[IS_HOLIDAY]
    )
