"""Ensemble forecasts as mixtures of sample paths, so that reserves keep joint paths.

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
from forecasting.model.members.gbm import GBM, fit_gbm
from forecasting.model.members.local_nb import LOCAL_NB, fit_local
from forecasting.model.samples import ForecastSamples

DEEPAR = "deepar"
# members beside DeepAR, by name: fit(train, spec, settings, *, seed, horizon) -> .predict(df, n)
MEMBER_FITS = {LOCAL_NB: fit_local, GBM: fit_gbm}


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


def mix_forecasts(
    members: Mapping[str, ForecastSamples], weights: Mapping[str, float], *, strict: bool = True
) -> ForecastSamples:
    """The published mixture of ``members`` (``DEEPAR`` first, the reference for series and
    periods) at ``weights`` (members absent from ``weights`` weigh 0).

    ``strict`` False: a series a member lacks or forecasts from another period (e.g. a site
    opening inside the horizon) keeps DeepAR's paths there instead of refusing the mixture.
    """
    base = members[DEEPAR]
    names = [m for m in members if weights.get(m, 0.0) > 0]
    if names == [DEEPAR] or not names:
        return base
    parts = [_member_paths(members[m], base, strict) for m in names]
    mixed = mix_samples(parts, [weights[m] for m in names]).astype("float32")
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
