"""The ``riskcast`` command line: one command per stage, each a thin call into the library.

Commands live in one module per stage group (``intake``, ``stages``, ``reserves``); each
registers itself on the one Typer ``app`` of ``common``. Exit codes: 0 success, 1
warnings only (validate), 2 a riskcast error (bad input, contract broken, gate failed).
"""

# Registration order is the order `riskcast --help` lists the commands: the data flow.
from forecasting.cli import intake  # noqa: I001
from forecasting.cli import stages
from forecasting.cli import reserves
from forecasting.cli import explain
from forecasting.cli import track
from forecasting.cli.common import app

__all__ = ["app", "explain", "intake", "reserves", "stages", "track"]
