"""Commands of the reserves stage: reserves, publish, report, escalate, show."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from forecasting.cli.common import (
    AsOfOpt,
    ConfigOpt,
    UngatedOpt,
    app,
    emit,
    out,
    run,
    settings_from,
)
from forecasting.core.lake import parse_date
from forecasting.overview import SHOWN_COLUMNS, describe_run
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
    as_of: AsOfOpt,
    rows: Annotated[int, typer.Option(min=1, help="rows of reserves_latest to print")] = 15,
    config: ConfigOpt = None,
) -> None:
    """Print the published reserves (reserves_latest) and where the run's artefacts are."""


    settings = settings_from(config)
    view = run(lambda: describe_run(settings, parse_date(as_of, "--as-of")))
    if view.notice():  # never let another day's rows pass for the asked day's
        out.print(f"[bold yellow]note:[/] {escape(view.notice())}", highlight=False, soft_wrap=True)
    cols = [c for c in SHOWN_COLUMNS if c in view.latest.columns]
    table = Table(title=f"reserves_latest: {view.reserves_rows} rows, {view.warehouses} warehouses")
    for col in cols:
        table.add_column(col, justify="right" if view.latest[col].dtype.kind in "if" else "left")
    for _, row in view.latest.head(rows).iterrows():
        table.add_row(*[f"{row[c]:,.1f}" if isinstance(row[c], float) else str(row[c]) for c in cols])
    # finance reads this in logs too: never squeeze the figures below a readable width
    Console(width=max(out.width, 170)).print(table)
    for name, path in view.paths.items():
        out.print(f"[bold]{name}[/]: {path}", highlight=False, soft_wrap=True)
