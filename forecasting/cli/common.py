"""What every ``riskcast`` command shares: the Typer app, consoles, options, error handling.

Exit codes: 0 success, 1 warnings only (validate), 2 a riskcast error (bad input,
contract broken, gate failed) with its message on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer._click.exceptions import ClickException  # typer 0.29 vendors Click
from typer.core import TyperGroup

from forecasting.core.config import Settings, load_settings
from forecasting.core.errors import RiskcastError


class _OneLineErrors(TyperGroup):
    """Every bad argument, setting, URL or config file: one ``error:`` line and exit 2.

    Riskcast errors raised anywhere in a command (settings and dates are parsed before
    ``run``) and Click's usage errors end here instead of a traceback or a usage panel.
    """

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except ClickException as exc:
            code = _fail(f"{exc.format_message()} (see riskcast --help)", 2)
        except RiskcastError as exc:
            code = _fail(str(exc), exc.exit_code)
        else:
            code = rv if isinstance(rv, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


def _fail(message: str, code: int) -> int:
    line = escape(" ".join(message.split()))  # one line; brackets in messages are not markup
    err.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
    return code


app = typer.Typer(
    cls=_OneLineErrors,
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
UngatedOpt = Annotated[
    bool,
    typer.Option(
        "--allow-ungated",
        help="go on without a passing calibration gate verdict (audited: the published rows say UNGATED)",
    ),
]


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
