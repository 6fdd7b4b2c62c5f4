"""What every ``riskcast`` command shares: the Typer app, consoles, options, error handling.

Exit codes: 0 success, 1 warnings only (validate), 2 a riskcast error (bad input,
contract broken, gate failed) with its message on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from forecasting.core.config import Settings, load_settings
from forecasting.core.errors import RiskcastError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="riskcast: theft and loss risk forecasts and reserves, one command per stage.",
)
err = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML settings file (else RISKCAST_CONFIG)")
]
AsOfOpt = Annotated[str, typer.Option("--as-of", help="logical date YYYY-MM-DD")]


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    """Settings: defaults < YAML file < ``RISKCAST_*`` env < ``overrides``."""
    return load_settings(config, **overrides)


def run(fn: Callable[[], Any]) -> Any:
    """Call ``fn``; print riskcast errors (never a traceback) and exit with their code."""
    try:
        return fn()
    except RiskcastError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def emit(summary: Any) -> None:
    """Pretty JSON on a terminal; one JSON line otherwise (logs, Ray Jobs parse the last)."""
    data = summary.to_dict() if hasattr(summary, "to_dict") else summary
    text = json.dumps(data, default=str, sort_keys=True)
    if out.is_terminal:
        out.print_json(text)
    else:
        print(text, flush=True)
