"""Commands of the intake stage: the sample network, ingest, validate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli.common import ConfigOpt, app, emit, run, settings_from
from forecasting.core.lake import day_range, parse_date
from forecasting.demo.generate import generate_network
from forecasting.ingest.retention import purge_landing
from forecasting.reserves.restatements import sweep_and_record
from forecasting.validation.runner import ingest_dates, validate_date


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


@app.command()
def ingest(
    date: Annotated[str | None, typer.Option("--date", metavar="DATE", help="one day YYYY-MM-DD")] = None,
    from_: Annotated[str | None, typer.Option("--from", metavar="DATE", help="first day of a backfill YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option("--to", metavar="DATE", help="last day of a backfill YYYY-MM-DD (inclusive)")] = None,
    validate: Annotated[bool, typer.Option("--validate/--no-validate", help="validate with GX after ingest")] = True,
    sweep: Annotated[bool, typer.Option("--sweep/--no-sweep", help="re-ingest earlier days (lookback_days) "
                                        "whose landing files changed since (restatements)")] = True,
    workers: Annotated[int | None, typer.Option(
        min=0, help="a backfill's partitions on N Ray actors (0: one per Ray CPU; ray.address for a "
        "cluster; same files as 1); default: the intake_workers setting")] = None,
    config: ConfigOpt = None,
) -> None:
    """Ingest (and by default validate) the landing drop of a day or a range of days, then
    sweep the days before it for late, amended or removed files (the last day's ``sweep``)."""

    settings = settings_from(config, **({} if workers is None else {"intake_workers": workers}))
    days = _days(date, from_, to, settings.max_backfill_days)
    results = run(lambda: ingest_dates(settings, days, validate=validate))
    if sweep and validate and settings.lookback_days:
        results[-1]["sweep"] = run(lambda: sweep_and_record(settings, days))
        results[-1]["exit_code"] = max(results[-1].get("exit_code", 0), results[-1]["sweep"]["exit_code"])
    emit(results)
    raise typer.Exit(max((r.get("exit_code", 0) for r in results), default=0))


@app.command("purge-landing")
def purge_landing_cmd(
    as_of: Annotated[str, typer.Option("--as-of", metavar="DATE", help="the run's date: days more than "
                                       "landing_retention_days before it are purged")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be deleted, delete nothing")] = False,
    config: ConfigOpt = None,
) -> None:
    """Delete raw landing files past landing_retention_days once their day is ingested and
    validated (bronze is never touched); a day with files not yet ingested is kept and listed."""

    settings = settings_from(config)
    emit(run(lambda: purge_landing(settings, parse_date(as_of, "--as-of"), dry_run=dry_run)))


@app.command()
def validate(
    date: Annotated[str, typer.Option("--date", metavar="DATE", help="day YYYY-MM-DD")],
    config: ConfigOpt = None,
) -> None:
    """Validate the day's bronze partitions with Great Expectations (exit 0 / 1 warnings / 2)."""

    settings = settings_from(config)
    summary = run(lambda: validate_date(settings, parse_date(date, "--date"), alert=True))
    emit(summary)
    raise typer.Exit(summary.exit_code)


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
