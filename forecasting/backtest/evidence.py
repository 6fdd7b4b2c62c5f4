"""Whether a blend of members beats the best single member by more than chance.

Units are (series, window) pairs of held-out rows: each unit's loss is the sum of its
pinball losses over ``EVAL_QUANTILES`` and steps (the numerator of mean wQL, whose
denominator, sum |y|, is the same for every model). The test is a paired bootstrap over
units: ``d`` = best member's loss - blend's loss per unit, resampled ``DRAWS`` times with
replacement (seeded, so the verdict is reproducible); ``p`` = share of resamples whose summed
``d`` is not positive. A blend is published only when ``p <= settings.ensemble_max_p``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from forecasting.backtest.metrics import pinball_loss

DRAWS = 1000
SEED = 20240101  # a constant: the same losses give the same verdict on every run


@dataclass
class Evidence:
    """One choice's figures: ``best`` member, the best-member rule's and the blend's mean
    wQL on the evidence rows (held out: leave one window out), the relative improvement and its 90% bootstrap interval, ``p``, how many windows and
    series the units span, whether the blend was taken and the weights published."""

    best: str
    blend: dict[str, float]
    published: dict[str, float]
    taken: bool
    best_wql: float = float("nan")
    blend_wql: float = float("nan")
    improvement: float = 0.0
    interval: list[float] = field(default_factory=list)
    p: float = 1.0
    windows: list[str] = field(default_factory=list)
    series: int = 0
    units: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def unit_losses(y: np.ndarray, quantiles: np.ndarray, mask: np.ndarray, levels) -> np.ndarray:
    """Per series: summed pinball loss over ``levels`` and the masked steps.

    ``y``, ``mask`` (n, h); ``quantiles`` (len(levels), n, h)."""
    total = np.zeros(y.shape[0])
    yy = np.where(mask, y, 0.0)
    for i, q in enumerate(levels):
        loss = pinball_loss(yy, np.where(mask, quantiles[i], 0.0), q)
        total += np.where(mask, loss, 0.0).sum(axis=1)
    return total


def paired_test(best: np.ndarray, blend: np.ndarray, draws: int = DRAWS) -> tuple[float, float, list[float]]:
    """(p, relative improvement, [5%, 95%] of it) of ``blend`` over ``best`` per-unit losses."""
    d = best - blend
    total = float(best.sum())
    if len(d) == 0 or total <= 0:
        return 1.0, 0.0, [0.0, 0.0]
    rng = np.random.default_rng(SEED)
    idx = rng.integers(0, len(d), size=(draws, len(d)))
    gains = d[idx].sum(axis=1)
    base = best[idx].sum(axis=1)
    rel = np.divide(gains, base, out=np.zeros(draws), where=base > 0)
    p = float(np.mean(gains <= 0))
    return p, float(d.sum() / total), [float(np.quantile(rel, 0.05)), float(np.quantile(rel, 0.95))]
