"""Backtest windows in process or as Ray tasks (``settings.backtest_workers``).

Windows are independent when every window refits (``settings.refit_every_window``, the
default): each is one ``run_window`` call. ``backtest_workers`` 1 runs them one after the
other in this process; N > 1 runs them as Ray tasks with at most N in flight; 0 as many as
the Ray cluster's CPUs allow. Each task declares ``num_cpus = model.num_threads``, the
torch thread count ``run_window`` sets in either path, so results are identical to the
in-process run. With ``refit_every_window`` False one fit serves every window, so the
windows run in process whatever the setting.

Ray tasks, not Ray Data: a backtest is a handful of coarse, CPU-heavy windows (two DeepAR
fits, members and baselines each), each returning a small result in cutoff order; there is
no stream of blocks to map over. Ray is the one riskcast starts for training
(``forecasting.core.cluster.start_ray``: local by default, ``ray.address`` for a cluster).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from forecasting.backtest.window_run import FitFn, WindowJob, WindowRun, run_window
from forecasting.core.cluster import ray_map
from forecasting.core.config import Settings
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.progress import track

log = logging.getLogger(__name__)

LABEL = "backtest windows"


def run_windows(
    jobs: list[WindowJob], spec: PanelSpec, settings: Settings, fit: FitFn, member_fits: dict[str, FitFn]
) -> list[WindowRun]:
    """``run_window`` of every job, results in the order of ``jobs``."""
    workers = settings.backtest_workers
    if workers == 1 or len(jobs) <= 1 or not settings.refit_every_window:
        if workers != 1 and not settings.refit_every_window:
            log.info("refit_every_window is False: one fit serves every window, run in process")
        return _in_process(jobs, spec, settings, fit, member_fits)
    return _on_ray(jobs, spec, settings, fit, member_fits, workers)


def _in_process(jobs, spec, settings, fit, member_fits) -> list[WindowRun]:
    runs, fitted = [], None
    for job in track(jobs, LABEL):
        run = run_window(job, spec, settings, fit, member_fits, fitted)
        fitted = run.fitted
        runs.append(replace(run, fitted=None))
    return runs


def _window_task(job: WindowJob, spec, settings, fit, member_fits) -> WindowRun:
    """A Ray task's body: the fitted model stays in the worker (only what is used returns)."""
    return replace(run_window(job, spec, settings, fit, member_fits), fitted=None)


def _on_ray(jobs, spec, settings: Settings, fit, member_fits, workers: int) -> list[WindowRun]:
    return ray_map(settings, _window_task, [(job,) for job in jobs], workers, LABEL,
                   "backtest_workers", shared=(spec, settings, fit, member_fits))  # fmt: skip
