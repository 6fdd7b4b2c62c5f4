"""`riskcast show`: tables that fit 80 and 200 columns, JSON when piped, --as-of optional."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.cli.show import print_overview
from forecasting.core.config import load_settings
from forecasting.overview import describe_run
from forecasting.reserves.compute import compute_reserves
from forecasting.reserves.publish import publish_reserves
from tests.support.reserves_lake import AS_OF, write_inputs


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("show")
    settings = load_settings(None, lake_uri=str(root / "lake"), reserves_url=f"sqlite:///{root / 'reserves.db'}",
                             escalation={"incidents_p95": {"WH-A": 1.0}})  # fmt: skip
    write_inputs(settings.lake_uri, horizon=8)
    compute_reserves(settings, AS_OF)
    publish_reserves(settings, AS_OF)
    return settings


def _render(settings, width: int, rows: int = 5) -> str:
    buf = io.StringIO()
    print_overview(describe_run(settings), Console(file=buf, width=width, color_system=None), rows)
    return buf.getvalue()


@pytest.mark.parametrize("width", [80, 200])
def test_the_tables_fit_the_terminal(published, width):
    text = _render(published, width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "Reserves as of 2024-06-02" in text and "note:" not in text
    order = [text.index(s) for s in ("Horizon totals", "Escalating sites (1)", "Largest loss P95")]
    assert order == sorted(order)
    horizon = text[text.index("Horizon totals"): text.index("Escalating sites")]
    assert "network" in horizon and "8 weeks" in horizon and "next 4 weeks" in horizon and "€" in horizon
    assert "Largest loss P95: 3 of 3 warehouses" in text and "3 of 24 rows shown" in text and "--rows 3" in text
    assert not re.search(r"\b\d+\.\d\b", text.split("reserves_db")[0])  # counts are whole, euros rounded


def test_narrow_terminals_drop_the_least_needed_columns_first(published):
    narrow, wide = _render(published, 80), _render(published, 200)
    assert "Loss P90" in wide and "Region" in wide
    assert "Loss P95" in narrow and "Warehouse" in narrow and "To" in narrow


def test_piped_and_json_give_every_row_as_json(published):
    env = {"RISKCAST_CONFIG": "", "RISKCAST_LAKE_URI": published.lake_uri, "RISKCAST_RESERVES_URL": published.reserves_url}
    piped = CliRunner().invoke(app, ["show"], env=env)
    assert piped.exit_code == 0, piped.output
    data = json.loads(piped.stdout)
    assert data["as_of"] == "2024-06-02" and len(data["rows"]) == data["reserves_rows"] == 24
    assert data["horizon"][0]["id"] == "network" and data["escalating"][0]["warehouse_id"] == "WH-A"
    flagged = CliRunner().invoke(app, ["--json", "show", "--as-of", "2024-06-09"], env=env)
    later = json.loads(flagged.stdout)
    assert later["notice"].startswith("no publication for 2024-06-09") and later["rows"] == data["rows"]
