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
from forecasting.stages import stage


@app.command(help=stage("reserves").help)
def reserves(as_of: AsOfOpt, allow_ungated: UngatedOpt = False, config: ConfigOpt = None) -> None:

    settings = settings_from(config)
    day = parse_date(as_of, "--as-of")
    emit(run(lambda: stage("reserves").run(settings, day, allow_ungated=allow_ungated)))


@app.command(help=stage("publish").help)
def publish(
    as_of: AsOfOpt,
    run_id: Annotated[str | None, typer.Option("--run-id", help="publication id (default: derived from the date and inputs)")] = None,
    allow_ungated: UngatedOpt = False,
    config: ConfigOpt = None,
) -> None:

    settings = settings_from(config)
    day = parse_date(as_of, "--as-of")
    emit(run(lambda: stage("publish").run(settings, day, run_id, allow_ungated=allow_ungated)))


@app.command(help=stage("report").help)
def report(as_of: AsOfOpt, config: ConfigOpt = None) -> None:
    settings = settings_from(config)
    emit(run(lambda: stage("report").run(settings, parse_date(as_of, "--as-of"))))


@app.command(help=stage("escalate").help)
def escalate(as_of: AsOfOpt, config: ConfigOpt = None) -> None:

    settings = settings_from(config)
    emit(run(lambda: stage("escalate").run(settings, parse_date(as_of, "--as-of"))))


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
