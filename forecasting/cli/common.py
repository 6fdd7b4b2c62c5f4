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

import forecasting
from forecasting.cli.summary import render as render_summary
from forecasting.core.config import Settings, load_settings
from forecasting.core.errors import RiskcastError
from forecasting.core.progress import DEFAULT_LOG_FILE, quiet_libraries


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
AsOfOpt = Annotated[str, typer.Option("--as-of", metavar="DATE", help="logical date YYYY-MM-DD")]
OUTPUT = {"json": False}  # set by the app callback's --json
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
    """A short readable summary on a terminal; with ``--json``, or when the output is piped
    (logs, Ray Jobs and the DAGs parse the last line), the summary as one JSON line."""
    data = summary.to_dict() if hasattr(summary, "to_dict") else summary
    text = json.dumps(data, default=str, sort_keys=True)
    if OUTPUT["json"] or not out.is_terminal:
        print(text, flush=True)
    else:
        out.print(render_summary(json.loads(text)), highlight=False)


def _version(value: bool) -> None:
    if value:
        print(f"riskcast {forecasting.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    json_output: Annotated[
        bool, typer.Option("--json", help="print each result as one JSON object (the default when piped)")
    ] = False,
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", metavar="PATH", help=f"debug log of every library (default {DEFAULT_LOG_FILE})"),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """riskcast: theft and loss risk forecasts and reserves, one command per stage.

    Dates are YYYY-MM-DD. Library logs (GX, Ray, Lightning) go to the debug log file, not
    the terminal; warnings and errors of riskcast itself are shown.
    """
    OUTPUT["json"] = json_output
    quiet_libraries(log_file or DEFAULT_LOG_FILE)
