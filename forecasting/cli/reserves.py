"""Commands of the reserves stage: reserves, publish, report, escalate, show."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from forecasting.cli.common import (
    OUTPUT,
    AsOfOpt,
    ConfigOpt,
    UngatedOpt,
    app,
    emit,
    out,
    run,
    settings_from,
)
from forecasting.cli.show import print_overview
from forecasting.core.lake import parse_date
from forecasting.overview import describe_run
from forecasting.reserves.compute import compute_reserves
from forecasting.reserves.escalation import escalate_reserves
from forecasting.reserves.publish import publish_reserves
from forecasting.reserves.report import write_reserves_report


@app.command()
def reserves(as_of: AsOfOpt, allow_ungated: UngatedOpt = False, config: ConfigOpt = None) -> None:
    """Compound incident paths x loss severity into reserves in EUR (P50/P90/P95)."""

    settings = settings_from(config)
    day = parse_date(as_of, "--as-of")
    emit(run(lambda: compute_reserves(settings, day, allow_ungated=allow_ungated)))


@app.command()
def publish(
    as_of: AsOfOpt,
    run_id: Annotated[str | None, typer.Option("--run-id", help="publication id (default: derived from the date and inputs)")] = None,
    allow_ungated: UngatedOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Publish the day's reserves to the reserves database in one transaction."""

    settings = settings_from(config)
    day = parse_date(as_of, "--as-of")
    emit(run(lambda: publish_reserves(settings, day, run_id, allow_ungated=allow_ungated)))


@app.command()
def report(as_of: AsOfOpt, config: ConfigOpt = None) -> None:
    """Write the reserves page and its downloads (CSV, Excel) from reserves, backtest, audit and explain."""

    settings = settings_from(config)
    emit(run(lambda: write_reserves_report(settings, parse_date(as_of, "--as-of"))))


@app.command()
def escalate(as_of: AsOfOpt, config: ConfigOpt = None) -> None:
    """Send escalation alerts for sites whose P95 crosses their threshold."""

    settings = settings_from(config)
    emit(run(lambda: escalate_reserves(settings, parse_date(as_of, "--as-of"))))


@app.command()
def show(
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="DATE", help="the date expected in reserves_latest (default: the one it holds)")] = None,
    rows: Annotated[int, typer.Option(min=1, help="warehouse-weeks (and escalating sites) to list")] = 15,
    config: ConfigOpt = None,
) -> None:
    """Print the published reserves (reserves_latest): horizon totals, escalating sites, largest P95s."""

    settings = settings_from(config)
    day = parse_date(as_of, "--as-of") if as_of else None
    view = run(lambda: describe_run(settings, day))
    if OUTPUT["json"] or not out.is_terminal:  # scripts and pipes: every row, as JSON
        print(json.dumps(view.to_dict(), default=str, sort_keys=True), flush=True)
        return
    print_overview(view, out, rows)
