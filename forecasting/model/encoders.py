"""Encoders learned from the training panel: categorical codes and real-covariate statistics.

Categorical values map to ``1..n``; ``0`` is reserved for values unseen at training time
(or missing), so a warehouse in a new region still forecasts. Real covariates (static
and dynamic) are standardised with the training panel's mean and standard deviation;
missing values become the mean (0 after scaling).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.panel_spec import PanelSpec
from forecasting.core.schema import IS_FUTURE, UNIQUE_ID, Y

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
        static = static_table(df, spec)
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


def static_table(df: pd.DataFrame, spec: PanelSpec) -> pd.DataFrame:
    """Per series (index: id as str, sorted): first non-missing value of each static column."""
    cols = [*spec.static_real, *spec.static_cat]
    ids = df[UNIQUE_ID].astype(str)
    if not cols:
        return pd.DataFrame(index=pd.Index(sorted(ids.unique()), name=UNIQUE_ID))
    return df[cols].groupby(ids.rename(UNIQUE_ID), sort=True).first()
