"""Backtest stage: read a panel (a user's file or the lake's), run the rolling-origin
backtest (``forecasting.backtest.engine``), write the evidence and apply the gate.

Files written to the output folder (local or ``s3://``)::

    backtest.parquet   the tidy frame (see backtest_engine)
    metrics.csv        model, metric, value, segment
    metrics_by_step.csv model, step, metric, value
    calibration.json   the quantile-level map others apply to their samples
    gate.json          the gate verdict and its figures
    ensemble.json      the ensemble's members, weights (what forecast mixes), failures, scores
    paths.parquet      the production model's sample paths of each evaluated window
                       (unique_id, cutoff, step, ds, sample, value): the reserves stage
                       compounds them with loss severity to judge the EUR figures
    report.html        self-contained report (forecasting.core.html)

A failed gate writes everything first, then sends an alert and raises
CalibrationGateError: a miscalibrated model never publishes. A backtest of the lake panel
into the lake (``--as-of`` without ``--out``, or the DAG) records its verdict on the
registered model version of that panel snapshot, which is what forecast, reserves and
publish check. A backtest of a user's panel (``--panel``) or into ``--out`` is an
experiment: it records nothing and never alerts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from forecasting.alerts.alert import Alert
from forecasting.alerts.send import send_alert
from forecasting.backtest.engine import BacktestResult, run_backtest, summary_headline
from forecasting.backtest.ensemble import EnsembleChoice
from forecasting.backtest.metrics import metrics_by_step
from forecasting.backtest.report import backtest_sections
from forecasting.backtest.windows import LISTED
from forecasting.core.config import Settings
from forecasting.core.errors import CalibrationGateError, InputError
from forecasting.core.html import render_report
from forecasting.core.lake import Lake, join
from forecasting.core.layout import BACKTEST_FILES as FILES
from forecasting.core.layout import BACKTESTS as BACKTEST_STAGE
from forecasting.core.panel_spec import PanelSpec, freq_alias
from forecasting.core.schema import CUTOFF, DS, SAMPLE, STEP, UNIQUE_ID, VALUE
from forecasting.model.mixture import DEEPAR
from forecasting.model.registry import model_version as registered_version
from forecasting.model.registry import set_gate_status
from forecasting.panel.build import read_panel
from forecasting.panel.user import load_panel

log = logging.getLogger(__name__)
DEEPAR_ONLY = EnsembleChoice([DEEPAR], {DEEPAR: 1.0})



@dataclass(frozen=True)
class BacktestOptions:
    """The ``riskcast backtest`` flags. None means: take it from the settings."""

    panel_path: str | None = None
    as_of: date | None = None
    out_dir: str | None = None
    freq: str | None = None
    horizon: int | None = None
    windows: int | None = None
    id_col: str = "unique_id"
    time_col: str = "ds"
    target_col: str = "y"
    static_real: tuple[str, ...] = ()
    static_cat: tuple[str, ...] = ()
    dynamic_real: tuple[str, ...] = ()
    cold_start_share: float = 0.0
    seed: int = 0


@dataclass
class BacktestSummary:
    """What a backtest wrote and found (JSON-able; the CLI prints it, the DAG logs it)."""

    out_dir: str
    panel: str
    freq: str
    horizon: int
    windows: int
    cutoffs: list[str]
    calibration_cutoffs: list[str]
    n_series: int
    skipped: dict[str, Any]
    cold_start: dict[str, Any]
    mean_wql: dict[str, float]
    gate: dict[str, Any]
    calibration_levels: dict[str, float]
    files: dict[str, str]
    capped_samples: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    ensemble_weights: dict[str, float] = field(default_factory=dict)
    window_origins: dict[str, str] = field(default_factory=dict)  # cutoff -> fitted / warm start / reused

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backtest_cli(settings: Settings, opts: BacktestOptions, **engine: Any) -> BacktestSummary:
    """``riskcast backtest``: a user panel (``--panel``) or the lake panel of ``--as-of``.

    ``engine``: extra ``run_backtest`` arguments (``fit``, ``models``, ``num_samples``).
    """
    if opts.panel_path:

        if not opts.out_dir:
            raise InputError(f"give --out DIR: where {', '.join(FILES.values())} go")
        df, spec = load_panel(
            opts.panel_path, opts.id_col, opts.time_col, opts.target_col,
            opts.static_real, opts.static_cat, opts.dynamic_real,
            freq=freq_alias(opts.freq) if opts.freq else None,
        )
        source = str(opts.panel_path)
    elif opts.as_of:

        df, spec = read_panel(settings, opts.as_of)
        source = f"lake panel as_of={opts.as_of}"
    else:
        raise InputError("give --panel PATH (a long CSV/Parquet panel) or --as-of DATE (the lake's panel)")
    lake = Lake(opts.out_dir or settings.lake_uri, settings.aws_conn_id)
    out = opts.out_dir or lake.stage(BACKTEST_STAGE, opts.as_of)
    recorded = opts.as_of is not None and not opts.out_dir
    version, snapshot = _lake_model(settings, lake, opts.as_of, None) if recorded else (None, None)
    return backtest_panel(
        settings, df, spec, lake, out, source=source,
        horizon=opts.horizon or settings.horizon, windows=opts.windows or settings.backtest_windows,
        cold_start_share=opts.cold_start_share, seed=opts.seed, alert_date=opts.as_of,
        model_version=version, snapshot_id=snapshot, alert=recorded, **engine,
    )


def backtest_lake(
    settings: Settings, as_of: date, model_version: str | None = None, **engine: Any
) -> BacktestSummary:
    """The DAG task: backtest the lake panel of ``as_of`` into ``backtests/as_of=D/``.

    The verdict is recorded on ``model_version`` (default: the registered version of this
    as_of, panel snapshot and model settings) together with the panel snapshot.
    Raises CalibrationGateError (after writing the evidence and alerting) on a failed gate.
    ``engine``: extra ``run_backtest`` arguments (tests inject a model double).
    """

    df, spec = read_panel(settings, as_of)
    lake = Lake.from_settings(settings)
    version, snapshot = _lake_model(settings, lake, as_of, model_version)
    return backtest_panel(
        settings, df, spec, lake, lake.stage(BACKTEST_STAGE, as_of), source=f"lake panel as_of={as_of}",
        horizon=settings.horizon, windows=settings.backtest_windows, alert_date=as_of,
        model_version=version, snapshot_id=snapshot, **engine,
    )


def _lake_model(
    settings: Settings, lake: Lake, as_of: date, version: str | None
) -> tuple[str | None, str | None]:
    """(model version to record the verdict on, panel snapshot id) for the lake panel of as_of."""
    uri = lake.panel_summary(as_of)
    snapshot = lake.read_json(uri).get("snapshot_id") if lake.exists(uri) else None
    if version is None and snapshot:
        derived = registered_version(settings, as_of, snapshot)
        version = derived if lake.exists(lake.model_manifest(derived)) else None
    if version is None:
        log.warning("no registered model for the panel of %s: the verdict is not recorded", as_of)
    return version, snapshot


def backtest_panel(
    settings: Settings,
    df: pd.DataFrame,
    spec: PanelSpec,
    lake: Lake,
    out: str,
    *,
    source: str,
    horizon: int,
    windows: int,
    cold_start_share: float = 0.0,
    seed: int = 0,
    alert_date: date | None = None,
    model_version: str | None = None,
    snapshot_id: str | None = None,
    alert: bool = True,
    **engine: Any,
) -> BacktestSummary:
    """Run, write the files, record (on ``model_version``, judged on ``snapshot_id``) and
    enforce the gate; ``alert`` False for experiments. ``engine``: run_backtest extras."""
    if not 0 <= cold_start_share < 1:
        raise InputError(f"--cold-start-share must lie in [0, 1), got {cold_start_share}")
    engine.setdefault("store_lake", lake)
    result = run_backtest(
        df, spec, settings, horizon=horizon, windows=windows,
        cold_start_share=cold_start_share, seed=seed, **engine,
    )
    files = write_outputs(lake, out, result, source, spec.freq)
    summary = _summary(result, out, source, spec, horizon, windows, files)
    if model_version:

        set_gate_status(
            settings, model_version, result.gate.passed, result.gate.to_dict(),
            snapshot_id=snapshot_id, as_of=alert_date,
            ensemble=dict((result.ensemble or DEEPAR_ONLY).weights),
        )
    if not result.gate.passed and not alert:
        raise CalibrationGateError(
            f"calibration gate failed: {result.gate.describe()} (tolerance {result.gate.tolerance:g}); "
            f"evidence in {files['report']}; an experiment (--panel or --out): no alert, nothing recorded"
        )
    if not result.gate.passed:
        day = alert_date or result.plan.periods[-1].date()
        try:
            _alert_gate(settings, result, day, files)
            alerted = "alert sent"
        except Exception as exc:  # noqa: BLE001 - a dead alert route must not hide the verdict
            log.error("calibration gate alert could not be sent: %s", exc)
            alerted = f"the alert could not be sent ({type(exc).__name__}: {exc})"
        error = CalibrationGateError(
            f"calibration gate failed, nothing may publish: {result.gate.describe()} "
            f"(tolerance {result.gate.tolerance:g}); evidence in {files['report']}; {alerted}"
        )
        error.summary = summary  # what was written, for callers that report on failures
        raise error
    log.info("backtest %s: gate passed; mean_wQL %s", source, summary.mean_wql)
    return summary


def write_outputs(lake: Lake, out: str, result: BacktestResult, source: str, freq: str = "W-MON") -> dict[str, str]:
    """Write every file of ``FILES`` under ``out``; returns ``{name: uri}``. Deterministic."""

    uris = {name: join(out, fname) for name, fname in FILES.items()}
    lake.write_parquet(result.frame, uris["backtest"])
    lake.write_text(uris["metrics"], result.metrics.to_csv(index=False, float_format="%.6g"))
    by_step = metrics_by_step(result.frame)
    lake.write_text(uris["metrics_by_step"], by_step.to_csv(index=False, float_format="%.6g"))
    # window_levels: the level map each evaluated window applied (what its paths mean)
    window_levels = {d: {f"{q:g}": v for q, v in lv.items()} for d, lv in result.window_levels.items()}
    lake.write_json(uris["calibration"], {**result.calibration.to_dict(), "window_levels": window_levels})
    lake.write_json(uris["gate"], result.gate.to_dict())
    lake.write_json(uris["ensemble"], (result.ensemble or DEEPAR_ONLY).to_dict())
    lake.write_parquet(paths_frame(result.paths, freq), uris["paths"])
    t0 = time.perf_counter()
    html = render_report(backtest_sections(result, by_step), title=f"riskcast backtest: {source}")
    lake.write_text(uris["report"], html)
    result.timings["report"] = time.perf_counter() - t0
    return uris


def paths_frame(paths: dict[pd.Timestamp, Any], freq: str) -> pd.DataFrame:
    """Long frame of sample paths (``ids, starts, samples`` per cutoff) at the panel's
    ``freq``: ``unique_id, cutoff, step (1-based), ds, sample, value``."""
    offset = pd.tseries.frequencies.to_offset(freq)
    parts = []
    for cutoff in sorted(paths):
        fs = paths[cutoff]
        n, s, h = fs.samples.shape
        ds = np.array([[pd.Timestamp(start) + k * offset for k in range(h)] for start in fs.starts],
                      dtype="datetime64[ns]")  # fmt: skip
        parts.append(pd.DataFrame({
            UNIQUE_ID: np.repeat(np.asarray(fs.ids, dtype=object), s * h),
            CUTOFF: pd.Timestamp(cutoff),
            STEP: np.tile(np.arange(1, h + 1), n * s).astype("int64"),
            DS: np.repeat(ds, s, axis=0).reshape(-1),
            SAMPLE: np.tile(np.repeat(np.arange(s), h), n).astype("int64"),
            VALUE: fs.samples.reshape(-1).astype("float32"),
        }))  # fmt: skip
    columns = [UNIQUE_ID, CUTOFF, STEP, DS, SAMPLE, VALUE]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _summary(result: BacktestResult, out, source, spec, horizon, windows, files) -> BacktestSummary:

    return BacktestSummary(
        out_dir=out,
        panel=source,
        freq=spec.freq,
        horizon=horizon,
        windows=windows,
        cutoffs=[str(c.date()) for c in result.plan.cutoffs],
        calibration_cutoffs=[str(c.date()) for c in result.plan.calibration],
        n_series=result.n_series,
        skipped=result.checks.to_dict(),
        cold_start={"count": len(result.cold_start), "ids": result.cold_start[:LISTED]},
        mean_wql=summary_headline(result.metrics),
        gate={"passed": result.gate.passed, "summary": result.gate.describe()},
        calibration_levels={f"{q:g}": round(v, 4) for q, v in result.calibration.levels.items()},
        ensemble_weights=dict(result.ensemble.weights) if result.ensemble else {},
        files=files,
        capped_samples=result.capped,
        timings={k: round(v, 2) for k, v in result.timings.items()},
        window_origins=dict(result.origins),
    )


def _alert_gate(settings: Settings, result: BacktestResult, day: date, files: dict[str, str]) -> None:
    """Tell people the gate blocked publishing, naming the figures."""

    gate = result.gate
    rows = [
        {"quantile": q, "coverage": round(f["coverage"], 4), "coverage_strict": round(f["coverage_strict"], 4),
         "required": f"strict <= {f['upper']:.3f}, coverage >= {f['lower']:.3f}", "ok": f["ok"]}
        for q, f in gate.figures.items()
    ]
    send_alert(settings, Alert(
        kind="gate",
        severity="critical",
        title=f"Calibration gate failed for {gate.model}: reserves must not publish",
        date=day,
        source="backtest",
        summary=gate.describe(),
        details={"tolerance": gate.tolerance, "windows": gate.windows, "n": gate.n},
        rows=rows,
        links={"report": files["report"], "gate": files["gate"]},
    ))
