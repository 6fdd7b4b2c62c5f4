"""Weeks of operation for the track record: a known truth, weekly publications, panels of D.

``Truth`` fixes what happens: incidents per warehouse and Monday week (Poisson, the site's
rate x a factor per week) and each incident's loss in EUR. ``operate_week`` does what a
weekly run on Sunday D does before and after the track task: writes the panel of D (history:
the truth of every week ending on or before D; the horizon's covariate rows), its severity
table (one row per incident), forecast sample paths for the next weeks (Poisson at the
site's *usual* rate), and a gate-passed model manifest; then computes and publishes the
reserves of D through the real stages. Written through ``Lake`` in the stages' layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from forecasting.core import model_records, schema
from forecasting.core.lake import Lake, join
from forecasting.reserves.compute import compute_reserves
from forecasting.reserves.publish import publish_reserves
from forecasting.reserves.report import write_reserves_report
from forecasting.reserves.track.stage import track_record

SITES = {  # warehouse -> (region, country, weekly incident rate)
    "WH-A": ("north", "DE", 3.0),
    "WH-B": ("north", "NL", 1.0),
    "WH-C": ("south", "ES", 2.0),
}
FIRST_MONDAY = pd.Timestamp("2023-06-05")  # the panel's history starts here
MODEL, SNAPSHOT = "m-track-1", "snap-track"


@dataclass
class Truth:
    """Incidents and losses per (warehouse, Monday); ``factor(monday)`` scales the rate."""

    weeks: int = 120
    seed: int = 3
    factor: dict[pd.Timestamp, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        rows = []
        for monday in pd.date_range(FIRST_MONDAY, periods=self.weeks, freq="W-MON"):
            for wid, (region, _country, rate) in SITES.items():
                n = int(rng.poisson(rate * self.factor.get(monday, 1.0)))
                for loss in np.round(rng.lognormal(7.0, 0.8, n), 2):
                    rows.append((region, "theft", float(loss), "report", True, wid, monday))
                rows += [] if n else [(region, None, 0.0, None, None, wid, monday)]  # a week without incidents
        frame = pd.DataFrame(rows, columns=[schema.REGION, schema.CATEGORY, schema.SEVERITY_LOSS_EUR,
                                            schema.SEVERITY_EVIDENCE, schema.IS_HVG, schema.WAREHOUSE_ID, schema.DS])  # fmt: skip
        self.incidents = frame[frame[schema.CATEGORY].notna()].reset_index(drop=True)
        counts = self.incidents.groupby([schema.WAREHOUSE_ID, schema.DS]).size()
        grid = pd.MultiIndex.from_product([list(SITES), sorted(frame[schema.DS].unique())])
        self.y = counts.reindex(grid, fill_value=0).astype(float)
        self.loss = self.incidents.groupby([schema.WAREHOUSE_ID, schema.DS])[schema.SEVERITY_LOSS_EUR].sum()


def write_panel(lake: Lake, as_of: date, truth: Truth, horizon: int = 3) -> None:
    """The panel of ``as_of`` (history up to the last full week, then ``horizon`` weeks) and severity."""
    last = pd.Timestamp(as_of) - pd.Timedelta(days=6)  # the Monday of the week ending on as_of (a Sunday)
    rows = []
    for wid, (region, country, _rate) in SITES.items():
        for monday in pd.date_range(FIRST_MONDAY, last, freq="W-MON"):
            rows.append((wid, monday, truth.y[(wid, monday)], region, country, False))
        for monday in pd.date_range(last + pd.Timedelta(days=7), periods=horizon, freq="W-MON"):
            rows.append((wid, monday, np.nan, region, country, True))
    cols = [schema.UNIQUE_ID, schema.DS, schema.Y, schema.REGION, schema.COUNTRY, schema.IS_FUTURE]
    panel = pd.DataFrame(rows, columns=cols)
    severity = truth.incidents.loc[truth.incidents[schema.DS] <= last]
    out = lake.stage("panel", as_of)
    lake.write_parquet(panel, join(out, "panel.parquet"))
    lake.write_parquet(severity, join(out, "severity.parquet"))
    lake.write_json(join(out, "summary.json"), {"snapshot_id": SNAPSHOT, "spec": {"freq": "W-MON"}})


def operate_week(settings, as_of: date, truth: Truth, *, horizon: int = 3, paths: int = 400, track: bool = True):
    """The forecast DAG's run of Sunday ``as_of``: panel, then (``track``) the track task,
    forecasts and model, reserves computed, published and the page written. Returns (run id, track summary)."""
    assert as_of.weekday() == 6, "a scheduled weekly run works on a Sunday"
    lake = Lake.from_settings(settings)
    write_panel(lake, as_of, truth, horizon)
    scored = track_record(settings, as_of) if track else None
    rng = np.random.default_rng([7, as_of.toordinal()])
    first = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    rows = [
        (wid, step, monday, sample, float(v))
        for wid, (_r, _c, rate) in SITES.items()
        for step, monday in enumerate(pd.date_range(first, periods=horizon, freq="W-MON"), start=1)
        for sample, v in enumerate(rng.poisson(rate, paths))
    ]
    samples = pd.DataFrame(rows, columns=[schema.UNIQUE_ID, schema.STEP, schema.DS, schema.SAMPLE, schema.VALUE])
    fc = lake.stage("forecasts", as_of)
    lake.write_parquet(samples, join(fc, "samples.parquet"))
    lake.write_parquet(samples.groupby([schema.UNIQUE_ID, schema.DS, schema.STEP])[schema.VALUE].mean()
                       .rename(schema.MEAN).reset_index().assign(**{schema.MODEL_VERSION: MODEL}),
                       join(fc, "quantiles.parquet"))  # fmt: skip
    lake.write_json(join(lake.models(MODEL), "manifest.json"),
                    {"version": MODEL, "snapshot_id": SNAPSHOT, "code_version": "test"})  # fmt: skip
    # the gate's verdict lives in the reserves database (forecasting.core.model_records)
    model_records.record_registration(settings.reserves_url, MODEL, as_of, SNAPSHOT, "test",
                                      {"model.json": "0" * 64})  # fmt: skip
    model_records.record_verdict(settings.reserves_url, MODEL, True, {}, as_of=as_of,
                                 snapshot_id=SNAPSHOT, ensemble=None)  # fmt: skip
    compute_reserves(settings, as_of)
    run_id = publish_reserves(settings, as_of).run_id
    write_reserves_report(settings, as_of)  # the page's one writer, as the DAG's report task
    return run_id, scored


def sundays(first: date, n: int) -> list[date]:
    return [first + timedelta(weeks=i) for i in range(n)]
