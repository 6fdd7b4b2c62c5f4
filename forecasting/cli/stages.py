"""Commands of the model stages (audit, panel, validate-panel, train, forecast, backtest) and ``stages``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forecasting.backtest.run import BacktestOptions, backtest_cli
from forecasting.cli.common import AsOfOpt, ConfigOpt, UngatedOpt, app, emit, run, settings_from
from forecasting.core.config import with_ray_overrides
from forecasting.core.lake import parse_date
from forecasting.stages import STAGES, markdown_table, stage


@app.command(help=stage("audit").help)
def audit(as_of: AsOfOpt, config: ConfigOpt = None) -> None:

    settings = settings_from(config)
    emit(run(lambda: stage("audit").run(settings, parse_date(as_of, "--as-of"))))


@app.command(help=stage("panel").help)
def panel(as_of: AsOfOpt, config: ConfigOpt = None) -> None:

    settings = settings_from(config)
    emit(run(lambda: stage("panel").run(settings, parse_date(as_of, "--as-of"))))


@app.command("validate-panel", help=stage("validate_panel").help)
def validate_panel(as_of: AsOfOpt, config: ConfigOpt = None) -> None:

    settings = settings_from(config)
    emit(run(lambda: stage("validate_panel").run(settings, parse_date(as_of, "--as-of"))))


@app.command(help=stage("train").help)
def train(
    as_of: AsOfOpt,
    workers: Annotated[int | None, typer.Option(min=1, help="Ray Train workers")] = None,
    gpu: Annotated[
        bool | None, typer.Option("--gpu/--no-gpu", help="one GPU per worker (default: the ray.use_gpu setting)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="retrain even if this version exists")] = False,
    no_record: Annotated[bool, typer.Option(
        "--no-record", help="do not record the artefacts' digests in the reserves database (a Ray "
        "Job: the Airflow task records the digests this command prints)")] = False,  # fmt: skip
    config: ConfigOpt = None,
) -> None:

    settings = with_ray_overrides(settings_from(config), workers, gpu)
    day = parse_date(as_of, "--as-of")
    emit(run(lambda: stage("train").run(settings, day, force=force, record=not no_record)))


@app.command(help=stage("forecast").help)
def forecast(
    as_of: AsOfOpt,
    model_version: Annotated[str, typer.Option("--model-version", help="registered model version, or latest")] = "latest",
    allow_ungated: UngatedOpt = False,
    config: ConfigOpt = None,
) -> None:

    settings = settings_from(config)
    day = parse_date(as_of, "--as-of")
    emit(run(lambda: stage("forecast").run(settings, day, model_version, allow_ungated=allow_ungated)))


@app.command(help=stage("backtest").help)
def backtest(
    out_dir: Annotated[Path | None, typer.Option("--out", help="output folder")] = None,
    panel_path: Annotated[Path | None, typer.Option("--panel", help="long CSV/Parquet panel")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="DATE", help="the lake panel's date YYYY-MM-DD")] = None,
    freq: Annotated[str | None, typer.Option("--freq", help="period of the panel: D, W or M (default: the settings' freq)")] = None,
    horizon: Annotated[int | None, typer.Option(min=1, help="periods ahead per window (default: settings)")] = None,
    windows: Annotated[int | None, typer.Option(min=1, help="evaluated rolling-origin windows (default: settings)")] = None,
    id_col: Annotated[str, typer.Option("--id-col", help="series id column of --panel")] = "unique_id",
    time_col: Annotated[str, typer.Option("--time-col", help="period column of --panel")] = "ds",
    target_col: Annotated[str, typer.Option("--target-col", help="count column of --panel")] = "y",
    static_real: Annotated[list[str] | None, typer.Option("--static-real", help="static numeric covariate column (repeatable)")] = None,
    static_cat: Annotated[list[str] | None, typer.Option("--static-cat", help="static categorical covariate column (repeatable)")] = None,
    dynamic_real: Annotated[list[str] | None, typer.Option("--dynamic-real", help="future-known numeric covariate column (repeatable)")] = None,
    cold_start_share: Annotated[float, typer.Option("--cold-start-share", min=0, max=0.9, help="share of series held out as cold starts")] = 0.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    workers: Annotated[int | None, typer.Option(
        min=0, help="windows at once as Ray tasks: 1 in process, 0 as many as Ray's CPUs allow "
        "(default: the backtest_workers setting)")] = None,
    config: ConfigOpt = None,
) -> None:
    settings = settings_from(config, **({} if workers is None else {"backtest_workers": workers}))
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
    emit(run(lambda: backtest_cli(settings, opts)))


@app.command("stages")
def list_stages(
    markdown: Annotated[bool, typer.Option("--markdown", help="the stage table of docs/architecture.md")] = False,
) -> None:
    """Every stage: its command and DAG task, the function both run, what it reads and writes."""

    if markdown:
        print(markdown_table())
        return
    emit({s.name: {"dag": s.dag, "task": s.task, "function": s.function(), "reads": list(s.reads),
                   "writes": list(s.writes), "help": s.help} for s in STAGES})
