"""A lake holding every page the riskcast Airflow plugin serves, built from small data:
the reserves page (with a previous publication and a passed gate), a toy backtest report,
an audit report and GX Data Docs of one validated day."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from forecasting.audit.report import render_html, render_markdown
from forecasting.backtest.engine import run_backtest
from forecasting.backtest.metrics import metrics_by_step
from forecasting.backtest.report import backtest_sections
from forecasting.core.config import load_settings
from forecasting.core.html import render_report
from forecasting.core.lake import Lake
from forecasting.core.layout import TOTALS_FILE
from forecasting.reserves.report import write_reserves_report
from forecasting.stages import run_validate
from tests.support.audit_table import audit_summary, audit_table
from tests.support.backtest_toys import FAST, SPEC, toy_fit, toy_panel
from tests.support.reserves_frames import AS_OF, reserve_frames, write_stage
from tests.support.validation_frames import DAY, write_day

GATE = {"passed": True, "model": "riskcast", "tolerance": 0.025, "windows": ["2024-03-04", "2024-04-01"],
        "n": 96, "figures": {"0.95": {"coverage": 0.958, "coverage_strict": 0.93, "ok": True}}, "reason": ""}  # fmt: skip


def build_served_lake(root: Path) -> Lake:
    """Write every served page under ``root/lake`` (landing under ``root/landing``)."""
    settings = load_settings(None, lake_uri=str(root / "lake"), landing_uri=str(root / "landing"))
    lake = Lake.from_settings(settings)
    previous = AS_OF - timedelta(days=7)
    lake.write_parquet(reserve_frames(previous, scale=0.8)[1], lake.reserves_file(previous, TOTALS_FILE))
    lake.write_json(lake.backtest_file(AS_OF, "gate"), GATE)
    write_stage(lake, AS_OF)
    res = run_backtest(toy_panel(), SPEC, settings, horizon=6, windows=2, fit=toy_fit([]), models=FAST, num_samples=100)
    page = render_report(backtest_sections(res, metrics_by_step(res.frame)), title="riskcast backtest: toy panel")
    lake.write_text(lake.backtest_file(AS_OF, "report"), page)
    table = audit_table()
    lake.write_parquet(table, lake.audit_table(AS_OF))  # the reserves page quotes its rates
    md = render_markdown(table, audit_summary(), pd.Series([1.0, 2.0, 4.0]))
    lake.write_text(lake.audit_report(AS_OF), render_html(md, f"riskcast audit {AS_OF}", table))
    write_day(lake, DAY)
    run_validate(settings, DAY)
    write_reserves_report(settings, AS_OF)  # after the pages it links to
    return lake
