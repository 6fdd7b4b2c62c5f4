"""Command of the track record: score the published reserves whose weeks have happened."""

from __future__ import annotations

from forecasting.cli.common import AsOfOpt, ConfigOpt, app, emit, run, settings_from
from forecasting.core.lake import parse_date
from forecasting.stages import stage


@app.command(help=stage("track").help)
def track(as_of: AsOfOpt, config: ConfigOpt = None) -> None:
    settings = settings_from(config)
    emit(run(lambda: stage("track").run(settings, parse_date(as_of, "--as-of"))))
