"""Backtest windows: reused from the window store, warm-started in cutoff order, or as Ray tasks.

For each window, in cutoff order:

1. **reused**: with a ``WindowStore`` (``settings.backtest_reuse``), a stored window of the
   same cutoff, input data (digest) and configuration is loaded instead of fitted
   (``forecasting.backtest.window_store``); only its baselines missing from the store run.
2. **warm-started** (``settings.backtest_warm_start`` and a fit that takes ``init``): DeepAR
   starts from the weights of the window before it (its cutoff is earlier, so it never saw
   this window's later data) and trains only while its held-out loss improves
   (``settings.backtest_warm_patience``); the first window to fit starts from the newest
   stored earlier window of the same configuration whose inputs are unchanged, else from
   scratch. Warm-started windows form a chain, so they run one after the other in process.
3. **independent** (warm start off): ``backtest_workers`` 1 runs them in this process; N > 1
   as Ray tasks with at most N in flight; 0 as many as the cluster's CPUs allow. Each task
   declares ``num_cpus = model.num_threads``, the torch thread count the window sets in
   either path, so results are identical to the in-process run.

With ``refit_every_window`` False one fit serves every window (in process, nothing stored).
Every fitted window is stored before the next one starts, so a failed run keeps what it did.
Scoring always runs in this process, against the actuals of the panel at hand.

Ray tasks, not Ray Data: a backtest is a handful of coarse, CPU-heavy windows, each
returning a small result in cutoff order; there is no stream of blocks to map over.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from forecasting.backtest.window_run import (
    DEEPAR_RAW,
    RISKCAST,
    FitFn,
    WindowForecasts,
    WindowJob,
    WindowRun,
    forecast_window,
    score_window,
    wants_deepar,
    warm_capable,
)
from forecasting.backtest.window_store import StoredWindow, WindowStore, data_digest
from forecasting.backtest.windows import window_frames
from forecasting.core.cluster import ray_map
from forecasting.core.config import Settings
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.progress import track

log = logging.getLogger(__name__)

LABEL = "backtest windows"
REUSED, WARM = "reused", "warm start"


def run_windows(
    jobs: list[WindowJob], spec: PanelSpec, settings: Settings, fit: FitFn, member_fits: dict[str, FitFn],
    store: WindowStore | None = None, panel=None,
) -> list[WindowRun]:
    """Every job's window (see the module docstring), results in the order of ``jobs``.

    ``store``: where windows are found and kept (None: nothing reused or stored); ``panel``:
    the backtest's panel, to look for a stored earlier window to warm-start from."""
    if not settings.refit_every_window:
        if settings.backtest_workers != 1:
            log.info("refit_every_window is False: one fit serves every window, run in process")
        return _one_fit(jobs, spec, settings, fit, member_fits)
    entries = [store.locate(job.win) for job in jobs] if store else [None] * len(jobs)
    warm = settings.backtest_warm_start and warm_capable(fit) and any(wants_deepar(j) for j in jobs)
    if warm or settings.backtest_workers == 1 or sum(not _found(e) for e in entries) <= 1:
        forecasts = _in_order(jobs, entries, spec, settings, fit, member_fits, store, panel, warm)
    else:
        forecasts = _independent(jobs, entries, spec, settings, fit, member_fits, store)
    return [score_window(job, spec, fc) for job, fc in zip(jobs, forecasts, strict=True)]


def _found(entry: StoredWindow | None) -> bool:
    return entry is not None and entry.meta is not None


def _one_fit(jobs, spec, settings, fit, member_fits) -> list[WindowRun]:
    runs, fitted = [], None
    for job in track(jobs, LABEL):
        fc = forecast_window(job, spec, settings, fit, member_fits, fitted)
        fitted = fc.fitted
        runs.append(score_window(job, spec, fc))
    return runs


def _in_order(jobs, entries, spec, settings, fit, member_fits, store, panel, warm) -> list[WindowForecasts]:
    """Windows one after the other; a fit starts from the previous window's weights (warm)."""
    out: list[WindowForecasts] = []
    previous: WindowForecasts | StoredWindow | None = None
    for job, entry in track(list(zip(jobs, entries, strict=True)), LABEL):
        fc = _reuse_or_none(job, entry, spec, settings, fit, member_fits, store)
        if fc is not None:
            previous = entry
        else:
            init, origin = (None, None)
            if warm and wants_deepar(job):
                init, origin = _init_weights(previous, store, job, spec, panel)
            fc = forecast_window(job, spec, settings, fit, member_fits, init=init)
            if origin:
                fc.origin = f"{WARM} from {origin}"
            _keep(store, entry, fc)
            previous = fc
        out.append(replace(fc, fitted=None))
    return out


def _reuse_or_none(job, entry, spec, settings, fit, member_fits, store) -> WindowForecasts | None:
    """The stored window, or None when there is none or it cannot be read (it is fitted again)."""
    if not _found(entry):
        return None
    try:
        return _reuse(job, entry, spec, settings, fit, member_fits, store)
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        log.warning("stored window %s cannot be used (%s): fitting it again", entry.uri, exc)
        entry.meta = None
        return None


def _reuse(job, entry, spec, settings, fit, member_fits, store) -> WindowForecasts:
    """A stored window; baselines this run asks for and the store lacks are forecast and added."""
    samples, members, baselines = store.load_forecasts(entry, spec.freq)
    fc = WindowForecasts(job.win.cutoff, samples, members, baselines, {}, origin=REUSED)
    if job.evaluated:
        extra = forecast_window(replace(job, models=tuple(m for m in job.models if m not in (RISKCAST, DEEPAR_RAW))),
                                spec, settings, fit, member_fits, have=tuple(baselines))
        if extra.baselines:
            fc.baselines = {**baselines, **extra.baselines}
            fc.seconds = extra.seconds
            weights = store.load_weights(entry)
            store.save(entry, deepar=samples, members=members, baselines=fc.baselines, weights=weights,
                       info={k: v for k, v in entry.meta.items() if k in ("origin", "seconds")})
    return fc


def _init_weights(previous, store, job, spec, panel) -> tuple[list[dict] | None, str | None]:
    """(weights, where from): the window before in this run, else the newest stored earlier
    window whose inputs are unchanged, else (None, None): from scratch."""
    if isinstance(previous, WindowForecasts):
        return previous.weights, str(previous.cutoff.date()) if previous.weights else None
    if isinstance(previous, StoredWindow):
        weights = _stored_weights(store, previous)
        return weights, str(previous.cutoff.date()) if weights else None
    if store is None or panel is None:
        return None, None
    for cutoff in store.earlier_cutoffs(job.win.cutoff):
        win = window_frames(panel, spec, cutoff, job.horizon, job.cold)
        entry = store.locate(win)
        weights = _stored_weights(store, entry) if entry.meta is not None else None
        if weights:
            log.info("window %s warm-starts from the stored window %s (data %s)", job.win.cutoff.date(),
                     cutoff.date(), data_digest(win))
            return weights, f"stored {cutoff.date()}"
    return None, None


def _stored_weights(store: WindowStore, entry: StoredWindow) -> list[dict] | None:
    try:
        return store.load_weights(entry)
    except (ValueError, OSError, RuntimeError, KeyError) as exc:  # unreadable: start from scratch
        log.warning("stored weights of %s cannot be used (%s)", entry.uri, exc)
        return None


def _keep(store: WindowStore | None, entry: StoredWindow | None, fc: WindowForecasts) -> None:
    if store is None or entry is None:
        return
    store.save(entry, deepar=fc.samples, members=fc.members, baselines=fc.baselines, weights=fc.weights,
               info={"origin": fc.origin, "seconds": {k: round(v, 3) for k, v in fc.seconds.items()}})


def _independent(jobs, entries, spec, settings: Settings, fit, member_fits, store) -> list[WindowForecasts]:
    """Windows not in the store as Ray tasks (no warm start); stored ones loaded here."""
    todo = [i for i, e in enumerate(entries) if not _found(e)]
    done = ray_map(settings, _window_task, [(jobs[i],) for i in todo], settings.backtest_workers, LABEL,
                   "backtest_workers", shared=(spec, settings, fit, member_fits))
    fitted = dict(zip(todo, done, strict=True))
    out = []
    for i, (job, entry) in enumerate(zip(jobs, entries, strict=True)):
        if i in fitted:
            _keep(store, entry, fitted[i])
            out.append(fitted[i])
        else:
            fc = _reuse_or_none(job, entry, spec, settings, fit, member_fits, store)
            if fc is None:  # unreadable: fitted here, independent of the others
                fc = replace(forecast_window(job, spec, settings, fit, member_fits), fitted=None)
                _keep(store, entry, fc)
            out.append(fc)
    return out


def _window_task(job: WindowJob, spec, settings, fit, member_fits) -> WindowForecasts:
    """A Ray task's body: the fitted model stays in the worker (only what is used returns)."""
    return replace(forecast_window(job, spec, settings, fit, member_fits), fitted=None)
