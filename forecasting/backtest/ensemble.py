"""Ensemble members in the backtest and their weights, chosen on earlier windows only.

Members produce sample paths (DeepAR, always a member, and e.g. ``local_nb``). Weights are
fitted by greedy forward selection with replacement (Caruana et al. 2004, AutoGluon's
``WeightedEnsemble``): ``ROUNDS`` times, add the member whose extra share lowers the mean
wQL of the path mixture (``forecasting.model.mixture``) the most; weights are the shares.
The weights of window c are fitted on rows of earlier windows observed by c (``cutoff <
c`` and ``ds <= c``): no window is scored with weights that saw its actuals. Production
weights are fitted on every window. A member that raises, returns non-finite paths, paths
for other series or periods, or a median beyond ``CAP_FACTOR`` x the series' largest
observed value, is failed for that window: it gets weight 0 wherever that window counts,
and ``EnsembleChoice.failed`` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.backtest.baselines import samples_frame
from forecasting.backtest.metrics import pinball_loss, pit_bounds
from forecasting.core.errors import ModelError
from forecasting.core.schema import (
    CUTOFF,
    DS,
    EVAL_QUANTILES,
    MEAN,
    MODEL,
    PIT_HI,
    PIT_LO,
    QUANTILE_LEVELS,
    UNIQUE_ID,
    Y,
    quantile_col,
)
from forecasting.core.schema import STEP as STEP_COL
from forecasting.model.deepar import CAP_FACTOR
from forecasting.model.mixture import DEEPAR, aligned_samples, mix_samples
from forecasting.model.mixture import MEMBER_FITS as MIXTURE_MEMBERS

ENSEMBLE = "ensemble"
ROUNDS = 10  # greedy steps: weights in multiples of 1/ROUNDS
FIT_PATHS = 200  # weights are scored on the mixture of each member's first FIT_PATHS paths
MEMBER_FITS: dict[str, Callable[..., Any]] = dict(MIXTURE_MEMBERS)


@dataclass
class EnsembleChoice:
    """``weights``: production weights (every window); ``window_weights``: per cutoff
    (``YYYY-MM-DD``), fitted on earlier windows; ``failed``: member -> reasons;
    ``scores``: mean wQL per member and of the production mixture over every window."""

    members: list[str]
    weights: dict[str, float]
    window_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    failed: dict[str, list[str]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_members(win, spec, settings, horizon: int, seed: int, n: int, deepar, fits=MEMBER_FITS) -> dict:
    """``{member: ForecastSamples or failure reason (str)}`` for one window; ``deepar`` is
    the window's DeepAR forecast (the series and periods every member must match)."""
    out: dict[str, Any] = {}
    history_max = win.history.groupby(UNIQUE_ID)[Y].max()
    for name, fit in fits.items():
        try:
            fs = fit(win.train, spec, settings, seed=seed, horizon=horizon).predict(win.context, num_samples=n)
            samples = aligned_samples(fs, list(deepar.ids), list(deepar.starts))
            _check_sane(samples, history_max.reindex([str(i) for i in deepar.ids]).to_numpy(float))
            out[name] = fs
        except Exception as exc:  # noqa: BLE001 - a failed member is weighed 0 and reported
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


def _check_sane(samples: np.ndarray, maxima: np.ndarray) -> None:
    if not np.isfinite(samples).all():
        raise ModelError("non-finite sample paths (diverged)")
    bound = CAP_FACTOR * np.maximum(np.nan_to_num(maxima, nan=np.nanmax(maxima, initial=1.0)), 1.0)
    if (np.median(samples, axis=1) > bound[:, None]).any():
        raise ModelError(f"median beyond {CAP_FACTOR:g}x the largest observed value (diverged)")


@dataclass
class _Window:
    cutoff: pd.Timestamp
    parts: dict[str, np.ndarray]  # member -> (n, S, h) aligned to DeepAR
    y: np.ndarray  # (n, h), NaN where no actual
    ds: np.ndarray  # (n, h) datetime64


def window_arrays(cutoff, raw_rows: pd.DataFrame, deepar, members: Mapping[str, Any]) -> _Window:
    """The window's member paths and actuals as arrays on DeepAR's series and steps."""
    ids = [str(i) for i in deepar.ids]
    n, _, h = np.asarray(deepar.samples).shape
    y, ds = np.full((n, h), np.nan), np.full((n, h), np.datetime64("NaT"), dtype="datetime64[ns]")
    pos = pd.Index(ids).get_indexer(raw_rows[UNIQUE_ID].astype(str))
    steps = raw_rows[STEP_COL].to_numpy(int) - 1
    y[pos, steps] = raw_rows[Y].to_numpy(float)
    ds[pos, steps] = raw_rows[DS].to_numpy("datetime64[ns]")
    parts = {DEEPAR: np.asarray(deepar.samples, float)}
    for name, fs in members.items():
        if not isinstance(fs, str):
            parts[name] = aligned_samples(fs, ids, list(deepar.starts))
    return _Window(pd.Timestamp(cutoff), parts, y, ds)


def _loss(windows: list[tuple[_Window, np.ndarray]], names: list[str], weights: list[float]) -> float:
    """Mean wQL over ``EVAL_QUANTILES`` of the mixture, on the masked actuals of ``windows``."""
    num, den = np.zeros(len(EVAL_QUANTILES)), 0.0
    for w, mask in windows:
        mix = mix_samples([w.parts[m][:, :FIT_PATHS] for m in names], weights)
        qs = np.quantile(mix, EVAL_QUANTILES, axis=1)  # (len(q), n, h)
        y = w.y[mask]
        den += np.abs(y).sum()
        for i, q in enumerate(EVAL_QUANTILES):
            num[i] += pinball_loss(y, qs[i][mask], q).sum()
    return float(np.mean(2.0 * num / den)) if den > 0 else float("nan")


def greedy_weights(windows: list[tuple[_Window, np.ndarray]], names: list[str], rounds: int = ROUNDS) -> dict[str, float]:
    """Caruana's forward selection with replacement over ``names`` (DeepAR first: ties go
    to it); no scorable rows -> DeepAR alone."""
    if not windows or len(names) == 1 or not any(m.any() for _, m in windows):
        return {DEEPAR: 1.0}
    counts = np.zeros(len(names))
    cache: dict[tuple, float] = {}
    for _ in range(rounds):
        best, best_loss = 0, np.inf
        for k in range(len(names)):
            trial = counts.copy()
            trial[k] += 1
            key = tuple(trial / trial.sum())
            if key not in cache:
                cache[key] = _loss(windows, names, list(key))
            if cache[key] < best_loss:
                best, best_loss = k, cache[key]
        counts[best] += 1
    return {m: float(c / counts.sum()) for m, c in zip(names, counts, strict=True) if c}


def choose_ensemble(windows: list[_Window], failures: Mapping[pd.Timestamp, Mapping[str, str]], fits) -> EnsembleChoice:
    """Weights per window (earlier windows only) and for production (every window)."""
    names = [DEEPAR, *fits]
    failed: dict[str, list[str]] = {}
    for cutoff, bad in failures.items():
        for name, reason in bad.items():
            failed.setdefault(name, []).append(f"{pd.Timestamp(cutoff).date()}: {reason}")
    per_window = {}
    for w in windows:
        earlier = [(e, (e.ds <= w.cutoff.to_datetime64()) & ~np.isnan(e.y)) for e in windows if e.cutoff < w.cutoff]
        usable = [m for m in names if all(m in e.parts for e, _ in earlier) and m in w.parts]
        per_window[str(w.cutoff.date())] = greedy_weights(earlier, usable)
    every = [(w, ~np.isnan(w.y)) for w in windows]
    usable = [m for m in names if all(m in w.parts for w in windows)]
    weights = greedy_weights(every, usable)
    scores = {m: _loss(every, [m], [1.0]) for m in usable}
    scores[ENSEMBLE] = _loss(every, list(weights), list(weights.values()))
    return EnsembleChoice(names, weights, per_window, failed, scores)


def path_rows(base: pd.DataFrame, ids: list, starts: list, samples: np.ndarray, freq: str) -> pd.DataFrame:
    """``base`` (scored backtest rows of one cutoff) with ``mean``, ``q*`` and PIT bounds
    taken from ``samples`` (n_series, S, h) of series ``ids`` starting at ``starts``."""
    qcols = [quantile_col(q) for q in QUANTILE_LEVELS]
    fc = samples_frame(list(ids), list(starts), samples, freq)
    fc["_row"] = np.arange(len(fc))
    out = base.drop(columns=[MEAN, *qcols, PIT_LO, PIT_HI]).merge(
        fc[[UNIQUE_ID, DS, MEAN, *qcols, "_row"]], on=[UNIQUE_ID, DS], how="left"
    )
    flat = samples.transpose(0, 2, 1).reshape(len(fc), -1)
    out[PIT_LO], out[PIT_HI] = pit_bounds(flat[out["_row"].to_numpy()], out[Y].to_numpy(float))
    return out.drop(columns="_row")[base.columns]



@dataclass
class Paths:
    """Sample paths of one window: ``ids``, ``starts``, ``samples`` (n_series, S, h)."""

    ids: list
    starts: list
    samples: np.ndarray


@dataclass
class EnsembleRun:
    """``choice``; ``rows``: the ensemble's scored rows of every window (model ``ensemble``);
    ``paths``: its mixture paths per cutoff; ``members``: each extra member's rows of the
    windows where it never failed (model = member name)."""

    choice: EnsembleChoice
    rows: pd.DataFrame
    paths: dict
    members: dict[str, pd.DataFrame]


def build_ensemble(raw: pd.DataFrame, deepar: Mapping, forecasts: Mapping, cutoffs: list, freq: str,
                   fits=MEMBER_FITS) -> EnsembleRun:
    """Choose the weights (``choose_ensemble``) and build the mixture's rows and paths.

    ``raw``: DeepAR's scored rows of every cutoff; ``deepar``: its paths per cutoff;
    ``forecasts``: ``fit_members`` output per cutoff.
    """
    windows = [window_arrays(c, raw[raw[CUTOFF] == c], deepar[c], forecasts.get(c, {})) for c in cutoffs]
    failures = {c: {m: r for m, r in forecasts.get(c, {}).items() if isinstance(r, str)} for c in cutoffs}
    choice = choose_ensemble(windows, failures, fits)
    rows, paths, members = [], {}, {m: [] for m in fits if m not in choice.failed}
    for c, w in zip(cutoffs, windows, strict=True):
        weights = choice.window_weights[str(pd.Timestamp(c).date())]
        fs = deepar[c]
        mix = mix_samples([w.parts[m] for m in weights], list(weights.values()))
        paths[c] = Paths(list(fs.ids), list(fs.starts), mix)
        base = raw[raw[CUTOFF] == c]
        rows.append(path_rows(base, fs.ids, fs.starts, mix, freq).assign(**{MODEL: ENSEMBLE}))
        for m in members:
            members[m].append(path_rows(base, fs.ids, fs.starts, w.parts[m], freq).assign(**{MODEL: m}))
    out = {m: pd.concat(f, ignore_index=True) for m, f in members.items() if f}
    return EnsembleRun(choice, pd.concat(rows, ignore_index=True), paths, out)
