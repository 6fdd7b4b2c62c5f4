"""Compound loss Monte Carlo: incident counts x empirical loss severity, vectorised.

A compound loss is ``L = X_1 + ... + X_N`` with ``N`` an incident count (one DeepAR sample
path, one period) and ``X_i`` losses bootstrapped from the empirical severity pool of the
site's region (its observed category mix included). Quantiles are taken of ``L`` itself,
never multiplied out of count and severity quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.core import schema
from forecasting.core.errors import InputError

NETWORK_POOL = "__network__"
# Cells with more incidents than this are summed by the central limit theorem: a diverged
# forecast (STACK.md saw 1e8) must not allocate one draw per incident.
CLT_MIN_COUNT = 10_000
# Draws materialised at once; bounds memory to ~16 bytes x this.
MAX_DRAWS_PER_CHUNK = 4_000_000


@dataclass(frozen=True)
class SeverityPools:
    """Sorted empirical losses per region; ``fallback`` regions use the network pool."""

    pools: dict[str, np.ndarray]
    fallback: tuple[str, ...]

    def pool_of(self, region: str) -> np.ndarray:
        return self.pools.get(region, self.pools[NETWORK_POOL])

    def mean_of(self, region: str) -> float:
        return float(self.pool_of(region).mean())


def build_pools(
    severity: pd.DataFrame, regions: list[str], min_losses: int, source: str
) -> SeverityPools:
    """Severity pools for ``regions`` from ``severity`` (``region, category, loss_eur``).

    A region with fewer than ``min_losses`` observed losses borrows the network pool (all
    regions pooled). Raises InputError when the severity table is empty or holds a NaN,
    infinite or negative loss (``source`` names the file).
    """
    losses = pd.to_numeric(severity[schema.SEVERITY_LOSS_EUR], errors="coerce")
    bad = ~np.isfinite(losses.to_numpy(dtype=float)) | (losses < 0).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{source} row {row}: column {schema.SEVERITY_LOSS_EUR} is "
            f"{severity[schema.SEVERITY_LOSS_EUR].iloc[row]!r}, expected a finite loss >= 0: "
            "rebuild the panel (riskcast panel --as-of DATE)"
        )
    if losses.empty:
        raise InputError(
            f"{source} holds no incident losses: the compound loss needs at least one; "
            "check that bronze security_reports carry loss_value_eur and rebuild the panel"
        )
    network = np.sort(losses.to_numpy(dtype=float))
    pools: dict[str, np.ndarray] = {NETWORK_POOL: network}
    fallback = []
    by_region = losses.groupby(severity[schema.REGION].astype(str), sort=True)
    for region in sorted(set(regions)):
        own = (
            by_region.get_group(region).to_numpy(dtype=float) if region in by_region.groups else []
        )
        if len(own) >= min_losses:
            pools[region] = np.sort(own)
        else:
            fallback.append(region)
    return SeverityPools(pools, tuple(fallback))


def simulate_losses(
    counts: np.ndarray, pool_index: np.ndarray, pools: list[np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """Compound losses for each cell: the sum of ``counts[i]`` draws from ``pools[pool_index[i]]``.

    ``counts``: int64 (cells,), ``pool_index``: int (cells,). Returns float64 (cells,).
    Loops over pools and memory-bounded chunks only, never over cells or paths.
    """
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros(counts.shape, dtype=float)
    for k, pool in enumerate(pools):
        cells = np.flatnonzero((pool_index == k) & (counts > 0))
        big = cells[counts[cells] > CLT_MIN_COUNT]
        small = cells[counts[cells] <= CLT_MIN_COUNT]
        for chunk in _chunks(small, counts):
            n = counts[chunk]
            draws = pool[rng.integers(0, len(pool), size=int(n.sum()))]
            owner = np.repeat(np.arange(len(chunk)), n)
            out[chunk] = np.bincount(owner, weights=draws, minlength=len(chunk))
        if len(big):
            n = counts[big].astype(float)
            mu, sd = pool.mean(), pool.std()
            out[big] = np.maximum(rng.normal(n * mu, np.sqrt(n) * sd), 0.0)
    return out


def _chunks(cells: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """Split ``cells`` into consecutive runs holding at most MAX_DRAWS_PER_CHUNK draws."""
    if len(cells) == 0:
        return []
    cum = np.cumsum(counts[cells])
    cuts = np.searchsorted(
        cum, np.arange(MAX_DRAWS_PER_CHUNK, cum[-1], MAX_DRAWS_PER_CHUNK), "right"
    )
    return [c for c in np.split(cells, cuts) if len(c)]


def monotone_levels(levels: dict[float, float]) -> dict[float, float]:
    """Calibrated levels made non-decreasing in the nominal level and clipped to [0, 1].

    A calibration fitted level by level can cross (P90' > P95'); a running maximum keeps
    P50 <= P90 <= P95 without moving any level that was already in order.
    """
    out, running = {}, 0.0
    for q in sorted(levels):
        running = max(running, min(max(float(levels[q]), 0.0), 1.0))
        out[q] = running
    return out
