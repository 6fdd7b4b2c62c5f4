"""Quantile-level recalibration of sample forecasts, and the calibration gate.

Method (docs/calibration.md): quantile-level recalibration in the style of Kuleshov,
Fenner & Ermon (2018), fitted on the non-randomised PIT of count forecasts (Czado, Gneiting
& Held 2009). On earlier backtest windows we measure ``G(u)`` = the expected share of
randomised PITs at or below ``u``; the calibrated q-quantile is then the ``q'``-quantile of
the model's predictive samples with ``q' = G^{-1}(q)``. Because it maps levels, not values,
the same map applies to any sample distribution (incident counts, compound losses in EUR).

The gate: on held-out windows, for each gated q, ``coverage_strict_q <= q + tol`` and
``coverage_q >= q - tol`` (counts are discrete; see ``forecasting.backtest.metrics``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.backtest.metrics import coverage, pit_cdf, weighted_quantile_loss
from forecasting.core.schema import CUTOFF, DS, EVAL_QUANTILES, PIT_HI, PIT_LO, QUANTILE_LEVELS, Y

METHOD = "quantile-level recalibration on the non-randomised count PIT (Kuleshov et al. 2018)"
REFIT_METHOD = "quantile_level_recalibration"  # calibration.json "method"
IDENTITY_METHOD = "identity (raw quantiles within half the gate tolerance)"
KEPT_RAW_METHOD = "identity (the level map did not improve both calibration and wQL on windows it was not fitted on)"
LEVEL_BOUNDS = (0.001, 0.999)  # q' never reaches 0 or 1: the sample min/max are too noisy
_BISECT_STEPS = 40


@dataclass
class Calibration:
    """A fitted level map. ``levels`` maps nominal q to the sample level q' that delivers it.

    ``fitted_on_windows`` lists the cutoffs (``YYYY-MM-DD``) whose PITs were used;
    ``n_pit`` how many actuals; ``held_out`` the gate figures on later windows, if any.
    """

    method: str
    levels: dict[float, float]
    fitted_on_windows: list[str] = field(default_factory=list)
    n_pit: int = 0
    held_out: dict[str, Any] = field(default_factory=dict)
    choice: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``calibration.json``); level keys are strings like ``"0.95"``."""
        data = asdict(self)
        data["levels"] = {f"{q:g}": float(v) for q, v in sorted(self.levels.items())}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        return cls(
            method=data["method"],
            levels={float(k): float(v) for k, v in data["levels"].items()},
            fitted_on_windows=list(data.get("fitted_on_windows", [])),
            n_pit=int(data.get("n_pit", 0)),
            held_out=dict(data.get("held_out", {})),
            choice=dict(data.get("choice", {})),
        )


def identity_levels(quantiles: tuple[float, ...] = QUANTILE_LEVELS) -> dict[float, float]:
    return {float(q): float(q) for q in quantiles}


def fit_levels(
    pit_lo: np.ndarray, pit_hi: np.ndarray, quantiles: tuple[float, ...] = QUANTILE_LEVELS
) -> dict[float, float]:
    """Level map ``{q: q'}`` with ``q' = min{u : G(u) >= q}``, G the non-randomised PIT CDF.

    ``pit_lo`` / ``pit_hi``: F(y-1) and F(y) of each past actual (any shape, NaN ignored).
    With no finite PIT the map is the identity.
    """
    lo, hi = np.ravel(pit_lo).astype(float), np.ravel(pit_hi).astype(float)
    keep = np.isfinite(lo) & np.isfinite(hi)
    lo, hi = lo[keep], hi[keep]
    if lo.size == 0:
        return identity_levels(quantiles)
    levels = {}
    for q in quantiles:
        a, b = 0.0, 1.0  # G(0) = 0 <= q <= 1 = G(1); bisect for the smallest u with G(u) >= q
        for _ in range(_BISECT_STEPS):
            mid = 0.5 * (a + b)
            if pit_cdf(lo, hi, np.array([mid]))[0] >= q:
                b = mid
            else:
                a = mid
        levels[float(q)] = float(np.clip(b, *LEVEL_BOUNDS))
    return levels


def recalibrate_pit(
    past_lo: np.ndarray, past_hi: np.ndarray, values: np.ndarray, grid_size: int = 1001
) -> np.ndarray:
    """``G(values)``: the past's non-randomised PIT CDF at ``values`` (PITs of new forecasts).

    The recalibrated forecast's CDF is ``G(F(y))`` (Kuleshov et al. 2018), so its PIT
    bounds are ``G(F(y-1))``, ``G(F(y))``. G is tabulated on a grid (chunked: the past may
    hold many actuals) and interpolated. No past: identity.
    """
    lo, hi = np.ravel(past_lo).astype(float), np.ravel(past_hi).astype(float)
    keep = np.isfinite(lo) & np.isfinite(hi)
    lo, hi = lo[keep], hi[keep]
    values = np.asarray(values, dtype=float)
    if lo.size == 0:
        return values
    grid = np.linspace(0.0, 1.0, grid_size)
    total = np.zeros(grid_size)
    for start in range(0, lo.size, 20_000):
        total += pit_cdf(lo[start : start + 20_000], hi[start : start + 20_000], grid) * min(20_000, lo.size - start)
    return np.interp(values, grid, total / lo.size)


def apply_levels(
    samples: np.ndarray,
    levels: Mapping[float | str, float],
    axis: int = 1,
    method: str = "inverted_cdf",
) -> dict[float, np.ndarray]:
    """Calibrated quantiles of any sample distribution: ``{q: quantile(samples, q', axis)}``.

    ``samples``: e.g. (n_series, num_samples, horizon) with ``axis=1`` -> each value has shape
    (n_series, horizon). ``levels`` as in ``calibration.json`` (string or float keys).
    ``inverted_cdf`` returns an actual sample value, which keeps counts integer.
    """
    arr = np.asarray(samples, dtype=float)
    out = {}
    for q, level in sorted(((float(k), float(v)) for k, v in levels.items())):
        out[q] = np.quantile(arr, level, axis=axis, method=method)
    return out


def is_identity(levels: Mapping[float, float]) -> bool:
    """True when every level maps to itself (nothing to recalibrate)."""
    return all(abs(float(v) - float(q)) < 1e-12 for q, v in levels.items())


def already_calibrated(rows: pd.DataFrame, tolerance: float) -> bool:
    """True when the raw quantiles of ``rows`` (``y``, ``q*``) meet the gate's coverage
    conditions within half its tolerance at every gated level.

    Such a model is left as it is: on counts the level map moves a quantile by whole
    units, so refitting an already calibrated model adds noise, not accuracy.
    """
    if not len(rows) or rows[Y].isna().all():
        return False
    return evaluate_gate(rows[rows[Y].notna()], "raw", tolerance / 2, [], EVAL_QUANTILES).passed


def calibration_gap(rows: pd.DataFrame, quantiles: tuple[float, ...] = EVAL_QUANTILES) -> float:
    """Mean over ``quantiles`` of the distance from q to ``[coverage_strict_q, coverage_q]``.

    ``rows``: ``y`` and ``q*`` columns. 0 when every quantile meets the discrete calibration
    condition ``coverage_strict_q <= q <= coverage_q``; NaN without rows.
    """
    if not len(rows):
        return float("nan")
    gaps = [max(0.0, coverage(rows, q, strict=True) - q, q - coverage(rows, q)) for q in quantiles]
    return float(np.mean(gaps))


def mean_wql(rows: pd.DataFrame, quantiles: tuple[float, ...] = EVAL_QUANTILES) -> float:
    """Mean over ``quantiles`` of the weighted quantile loss of ``rows`` (``y``, ``q*``)."""
    return float(np.mean([weighted_quantile_loss(rows, q) for q in quantiles]))


def map_improves(
    raw: pd.DataFrame, mapped: pd.DataFrame, quantiles: tuple[float, ...] = EVAL_QUANTILES
) -> tuple[bool, dict[str, Any]]:
    """(apply the map?, figures): True only when ``mapped`` beats ``raw`` on BOTH the
    ``calibration_gap`` and the mean wQL, strictly.

    ``raw`` and ``mapped``: the same rows (``y``, ``q*``) of windows the map was not fitted
    on, with raw quantiles and with quantiles at the map's levels. No rows: False (no
    evidence, the raw quantiles go through).
    """
    figures: dict[str, Any] = {"n": int(len(raw))}
    for name, rows in (("raw", raw), ("mapped", mapped)):
        figures[name] = {"mean_wQL": mean_wql(rows, quantiles) if len(rows) else float("nan"),
                         "calibration_gap": calibration_gap(rows, quantiles)}
    r, m = figures["raw"], figures["mapped"]
    better = bool(len(raw)) and all(m[k] < r[k] for k in ("mean_wQL", "calibration_gap"))
    figures["applied"] = bool(better)
    return bool(better), figures


def choose_levels(
    rows: pd.DataFrame, tolerance: float | None = None, quantiles: tuple[float, ...] = QUANTILE_LEVELS
) -> tuple[dict[float, float], str]:
    """(level map, method) for past ``rows``: the identity when, with ``tolerance``, the
    raw model is ``already_calibrated`` on them, else the map fitted on their PITs."""
    if tolerance is not None and already_calibrated(rows, tolerance):
        return identity_levels(quantiles), IDENTITY_METHOD
    return fit_levels(rows[PIT_LO], rows[PIT_HI], quantiles), REFIT_METHOD


def expanding_levels(
    raw: pd.DataFrame,
    cutoffs: list[pd.Timestamp],
    quantiles: tuple[float, ...] = QUANTILE_LEVELS,
    tolerance: float | None = None,
) -> dict[pd.Timestamp, tuple[dict[float, float], list[str]]]:
    """For each cutoff, the level map fitted only on actuals observed by then (no peeking).

    ``raw``: backtest rows of the uncalibrated sample model with ``ds``, ``y``, ``q*``,
    ``pit_lo``, ``pit_hi``. A row is usable for cutoff c when its ``ds`` is on or before c,
    so overlapping windows (step < horizon) cannot leak. ``tolerance``: see
    ``choose_levels``. Returns ``{cutoff: (levels, fitted cutoffs as YYYY-MM-DD)}``; no
    usable row -> identity, [].
    """
    out = {}
    for cutoff in cutoffs:
        past = raw[raw[DS] <= cutoff]
        used = sorted({str(pd.Timestamp(c).date()) for c in past[CUTOFF].unique()})
        out[cutoff] = (choose_levels(past, tolerance, quantiles)[0], used)
    return out


@dataclass
class GateResult:
    """Whether a model may publish. ``figures``: per q its coverage figures and verdict."""

    passed: bool
    model: str
    tolerance: float
    windows: list[str]
    n: int
    figures: dict[str, dict[str, Any]]
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line per gated quantile, e.g. ``q=0.95: coverage 0.910 < 0.925 (FAIL)``."""
        parts = []
        for key, fig in self.figures.items():
            verdict = "ok" if fig["ok"] else "FAIL"
            parts.append(
                f"q={key}: coverage_strict {fig['coverage_strict']:.3f} (<= {fig['upper']:.3f}), "
                f"coverage {fig['coverage']:.3f} (>= {fig['lower']:.3f}) {verdict}"
            )
        head = f"{self.model} on {len(self.windows)} held-out window(s), n={self.n}"
        return head + ("; " + self.reason if self.reason else "") + ": " + "; ".join(parts)


def evaluate_gate(
    held_out: pd.DataFrame,
    model: str,
    tolerance: float,
    windows: list[str],
    quantiles: tuple[float, ...] = EVAL_QUANTILES,
) -> GateResult:
    """Gate one model's held-out rows: each q needs coverage_strict <= q+tol, coverage >= q-tol.

    ``held_out``: backtest rows (``y`` and ``q*`` columns) of windows whose calibration was
    fitted on earlier windows only. No such rows: the gate fails (no evidence).
    """
    figures: dict[str, dict[str, Any]] = {}
    for q in quantiles:
        cov = coverage(held_out, q) if len(held_out) else float("nan")
        strict = coverage(held_out, q, strict=True) if len(held_out) else float("nan")
        ok = bool(strict <= q + tolerance and cov >= q - tolerance)
        figures[f"{q:g}"] = {
            "coverage": cov,
            "coverage_strict": strict,
            "lower": q - tolerance,
            "upper": q + tolerance,
            "ok": ok,
        }
    reason = "" if len(held_out) else "no held-out window: backtest at least 2 windows"
    passed = bool(len(held_out)) and all(f["ok"] for f in figures.values())
    return GateResult(passed, model, tolerance, windows, int(len(held_out)), figures, reason)
