"""Command of the explain stage: root causes of the recent outlier warehouse-weeks."""

from __future__ import annotations

from typing import Annotated

import typer

from forecasting.cli.common import AsOfOpt, ConfigOpt, app, emit, run, settings_from
from forecasting.core.lake import parse_date
from forecasting.explain.stage import ExplainOptions
from forecasting.stages import stage


@app.command(help=stage("explain").help)
def explain(
    as_of: AsOfOpt,
    window: Annotated[int, typer.Option(min=1, help="periods explained (ending a settle week before --as-of)")] = 8,
    min_score: Annotated[float, typer.Option(min=0, help="outlier score that flags a week: -log of its tail probability")] = ExplainOptions.min_score,
    alert: Annotated[bool, typer.Option("--alert/--no-alert", help="send the root-cause alerts")] = True,
    config: ConfigOpt = None,
) -> None:

    settings = settings_from(config)
    opts = ExplainOptions(window=window, min_score=min_score, alert=alert)
    emit(run(lambda: stage("explain").run(settings, parse_date(as_of, "--as-of"), opts)))
