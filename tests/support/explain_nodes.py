"""A tiny synthetic weekly process on the explain graph, with outliers of known root cause."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.core import schema
from forecasting.explain.graph import NODES


def synthetic_nodes(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """``n`` normal weeks of node values drawn along the graph's edges (columns ``NODES``)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        schema.NODE_CALENDAR: rng.choice([0.0, 0.0, 0.0, 1.0], n),
        schema.NODE_ACTIVITY: rng.normal(0, 0.3, n),
        schema.NODE_REPORTING: rng.normal(0, 0.3, n),
        schema.NODE_COUNT_ERRORS: rng.normal(0, 0.3, n),
        schema.NODE_VALUE_MIX: rng.normal(0, 0.3, n),
    })  # fmt: skip
    df[schema.NODE_THEFTS] = 1 + 0.4 * df[schema.NODE_CALENDAR] + 0.5 * df[schema.NODE_ACTIVITY] + rng.normal(0, 0.3, n)
    df[schema.NODE_INCIDENTS] = df[schema.NODE_THEFTS] + df[schema.NODE_COUNT_ERRORS] + rng.normal(0, 0.05, n)
    df[schema.NODE_LOSS_EUR] = df[schema.NODE_INCIDENTS] + df[schema.NODE_VALUE_MIX] + rng.normal(0, 0.05, n)
    return df[list(NODES)]


def with_root_cause(normal: pd.DataFrame, node: str, shift: float) -> pd.DataFrame:
    """One anomalous week: the first normal row with ``node``'s noise shifted by ``shift``,
    propagated downstream along the same equations (noise of the other nodes kept)."""
    row = normal.iloc[[0]].copy().reset_index(drop=True)
    row[node] = row[node] + shift
    if node in (schema.NODE_CALENDAR, schema.NODE_ACTIVITY, schema.NODE_THEFTS):
        if node != schema.NODE_THEFTS:
            coef = 0.4 if node == schema.NODE_CALENDAR else 0.5
            row[schema.NODE_THEFTS] += coef * shift
        row[schema.NODE_INCIDENTS] += row[schema.NODE_THEFTS] - normal[schema.NODE_THEFTS].iloc[0]
    if node == schema.NODE_COUNT_ERRORS:
        row[schema.NODE_INCIDENTS] += shift
    row[schema.NODE_LOSS_EUR] = normal[schema.NODE_LOSS_EUR].iloc[0] + (
        row[schema.NODE_INCIDENTS].iloc[0] + row[schema.NODE_VALUE_MIX].iloc[0]
        - normal[schema.NODE_INCIDENTS].iloc[0] - normal[schema.NODE_VALUE_MIX].iloc[0]
    )
    return row
