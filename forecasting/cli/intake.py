"""Commands of the intake stage: the sample network, ingest, validate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli.common import ConfigOpt, app, emit, run, settings_from
from forecasting.core.lake import day_range, parse_date
from forecasting.demo.generate import generate_network
from forecasting.stages import run_ingest, run_validate, stage

INGEST_STAGES = ("ingest_reference", "ingest", "validate", "sweep")
INGEST_HELP = (
    "Run the ingest DAG's stages over a day or a range of days, in its order, each the "
    "function its task runs: " + " ".join(f"{n}: {stage(n).help}" for n in INGEST_STAGES)
    + " The sweep covers the lookback_days before the last day. Without --validate only the "
    "ingest stages run and the days stay staged (not yet bronze for later stages) until a "
    "validated run. Nothing waits for a drop not yet due; purge-landing is its own command."
)


@app.command("demo-data")
def demo_data(
    out_dir: Annotated[Path, typer.Option("--out", help="landing folder to write")],
    warehouses: Annotated[int, typer.Option(min=1, help="number of warehouses")] = 60,
    start: Annotated[str, typer.Option(metavar="DATE", help="first day YYYY-MM-DD")] = "2023-01-02",
    days: Annotated[int, typer.Option(min=1, help="number of days of drops")] = 1096,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same network")] = 0,
    faults: Annotated[bool, typer.Option("--faults/--no-faults", help="inject data faults")] = False,
    anomalies: Annotated[bool, typer.Option("--anomalies/--no-anomalies", help="inject known root causes (_truth/anomalies.csv)")] = False,
) -> None:
    """Generate a sample European network: daily landing drops plus ground truth in _truth/."""

    emit(run(lambda: generate_network(str(out_dir), warehouses, parse_date(start), days, seed, faults, anomalies)))


@app.command(help=INGEST_HELP)
def ingest(
    date: Annotated[str | None, typer.Option("--date", metavar="DATE", help="one day YYYY-MM-DD")] = None,
    from_: Annotated[str | None, typer.Option("--from", metavar="DATE", help="first day of a backfill YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option("--to", metavar="DATE", help="last day of a backfill YYYY-MM-DD (inclusive)")] = None,
    validate: Annotated[bool, typer.Option("--validate/--no-validate", help="validate with GX after ingest (without: the days stay staged, not yet bronze)")] = True,
    sweep: Annotated[bool, typer.Option("--sweep/--no-sweep", help="re-ingest earlier days (lookback_days) "
                                        "whose landing files changed since (restatements)")] = True,
    workers: Annotated[int | None, typer.Option(
        min=0, help="a backfill's partitions on N Ray actors (0: one per Ray CPU; ray.address for a "
        "cluster; same files as 1); default: the intake_workers setting")] = None,
    config: ConfigOpt = None,
) -> None:

    settings = settings_from(config, **({} if workers is None else {"intake_workers": workers}))
    days = _days(date, from_, to, settings.max_backfill_days)
    results = run(lambda: run_ingest(settings, days, validate=validate, sweep=sweep))
    emit(results)
    raise typer.Exit(max((r["exit_code"] for r in results), default=0))


@app.command("purge-landing", help=stage("purge_landing").help + " A day with files not yet ingested is kept and listed.")
def purge_landing_cmd(
    as_of: Annotated[str, typer.Option("--as-of", metavar="DATE", help="the run's date: days more than "
                                       "landing_retention_days before it are purged")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be deleted, delete nothing")] = False,
    config: ConfigOpt = None,
) -> None:
    settings = settings_from(config)
    emit(run(lambda: stage("purge_landing").run(settings, parse_date(as_of, "--as-of"), dry_run=dry_run)))


@app.command(help=stage("validate").help + " Here: every source of the day (reference snapshots first), "
             "its live partition validated again and kept when it no longer passes (exit 0 / 1 warnings / 2).")
def validate(
    date: Annotated[str, typer.Option("--date", metavar="DATE", help="day YYYY-MM-DD")],
    config: ConfigOpt = None,
) -> None:

    settings = settings_from(config)
    summary = run(lambda: run_validate(settings, parse_date(date, "--date")))
    emit(summary)
    raise typer.Exit(summary["exit_code"])


def _days(date: str | None, start: str | None, end: str | None, max_days: int) -> list:

    if date and (start or end):
        raise typer.BadParameter("give either --date or --from/--to, not both")
    if date:
        return [parse_date(date, "--date")]
    if not (start and end):
        raise typer.BadParameter("give --date DATE or both --from DATE and --to DATE")
    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    if last < first:
        raise typer.BadParameter(f"--to {last} is before --from {first}")
    return day_range(first, last, max_days, "--from/--to")
