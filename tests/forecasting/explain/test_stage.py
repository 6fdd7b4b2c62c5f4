"""The explain stage on a small sample network with anomalies: outputs, bad input, reruns."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.core import schema
from forecasting.core.errors import InputError
from forecasting.core.lake import Lake
from forecasting.demo.generate import generate_network
from forecasting.explain.scm import AttributionOptions
from forecasting.explain.stage import ATTRIBUTION_COLUMNS, ExplainOptions, explain_lake
from forecasting.ingest.drop import ingest_date
from forecasting.panel.build import build_panel

START, DAYS = date(2024, 1, 1), 200
END = START + timedelta(days=DAYS - 1)
FAST = ExplainOptions(attribution=AttributionOptions(bootstrap=3, distribution_samples=300))


@pytest.fixture(scope="module")
def lake_settings(tmp_path_factory):
    from forecasting.core.config import load_settings

    root = tmp_path_factory.mktemp("explain")
    settings = load_settings(
        None, landing_uri=str(root / "landing"), lake_uri=str(root / "lake"),
        reserves_url=f"sqlite:///{root / 'reserves.db'}",
    )  # fmt: skip
    generate_network(settings.landing_uri, 8, START, DAYS, 4, False, True)
    for i in range(DAYS):  # ingest only, live at once: the anomalies stay in bronze
        ingest_date(settings, START + timedelta(days=i))
    build_panel(settings, END)
    return settings


def test_explain_writes_attributions_scores_and_alerts(lake_settings) -> None:
    summary = explain_lake(lake_settings, END, FAST)
    lake = Lake.from_settings(lake_settings)
    attr = lake.read_parquet(lake.explain_attributions(END))
    scores = lake.read_parquet(lake.explain_file(END, "scores"))
    assert list(attr.columns) == ATTRIBUTION_COLUMNS
    assert len(summary.periods) == 8 and summary.counts["scored"] == len(scores)
    flagged = scores.loc[scores[schema.FLAGGED]]
    assert summary.counts["flagged"] == len(flagged) > 0
    assert flagged[schema.CAUSE_TEXT].str.contains("% of the outlier").all()
    assert set(attr[schema.WAREHOUSE_ID] + attr[schema.PERIOD_START].astype(str)) == set(
        flagged[schema.WAREHOUSE_ID] + flagged[schema.PERIOD_START].astype(str)
    )
    assert (attr[schema.CONTRIBUTION_LO] <= attr[schema.CONTRIBUTION_HI]).all()
    # the cold-start site has no actuals in the window: a message, no attribution
    truth = pd.read_csv(f"{lake_settings.landing_uri}/_truth/warehouses.csv")
    cold = truth.loc[truth[schema.COLD_START], schema.WAREHOUSE_ID].iloc[0]
    assert cold in summary.skipped and cold not in set(attr[schema.WAREHOUSE_ID])
    outbox = lake.read_text(lake.outbox)
    assert "% of the outlier" in outbox and '"kind": "root_cause"' in outbox
    # explain writes data only: the reserves page is the report stage's (one writer per file)
    assert "reserves_page" not in summary.uris and not lake.exists(lake.reserves_report(END))


def test_explain_rerun_is_byte_identical(lake_settings) -> None:
    lake = Lake.from_settings(lake_settings)
    quiet = ExplainOptions(alert=False, attribution=FAST.attribution)
    explain_lake(lake_settings, END, quiet)
    first = {k: lake.read_bytes(lake.explain_file(END, k)) for k in ("attributions", "scores", "summary")}
    explain_lake(lake_settings, END, quiet)
    assert first == {k: lake.read_bytes(lake.explain_file(END, k)) for k in first}


def test_too_little_history_is_a_message_not_a_crash(lake_settings) -> None:
    opts = ExplainOptions(min_reference=500, alert=False, attribution=FAST.attribution)
    summary = explain_lake(lake_settings, END, opts)
    assert summary.counts["flagged"] == 0 and summary.counts["attribution_rows"] == 0
    assert any("too little history" in why for why in summary.skipped.values())


def test_missing_panel_names_the_fix(lake_settings) -> None:
    with pytest.raises(InputError, match="riskcast panel --as-of"):
        explain_lake(lake_settings, END - timedelta(days=3), FAST)
    env = {"RISKCAST_LAKE_URI": lake_settings.lake_uri, "RISKCAST_LANDING_URI": lake_settings.landing_uri}
    result = CliRunner().invoke(app, ["explain", "--as-of", str(END - timedelta(days=3))], env=env)
    assert result.exit_code == 2 and "riskcast panel" in result.output


def test_a_week_above_its_published_p95_is_flagged_at_the_lower_score(lake_settings) -> None:
    """The P95 rule: realised incidents above what the latest earlier publication said."""
    import shutil

    lake = Lake.from_settings(lake_settings)
    quiet = ExplainOptions(alert=False, attribution=FAST.attribution)
    explain_lake(lake_settings, END, quiet)
    before = lake.read_parquet(lake.explain_file(END, "scores"))
    assert not before[schema.EXCEEDED_P95].any(), "nothing published yet: no week exceeds a P95"
    low = quiet.min_score_exceeded
    middling = before.loc[~before[schema.FLAGGED] & before[schema.OUTLIER_SCORE].between(low, quiet.min_score)]
    target = (middling if len(middling) else before).iloc[0]
    weeks = before[[schema.WAREHOUSE_ID, schema.PERIOD_START]].copy()
    published = (pd.to_datetime(weeks[schema.PERIOD_START]).min() - timedelta(days=7)).date()
    hit = (weeks[schema.WAREHOUSE_ID] == target[schema.WAREHOUSE_ID]) & (
        weeks[schema.PERIOD_START] == target[schema.PERIOD_START])
    weeks[schema.AS_OF_DATE] = published
    weeks[schema.INCIDENTS_P95] = (~hit).map({True: 1e9, False: -1.0})  # only the target is exceeded
    weeks[schema.LOSS_EUR_P95] = 1e12
    folder = lake.stage("reserves", published)
    lake.write_parquet(weeks, lake.reserves_file(published))
    try:
        explain_lake(lake_settings, END, quiet)
        after = lake.read_parquet(lake.explain_file(END, "scores"))
    finally:
        shutil.rmtree(folder)
    exceeded = after.loc[after[schema.EXCEEDED_P95]]
    assert list(zip(exceeded[schema.WAREHOUSE_ID], exceeded[schema.PERIOD_START], strict=True)) == [
        (target[schema.WAREHOUSE_ID], target[schema.PERIOD_START])]
    assert bool(exceeded[schema.FLAGGED].iloc[0]) == (target[schema.OUTLIER_SCORE] >= low)
    if len(middling):  # a week under the score threshold is flagged because it beat its P95
        assert not target[schema.FLAGGED] and exceeded[schema.FLAGGED].iloc[0]
