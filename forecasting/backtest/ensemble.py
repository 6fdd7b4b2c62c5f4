"""Ensemble members in the backtest, and what is published, chosen on earlier windows only.

Members produce sample paths (DeepAR, always a member, ``local_nb``, ``gbm``, ...). For each
window c, on the rows of earlier windows observed by c (``cutoff < c`` and ``ds <= c``):

1. the **best member** is the one with the lowest mean wQL there;
2. a **blend**: greedy forward selection with replacement (Caruana et al. 2004, AutoGluon's
   ``WeightedEnsemble``; ``ROUNDS`` steps adding the member whose extra share lowers the
   combination's mean wQL most), then shrunk toward the best member
   (``settings.ensemble_shrinkage``);
3. the blend is **published** only when a paired bootstrap over (series, window) units says
   it beats the best member with ``p <= settings.ensemble_max_p``
   (``forecasting.backtest.evidence``), each unit scored with the blend and the best member
   chosen without its window (leave one window out); otherwise the best member alone.

Members are combined as ``settings.ensemble_combination`` says (``forecasting.model.mixture``:
quantile averaging in a reference member's ranks, or whole-path mixing). Production weights
follow the same rule on every window. A member that raises, returns non-finite paths, paths
for other series or periods, or a median beyond ``CAP_FACTOR`` x the series' largest
observed value, is failed for that window: it gets weight 0 wherever that window counts,
and ``EnsembleChoice.failed`` says why. Rows: ``ensemble`` (the blend, always), ``best_member``
(the best member alone), and the published choice (what ``riskcast`` is built from).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.backtest.baselines import samples_frame
from forecasting.backtest.evidence import Evidence, paired_test, unit_losses
from forecasting.backtest.metrics import pit_bounds
from forecasting.core.errors import ConfigError
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
from forecasting.model.mixture import (
    DEEPAR,
    PATHS,
    QUANTILE_MEMBERS,
    aligned_samples,
    combine,
    mix_samples,
    reference_member,
)
from forecasting.model.mixture import MEMBER_FITS as MIXTURE_MEMBERS

ENSEMBLE, BEST_MEMBER = "ensemble", "best_member"
ROUNDS = 10  # greedy steps: weights in multiples of 1/ROUNDS
FIT_PATHS = 200  # weights are scored on the mixture of each member's first FIT_PATHS paths
MEMBER_FITS: dict[str, Callable[..., Any]] = dict(MIXTURE_MEMBERS)  # every member; settings pick


def member_fits(settings) -> dict[str, Callable[..., Any]]:
    """The members ``settings.ensemble_members`` names (unknown names: ConfigError)."""
    unknown = [m for m in settings.ensemble_members if m not in MEMBER_FITS]
    if unknown:
        raise ConfigError(f"ensemble_members {unknown} unknown: choose from {sorted(MEMBER_FITS)}")
    return {m: MEMBER_FITS[m] for m in settings.ensemble_members}


@dataclass
class EnsembleChoice:
    """``weights``: published production weights (every window); ``window_weights``: what
    each cutoff (``YYYY-MM-DD``) published, chosen on earlier windows; ``failed``: member ->
    reasons; ``scores``: mean wQL per member and of the production blend over every window;
    ``blend`` / ``window_blends``: the shrunk blends before the evidence test; ``evidence``:
    per cutoff and ``production``, ``evidence.Evidence`` as a dict; ``combination``: how
    members are combined."""

    members: list[str]
    weights: dict[str, float]
    window_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    failed: dict[str, list[str]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    blend: dict[str, float] = field(default_factory=dict)
    window_blends: dict[str, dict[str, float]] = field(default_factory=dict)
    window_best: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    combination: str = "quantiles"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Rule:
    """How members are chosen and combined (from the settings)."""

    max_p: float = 0.05
    shrinkage: float = 0.5
    combination: str = "quantiles"

    @classmethod
    def from_settings(cls, settings) -> Rule:
        return cls(settings.ensemble_max_p, settings.ensemble_shrinkage, settings.ensemble_combination)


@dataclass
class _Window:
    cutoff: pd.Timestamp
    parts: dict[str, np.ndarray]  # member -> (n, S, h) aligned to DeepAR
    y: np.ndarray  # (n, h), NaN where no actual
    ds: np.ndarray  # (n, h) datetime64
    qs: dict[str, np.ndarray] = field(default_factory=dict)  # member -> (len(EVAL_QUANTILES), n, h)

    def quantiles(self, name: str) -> np.ndarray:
        """The member's quantiles at ``EVAL_QUANTILES`` (inverted CDF: an attainable count),
        which quantile averaging combines exactly."""
        if name not in self.qs:
            self.qs[name] = np.quantile(self.parts[name], EVAL_QUANTILES, axis=1, method="inverted_cdf")
        return self.qs[name]


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


def _combined_quantiles(w: _Window, names: list[str], weights: list[float], method: str) -> np.ndarray:
    """(len(EVAL_QUANTILES), n, h) quantiles of the members combined at ``weights``."""
    if method == PATHS:
        mix = mix_samples([w.parts[m][:, :FIT_PATHS] for m in names], weights)
        return np.quantile(mix, EVAL_QUANTILES, axis=1)
    total = np.asarray(weights, float) / float(np.sum(weights))
    return np.floor(sum(t * w.quantiles(m) for m, t in zip(names, total, strict=True) if t > 0) + 0.5)


def _units(windows, names, weights, method) -> tuple[np.ndarray, float]:
    """(per (series, window) unit losses, sum |y|) of the combination on the masked rows."""
    losses, den = [], 0.0
    for w, mask in windows:
        qs = _combined_quantiles(w, names, weights, method)
        losses.append(unit_losses(w.y, qs, mask, EVAL_QUANTILES)[mask.any(axis=1)])
        den += float(np.abs(w.y[mask]).sum())
    return (np.concatenate(losses) if losses else np.zeros(0)), den


def _loss(windows, names, weights, method: str = PATHS) -> float:
    """Mean wQL over ``EVAL_QUANTILES`` of the combination on the masked actuals of ``windows``."""
    units, den = _units(windows, names, weights, method)
    return float(2.0 * units.sum() / den / len(EVAL_QUANTILES)) if den > 0 else float("nan")


def greedy_weights(windows: list[tuple[_Window, np.ndarray]], names: list[str], rounds: int = ROUNDS,
                   method: str = PATHS) -> dict[str, float]:
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
                cache[key] = _loss(windows, names, list(key), method)
            if cache[key] < best_loss:
                best, best_loss = k, cache[key]
        counts[best] += 1
    return {m: float(c / counts.sum()) for m, c in zip(names, counts, strict=True) if c}


def _rules(windows, names: list[str], rule: Rule) -> tuple[str, dict[str, float], dict[str, float]]:
    """(best member, shrunk blend, each member's mean wQL) on ``windows``."""
    scores = {m: _loss(windows, [m], [1.0], rule.combination) for m in names}
    best = min(names, key=lambda m: (scores[m], names.index(m)))
    greedy = greedy_weights(windows, names, method=rule.combination)
    shrunk = {m: (1 - rule.shrinkage) * greedy.get(m, 0.0) + rule.shrinkage * (m == best) for m in names}
    return best, {m: round(v, 4) for m, v in shrunk.items() if v > 0}, scores


def select(windows: list[tuple[_Window, np.ndarray]], names: list[str], rule: Rule) -> Evidence:
    """Best member, shrunk blend and the evidence test on ``windows`` (module docstring).

    The evidence is held out: each window in turn is scored with the blend and the best
    member chosen on the others (leave one window out), so a blend must beat the best-member
    rule on windows its weights never saw; one window alone is no evidence."""
    if not windows or not any(m.any() for _, m in windows):
        return Evidence(DEEPAR, {DEEPAR: 1.0}, {DEEPAR: 1.0}, False, reason="no earlier window: DeepAR alone")
    best, blend, scores = _rules(windows, names, rule)
    keys = sorted({str(pd.Timestamp(w.cutoff).date()) for w, m in windows if m.any()})
    series = int(max(m.any(axis=1).sum() for _, m in windows))
    ev = Evidence(best, blend, {best: 1.0}, False, best_wql=scores[best], windows=keys, series=series)
    folds = [i for i, (_, m) in enumerate(windows) if m.any()]
    if list(blend) == [best]:
        ev.reason = "the greedy blend is the best member alone"
        return ev
    if len(folds) < 2:
        ev.reason = "one earlier window: no held-out evidence for a blend, the best member alone"
        return ev
    lb, lw, den = [], [], 0.0
    for i in folds:
        fold_best, fold_blend, _ = _rules([x for j, x in enumerate(windows) if j != i], names, rule)
        units, d = _units([windows[i]], [fold_best], [1.0], rule.combination)
        lb.append(units)
        lw.append(_units([windows[i]], list(fold_blend), list(fold_blend.values()), rule.combination)[0])
        den += d
    best_units, blend_units = np.concatenate(lb), np.concatenate(lw)
    ev.p, ev.improvement, ev.interval = paired_test(best_units, blend_units)
    scale = 2.0 / den / len(EVAL_QUANTILES) if den > 0 else float("nan")
    ev.best_wql, ev.blend_wql = float(best_units.sum() * scale), float(blend_units.sum() * scale)
    ev.units = int(len(best_units))
    ev.taken = bool(ev.p <= rule.max_p and ev.improvement > 0)
    ev.published = blend if ev.taken else {best: 1.0}
    ev.reason = (f"held out, p = {ev.p:.3f} {'<=' if ev.taken else '>'} {rule.max_p:g}: "
                 + ("the blend" if ev.taken else "the best member alone"))
    return ev


def choose_ensemble(windows: list[_Window], failures: Mapping[pd.Timestamp, Mapping[str, str]], fits,
                    rule: Rule = Rule()) -> EnsembleChoice:
    """Published weights per window (earlier windows only) and for production (every window)."""
    names = [DEEPAR, *fits]
    failed: dict[str, list[str]] = {}
    for cutoff, bad in failures.items():
        for name, reason in bad.items():
            failed.setdefault(name, []).append(f"{pd.Timestamp(cutoff).date()}: {reason}")
    per_window, blends, bests, evidence = {}, {}, {}, {}
    for w in windows:
        earlier = [(e, (e.ds <= w.cutoff.to_datetime64()) & ~np.isnan(e.y)) for e in windows if e.cutoff < w.cutoff]
        usable = [m for m in names if all(m in e.parts for e, _ in earlier) and m in w.parts]
        key = str(w.cutoff.date())
        ev = select(earlier, usable, rule)
        per_window[key], blends[key], bests[key], evidence[key] = ev.published, ev.blend, ev.best, ev.to_dict()
    every = [(w, ~np.isnan(w.y)) for w in windows]
    usable = [m for m in names if all(m in w.parts for w in windows)]
    ev = select(every, usable, rule)
    evidence["production"] = ev.to_dict()
    scores = {m: _loss(every, [m], [1.0], rule.combination) for m in usable}
    scores[ENSEMBLE] = _loss(every, list(ev.blend), list(ev.blend.values()), rule.combination)
    return EnsembleChoice(names, ev.published, per_window, failed, scores, ev.blend, blends, bests, evidence,
                          rule.combination)


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
    """``choice``; ``rows``: the published choice's scored rows of every window (model
    ``ensemble``, relabelled by the engine); ``paths``: its paths per cutoff; ``extra``: the
    blend's rows (``ensemble``) and the best member's (``best_member``); ``members``: each
    extra member's rows of the windows where it never failed (model = member name)."""

    choice: EnsembleChoice
    rows: pd.DataFrame
    paths: dict
    members: dict[str, pd.DataFrame]
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)


def build_ensemble(raw: pd.DataFrame, deepar: Mapping, forecasts: Mapping, cutoffs: list, freq: str,
                   fits=MEMBER_FITS, rule: Rule = Rule()) -> EnsembleRun:
    """Choose (``choose_ensemble``) and build the published, blend and best-member rows and paths.

    ``raw``: DeepAR's scored rows of every cutoff; ``deepar``: its paths per cutoff;
    ``forecasts``: ``fit_members`` output per cutoff.
    """
    windows = [window_arrays(c, raw[raw[CUTOFF] == c], deepar[c], forecasts.get(c, {})) for c in cutoffs]
    failures = {c: {m: r for m, r in forecasts.get(c, {}).items() if isinstance(r, str)} for c in cutoffs}
    choice = choose_ensemble(windows, failures, fits, rule)
    rows, paths, members = [], {}, {m: [] for m in fits if m not in choice.failed}
    extra: dict[str, list] = {ENSEMBLE: [], BEST_MEMBER: []}
    for c, w in zip(cutoffs, windows, strict=True):
        key = str(pd.Timestamp(c).date())
        fs, base = deepar[c], raw[raw[CUTOFF] == c]
        combos = {"published": choice.window_weights[key], ENSEMBLE: choice.window_blends[key],
                  BEST_MEMBER: {choice.window_best[key]: 1.0}}
        made: dict[str, np.ndarray] = {}
        for label, weights in combos.items():
            wkey = tuple(sorted(weights.items()))
            if wkey not in made:
                made[wkey] = _combined_paths(w, weights, rule.combination)
            mix = made[wkey]
            frame = path_rows(base, fs.ids, fs.starts, mix, freq).assign(**{MODEL: ENSEMBLE if label == "published" else label})
            if label == "published":
                paths[c] = Paths(list(fs.ids), list(fs.starts), mix)
                rows.append(frame)
            else:
                extra[label].append(frame)
        for m in members:
            members[m].append(path_rows(base, fs.ids, fs.starts, w.parts[m], freq).assign(**{MODEL: m}))
    out = {m: pd.concat(f, ignore_index=True) for m, f in members.items() if f}
    extras = {k: pd.concat(f, ignore_index=True) for k, f in extra.items() if f}
    return EnsembleRun(choice, pd.concat(rows, ignore_index=True), paths, out, extras)


def _combined_paths(w: _Window, weights: Mapping[str, float], method: str) -> np.ndarray:
    """The window's paths of ``weights`` (the heaviest member with paths is the rank reference)."""
    names = list(weights)
    if len(names) == 1 and names[0] not in QUANTILE_MEMBERS:
        return w.parts[names[0]]
    ref = reference_member(weights)
    return combine([w.parts[m] for m in names], list(weights.values()), method, w.parts[ref])

