"""The sample network's event calendar: product launches, peaks and country holidays.

Events are written one row per day (``events.csv``), because the contract's key is
``(date, scope, scope_id, event_type)``; a multi-day event repeats its name on each day.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from forecasting.core.schema import (
    COUNTRY,
    EVENT_DATE,
    EVENT_TYPE,
    EVENTS,
    IS_HOLIDAY,
    IS_LAUNCH,
    IS_PEAK,
    REGION,
    SCOPE,
    SCOPE_ID,
    WAREHOUSE_ID,
)

# country -> (national day MM-DD, its name)
_NATIONAL_DAYS = {
    "DE": ("10-03", "Tag der Deutschen Einheit"),
    "AT": ("10-26", "Nationalfeiertag"),
    "CH": ("08-01", "Bundesfeier"),
    "NL": ("04-27", "Koningsdag"),
    "BE": ("07-21", "Fête nationale"),
    "LU": ("06-23", "Nationalfeierdag"),
    "FR": ("07-14", "Fête nationale"),
    "ES": ("10-12", "Fiesta Nacional"),
    "PT": ("06-10", "Dia de Portugal"),
    "IT": ("06-02", "Festa della Repubblica"),
    "SE": ("06-06", "Nationaldagen"),
    "DK": ("06-05", "Grundlovsdag"),
    "FI": ("12-06", "Itsenäisyyspäivä"),
    "NO": ("05-17", "Grunnlovsdagen"),
    "PL": ("05-03", "Święto Konstytucji 3 Maja"),
    "CZ": ("10-28", "Den vzniku Československa"),
    "HU": ("08-20", "Szent István ünnepe"),
    "SK": ("09-01", "Deň Ústavy"),
    "RO": ("12-01", "Ziua Națională"),
}
_NO_EASTER_MONDAY = {"ES", "PT", "RO"}  # Orthodox Easter in RO; regional elsewhere
_NO_MAY_DAY = {"NL", "DK", "CH"}
_NO_BOXING_DAY = {"FR", "ES", "PT", "BE"}
_PRODUCTS = (
    "Nova phone",
    "Aero laptop",
    "Zen console",
    "Lumen tablet",
    "Astra watch",
    "Vibe earbuds",
)
_LAUNCHES_PER_YEAR = 4


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    first_thursday = 1 + (3 - first.weekday()) % 7
    return date(year, 11, first_thursday + 21 + 1)


def build_events(
    rng: np.random.Generator, warehouses: pd.DataFrame, start: date, end: date
) -> pd.DataFrame:
    """Events from ``start`` to ``end`` (inclusive; beyond the data so the panel has future
    covariates), one row per day, columns in EVENTS contract order, sorted by key.

    ``scope_id`` is empty for scope ``all``, a region name, a country code or a warehouse id.
    """
    rows: list[tuple[date, str, str, str, str]] = []
    countries = sorted(warehouses[COUNTRY].unique())
    regions = sorted(warehouses[REGION].unique())
    ids = sorted(warehouses[WAREHOUSE_ID])
    for year in range(start.year, end.year + 1):
        rows += _peaks(year)
        for c in countries:
            rows += _holidays(year, c)
        rows += _launches(rng, year, regions, ids)
    df = pd.DataFrame(rows, columns=list(EVENTS.columns))
    df = df[(df[EVENT_DATE] >= start) & (df[EVENT_DATE] <= end)]
    key = list(EVENTS.key)
    df = df.sort_values(key, kind="stable").drop_duplicates(key, keep="first")
    return df.reset_index(drop=True)


def _span(first: date, n_days: int, scope: str, scope_id: str, etype: str, name: str) -> list:
    return [(first + timedelta(days=i), scope, scope_id, etype, name) for i in range(n_days)]


def _peaks(year: int) -> list:
    bf = black_friday(year)
    return (
        _span(bf - timedelta(days=4), 8, "all", "", "peak", "Black Friday week")
        + _span(date(year, 12, 8), 16, "all", "", "peak", "Pre-Christmas peak")
        + _span(date(year, 7, 1), 10, "all", "", "peak", "Summer sale")
    )


def _holidays(year: int, country: str) -> list:
    days = [(date(year, 1, 1), "New Year's Day"), (date(year, 12, 25), "Christmas Day")]
    if country not in _NO_BOXING_DAY:
        days.append((date(year, 12, 26), "St Stephen's Day"))
    if country not in _NO_EASTER_MONDAY:
        days.append((easter_sunday(year) + timedelta(days=1), "Easter Monday"))
    if country not in _NO_MAY_DAY:
        days.append((date(year, 5, 1), "Labour Day"))
    mmdd, name = _NATIONAL_DAYS[country]
    days.append((date.fromisoformat(f"{year}-{mmdd}"), name))
    return [(d, "country", country, "holiday", n) for d, n in days]


def _launches(rng: np.random.Generator, year: int, regions: list[str], ids: list[str]) -> list:
    out = []
    for _ in range(_LAUNCHES_PER_YEAR):
        first = date(year, 1, 1) + timedelta(days=int(rng.integers(0, 358)))
        n_days = int(rng.integers(3, 11))
        product = _PRODUCTS[int(rng.integers(len(_PRODUCTS)))]
        scope = ("all", "region", "warehouse")[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
        scope_id = {
            "all": "",
            "region": regions[int(rng.integers(len(regions)))],
            "warehouse": ids[int(rng.integers(len(ids)))],
        }[scope]
        out += _span(first, n_days, scope, scope_id, "product_launch", f"Launch: {product} {year}")
    return out


def event_flags(
    events: pd.DataFrame, warehouses: pd.DataFrame, dates: pd.DatetimeIndex
) -> dict[str, np.ndarray]:
    """``is_launch`` / ``is_peak`` / ``is_holiday`` as bool arrays of shape (warehouses, dates)."""
    by_type = {"product_launch": IS_LAUNCH, "peak": IS_PEAK, "holiday": IS_HOLIDAY}
    flags = {col: np.zeros((len(warehouses), len(dates)), dtype=bool) for col in by_type.values()}
    index = {d.date(): i for i, d in enumerate(dates)}
    match = {
        "region": warehouses[REGION].to_numpy(),
        "country": warehouses[COUNTRY].to_numpy(),
        "warehouse": warehouses[WAREHOUSE_ID].to_numpy(),
    }
    for (scope, scope_id, etype), g in events.groupby([SCOPE, SCOPE_ID, EVENT_TYPE], sort=True):
        cols = [index[d] for d in g[EVENT_DATE] if d in index]
        if scope == "all":
            rows = np.ones(len(warehouses), dtype=bool)
        else:
            rows = match[scope] == scope_id
        flags[by_type[etype]][np.ix_(rows, cols)] = True
    return flags
