"""The ``riskcast`` command line: one command per stage, each a thin call into the library.

Exit codes: 0 success, 1 warnings only (validate), 2 a riskcast error (bad input,
contract broken, gate failed) with its message on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from forecasting.backtest.run import BacktestOptions, backtest_cli
from forecasting.core.config import Settings, load_settings, with_ray_overrides
from forecasting.core.errors import RiskcastError
from forecasting.core.lake import parse_date
from forecasting.demo.generate import generate_network
from forecasting.forecast import forecast_panel
from forecasting.intake.runner import ingest_dates, validate_date
from forecasting.overview import SHOWN_COLUMNS, describe_run
from forecasting.panel.audit import run_audit
from forecasting.panel.build import build_panel
from forecasting.reserves.compute import compute_reserves
from forecasting.reserves.escalation import escalate_reserves
from forecasting.reserves.publish import publish_reserves
from forecasting.train import train_model

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
err = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML settings file (else RISKCAST_CONFIG)")
]
AsOfOpt = Annotated[str, typer.Option("--as-of", help="logical date YYYY-MM-DD")]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, **overrides)


def _run(fn: Callable[[], Any]) -> Any:
    """Call ``fn``; print riskcast errors (never a traceback) and exit with their code."""
    try:
        return fn()
    except RiskcastError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def _print(summary: Any) -> None:
    """Pretty JSON on a terminal; one JSON line otherwise (logs, Ray Jobs parse the last)."""
    data = summary.to_dict() if hasattr(summary, "to_dict") else summary
    text = json.dumps(data, default=str, sort_keys=True)
    if out.is_terminal:
        out.print_json(text)
    else:
        print(text, flush=True)


@app.command("demo-data")
def demo_data(
    out_dir: Annotated[Path, typer.Option("--out", help="landing folder to write")],
    warehouses: Annotated[int, typer.Option(min=1)] = 60,
    start: Annotated[str, typer.Option(help="first day YYYY-MM-DD")] = "2023-01-02",
    days: Annotated[int, typer.Option(min=1)] = 1096,
    seed: int = 0,
    faults: Annotated[bool, typer.Option("--faults/--no-faults", help="inject data faults")] = False,
) -> None:
    """Generate a sample European network: daily landing drops plus ground truth in _truth/."""

    _print(_run(lambda: generate_network(str(out_dir), warehouses, parse_date(start), days, seed, faults)))


@app.command()
def ingest(
    date: Annotated[str | None, typer.Option("--date", help="one day YYYY-MM-DD")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="first day of a backfill")] = None,
    to: Annotated[str | None, typer.Option("--to", help="last day of a backfill")] = None,
    validate: Annotated[bool, typer.Option("--validate/--no-validate")] = True,
    config: ConfigOpt = None,
) -> None:
    """Ingest (and by default validate) the landing drop of a day or a range of days."""

    settings = _settings(config)
    days = _days(date, from_, to)
    results = _run(lambda: ingest_dates(settings, days, validate=validate))
    _print(results)
    raise typer.Exit(max((r.get("exit_code", 0) for r in results), default=0))


@app.command()
def validate(
    date: Annotated[str, typer.Option("--date", help="day YYYY-MM-DD")],
    config: ConfigOpt = None,
) -> None:
    """Validate the day's bronze partitions with Great Expectations (exit 0 / 1 warnings / 2)."""

    settings = _settings(config)
    summary = _run(lambda: validate_date(settings, parse_date(date, "--date"), alert=True))
    _print(summary)
    raise typer.Exit(summary.exit_code)


@app.command()
def audit(as_of: AsOfOpt, config: ConfigOpt = None) -> None:
    """Positive-unlabeled audit: reporting rate per warehouse and region."""

    settings = _settings(config)
    _print(_run(lambda: run_audit(settings, parse_date(as_of, "--as-of"))))


@app.command()
def panel(as_of: AsOfOpt, config: ConfigOpt = None) -> None:
    """Build the model panel (targets, static and future-known covariates) and validate it."""

    settings = _settings(config)
    _print(_run(lambda: build_panel(settings, parse_date(as_of, "--as-of"))))


@app.command()
def train(
    as_of: AsOfOpt,
    workers: Annotated[int | None, typer.Option(min=1, help="Ray Train workers")] = None,
    gpu: Annotated[
        bool | None, typer.Option("--gpu/--no-gpu", help="one GPU per worker (default: the ray.use_gpu setting)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="retrain even if this version exists")] = False,
    config: ConfigOpt = None,
) -> None:
    """Train the global DeepAR (negative binomial) as a Ray Train job and register it."""

    settings = with_ray_overrides(_settings(config), workers, gpu)
    _print(_run(lambda: train_model(settings, parse_date(as_of, "--as-of"), force=force)))


@app.command()
def forecast(
    as_of: AsOfOpt,
    model_version: Annotated[str, typer.Option("--model-version")] = "latest",
    config: ConfigOpt = None,
) -> None:
    """Forecast sample paths and P50/P90/P95 for every warehouse from a registered model."""

    settings = _settings(config)
    _print(_run(lambda: forecast_panel(settings, parse_date(as_of, "--as-of"), model_version)))


@app.command()
def backtest(
    out_dir: Annotated[Path | None, typer.Option("--out", help="output folder")] = None,
    panel_path: Annotated[Path | None, typer.Option("--panel", help="long CSV/Parquet panel")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="lake panel's date")] = None,
    freq: Annotated[str | None, typer.Option("--freq", help="D, W or M")] = None,
    horizon: Annotated[int | None, typer.Option(min=1)] = None,
    windows: Annotated[int | None, typer.Option(min=1)] = None,
    id_col: Annotated[str, typer.Option("--id-col")] = "unique_id",
    time_col: Annotated[str, typer.Option("--time-col")] = "ds",
    target_col: Annotated[str, typer.Option("--target-col")] = "y",
    static_real: Annotated[list[str] | None, typer.Option("--static-real")] = None,
    static_cat: Annotated[list[str] | None, typer.Option("--static-cat")] = None,
    dynamic_real: Annotated[list[str] | None, typer.Option("--dynamic-real")] = None,
    cold_start_share: Annotated[float, typer.Option("--cold-start-share", min=0, max=0.9)] = 0.0,
    seed: int = 0,
    config: ConfigOpt = None,
) -> None:
    """Rolling-origin backtest against baselines, calibration and gate; any panel or the lake's."""

    settings = _settings(config)
    opts = BacktestOptions(
        panel_path=str(panel_path) if panel_path else None,
        as_of=parse_date(as_of, "--as-of") if as_of else None,
        out_dir=str(out_dir) if out_dir else None,
        freq=freq,
        horizon=horizon,
        windows=windows,
        id_col=id_col,
        time_col=time_col,
        target_col=target_col,
        static_real=tuple(static_real or ()),
        static_cat=tuple(static_cat or ()),
        dynamic_real=tuple(dynamic_real or ()),
        cold_start_share=cold_start_share,
        seed=seed,
    )
    _print(_run(lambda: backtest_cli(settings, opts)))


@app.command()
def reserves(as_of: AsOfOpt, config: ConfigOpt = None) -> None:
    """Compound incident paths x loss severity into reserves in EUR (P50/P90/P95)."""

    settings = _settings(config)
    _print(_run(lambda: compute_reserves(settings, parse_date(as_of, "--as-of"))))


@app.command()
def publish(
    as_of: AsOfOpt,
    run_id: Annotated[str | None, typer.Option("--run-id")] = None,
    config: ConfigOpt = None,
) -> None:
    """Publish the day's reserves to the reserves database in one transaction."""

    settings = _settings(config)
    _print(_run(lambda: publish_reserves(settings, parse_date(as_of, "--as-of"), run_id)))


@app.command()
def escalate(as_of: AsOfOpt, config: ConfigOpt = None) -> None:
    """Send escalation alerts for sites whose P95 crosses their threshold."""

    settings = _settings(config)
    _print(_run(lambda: escalate_reserves(settings, parse_date(as_of, "--as-of"))))


@app.command()
def show(
    as_of: AsOfOpt,
    rows: Annotated[int, typer.Option(min=1, help="rows of reserves_latest to print")] = 15,
    config: ConfigOpt = None,
) -> None:
    """Print the published reserves (reserves_latest) and where the run's artefacts are."""


    settings = _settings(config)
    view = _run(lambda: describe_run(settings, parse_date(as_of, "--as-of")))
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


def _days(date: str | None, start: str | None, end: str | None) -> list:

    if date and (start or end):
        raise typer.BadParameter("give either --date or --from/--to, not both")
    if date:
        return [parse_date(date, "--date")]
    if not (start and end):
        raise typer.BadParameter("give --date DATE or both --from DATE and --to DATE")
    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    if last < first:
        raise typer.BadParameter(f"--to {last} is before --from {first}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
