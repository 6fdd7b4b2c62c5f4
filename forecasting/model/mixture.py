"""Ensemble forecasts that keep joint sample paths, so that reserves keep their dependence.

Two ways to combine members (``settings.ensemble_combination``): ``quantiles`` (default,
``vincentized``) averages the members' quantile functions per series and step and lays the
result out in a reference member's path ranks (Schaake shuffle); ``paths`` is the mixture:

A weighted ensemble of path-producing members (DeepAR, ``forecasting.model.members.local_nb``,
``forecasting.model.members.gbm``) is published as a mixture: member m contributes
``round(w_m * S)`` of the ``S`` paths of each series (largest remainder, ties to the
earlier member), its first paths in order. Every
published path is a whole path of one member, so sums over periods or series keep the
dependence the member modelled, and the mixture is deterministic given the members' seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from forecasting.core.errors import ModelError
from forecasting.model.estimator import TFT
from forecasting.model.members.gbm import GBM, fit_gbm
from forecasting.model.members.local_nb import LOCAL_NB, fit_local
from forecasting.model.members.tft import fit_tft
from forecasting.model.samples import ForecastSamples

DEEPAR = "deepar"
PATHS, QUANTILES = "paths", "quantiles"  # settings.ensemble_combination
# members beside DeepAR, by name: fit(train, spec, settings, *, seed, horizon) -> .predict(df, n)
MEMBER_FITS = {LOCAL_NB: fit_local, GBM: fit_gbm, TFT: fit_tft}
QUANTILE_MEMBERS = frozenset({TFT})  # comonotone paths from quantiles: never a rank reference


def reference_member(weights: Mapping[str, float]) -> str:
    """Whose path ranks a combination takes: the heaviest member with joint paths (not a
    quantile network's comonotone ones), else DeepAR."""
    names = [m for m in weights if m not in QUANTILE_MEMBERS]
    return max(names, key=lambda m: (weights[m], -names.index(m))) if names else DEEPAR


def mixture_shares(weights: Sequence[float], num_samples: int) -> list[int]:
    """Paths per member for ``weights`` (non-negative, any sum > 0): sums to ``num_samples``."""
    w = np.clip(np.asarray(weights, float), 0.0, None)
    if not w.sum() > 0:
        raise ValueError(f"ensemble weights {list(weights)} have no positive weight")
    exact = w / w.sum() * num_samples
    shares = np.floor(exact).astype(int)
    order = np.argsort(-(exact - shares), kind="stable")  # largest remainder first
    shares[order[: num_samples - int(shares.sum())]] += 1
    return [int(s) for s in shares]


def mix_samples(parts: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Mixture of member paths: ``parts`` each (n_series, S, horizon) on the same series
    and periods; returns (n_series, S, horizon) with ``mixture_shares`` paths per member."""
    num = int(parts[0].shape[1])
    shares = mixture_shares(weights, num)
    taken = [p[:, :k, :] for p, k in zip(parts, shares, strict=True) if k]
    if any(t.shape[1] < k for t, k in zip(taken, [k for k in shares if k], strict=True)):
        raise ValueError("a member has fewer paths than its share of the mixture")
    return np.concatenate(taken, axis=1)


def vincentized(parts: Sequence[np.ndarray], weights: Sequence[float], reference: np.ndarray) -> np.ndarray:
    """Quantile averaging with the reference member's joint paths (Schaake shuffle).

    ``parts`` each (n_series, S_m, horizon) on the same series and periods; ``weights`` any
    non-negative sum > 0; ``reference`` (n_series, S, horizon) the member whose ranks the
    result takes. Per series and step, each member's quantile function at the S levels
    ``(k + 0.5) / S`` (its order statistics when S_m = S) is averaged with the weights
    (Vincentization) and rounded half up to a count, so the published median lies between
    the members' medians (a monotone map of a weighted mean of them); then path j takes,
    at each step, the value whose rank is the rank of the reference's path j there, so sums
    over steps keep the reference's dependence. Ties in the reference keep path order.
    """
    w = np.clip(np.asarray(weights, float), 0.0, None)
    if not w.sum() > 0:
        raise ValueError(f"ensemble weights {list(weights)} have no positive weight")
    w = w / w.sum()
    num = int(reference.shape[1])
    levels = (np.arange(num) + 0.5) / num
    blend = np.zeros(reference.shape, float)
    for part, wm in zip(parts, w, strict=True):
        if wm > 0:
            blend += wm * quantile_function(part, levels)
    blend = np.floor(blend + 0.5)
    return reordered(blend, reference)


def quantile_function(part: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(n_series, len(levels), horizon): the member's quantiles at ``levels`` (its sorted
    paths when it has one path per level)."""
    if part.shape[1] == len(levels):
        return np.sort(part, axis=1)
    return np.moveaxis(np.quantile(part, levels, axis=1, method="inverted_cdf"), 0, 1)


def reordered(sorted_values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Schaake shuffle: ``sorted_values`` (ascending along axis 1) laid out in the ranks of
    ``reference``'s paths (same shape), per series and step."""
    ranks = np.argsort(np.argsort(reference, axis=1, kind="stable"), axis=1, kind="stable")
    return np.take_along_axis(sorted_values, ranks, axis=1)


def aligned_samples(fs: ForecastSamples, ids: Sequence[str], starts: Sequence) -> np.ndarray:
    """``fs.samples`` reordered to ``ids``; ModelError if a series or its first period differs."""
    index = {str(i): k for k, i in enumerate(fs.ids)}
    missing = [i for i in ids if str(i) not in index]
    if missing:
        raise ModelError(f"ensemble member lacks series {missing[:5]}: it cannot join the mixture")
    rows = [index[str(i)] for i in ids]
    if [fs.starts[k] for k in rows] != list(starts):
        raise ModelError("ensemble member forecasts other periods than DeepAR: it cannot join the mixture")
    return np.asarray(fs.samples, float)[rows]


def combine(parts: Sequence[np.ndarray], weights: Sequence[float], method: str,
            reference: np.ndarray | None = None) -> np.ndarray:
    """``parts`` combined at ``weights``: ``quantiles`` (``vincentized``, in the ranks of
    ``reference``, default the heaviest member) or ``paths`` (``mix_samples``)."""
    if method == PATHS:
        return mix_samples(parts, weights)
    if reference is None:
        reference = parts[int(np.argmax(np.asarray(weights, float)))]
    return vincentized(parts, weights, reference)


def mix_forecasts(
    members: Mapping[str, ForecastSamples], weights: Mapping[str, float], *, strict: bool = True,
    method: str = PATHS, reference: str = DEEPAR,
) -> ForecastSamples:
    """The published combination of ``members`` (``DEEPAR`` first, the reference for series
    and periods) at ``weights`` (members absent from ``weights`` weigh 0); ``method``
    ``paths`` or ``quantiles`` (``combine``; ``reference``: the member whose ranks the
    quantile average takes).

    ``strict`` False: a series a member lacks or forecasts from another period (e.g. a site
    opening inside the horizon) keeps DeepAR's paths there instead of refusing the mixture.
    """
    base = members[DEEPAR]
    names = [m for m in members if weights.get(m, 0.0) > 0]
    if names == [DEEPAR] or not names:
        return base
    parts = [_member_paths(members[m], base, strict) for m in names]
    ref = _member_paths(members.get(reference, base), base, strict)
    mixed = combine(parts, [weights[m] for m in names], method, ref).astype("float32")
    return ForecastSamples(list(base.ids), list(base.starts), mixed, base.freq, base.capped, base.cold_start)


def _member_paths(fs: ForecastSamples, base: ForecastSamples, strict: bool) -> np.ndarray:
    """``fs``'s paths on ``base``'s series; not ``strict``: base's paths where they differ."""
    if strict or fs is base:
        return aligned_samples(fs, base.ids, base.starts)
    index = {str(i): k for k, i in enumerate(fs.ids)}
    out = np.asarray(base.samples, float).copy()
    for row, (uid, start) in enumerate(zip(base.ids, base.starts, strict=True)):
        k = index.get(str(uid))
        if k is not None and fs.starts[k] == start:
            out[row] = np.asarray(fs.samples[k], float)
    return out
