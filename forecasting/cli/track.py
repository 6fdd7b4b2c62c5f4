"""Command of the track record: score the published reserves whose weeks have happened."""

from __future__ import annotations

from forecasting.cli.common import AsOfOpt, ConfigOpt, app, emit, run, settings_from
from forecasting.core.lake import parse_date
from forecasting.reserves.track.stage import track_record


@app.command()
def track(as_of: AsOfOpt, config: ConfigOpt = None) -> None:
    """Score published P50/P90/P95 against realised incidents and loss (reserves_track_record)."""

    settings = settings_from(config)
    emit(run(lambda: track_record(settings, parse_date(as_of, "--as-of"))))
