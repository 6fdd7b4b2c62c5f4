"""What a person at the terminal sees of long work: progress bars, and no library noise.

``progress_task``: a rich progress bar on stderr for multi-step work (files of a drop, days
of a backfill, backtest windows). Nested uses share one display: rich allows only one live
display at a time, so an inner task is added to the bar already showing.

``quiet_libraries``: GX, Ray, Lightning, torch and Python warnings log to a debug file
instead of the terminal; riskcast's own warnings and errors still reach stderr.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")
_ACTIVE: ContextVar[Any] = ContextVar("riskcast_progress", default=None)
DEFAULT_LOG_FILE = Path(tempfile.gettempdir()) / "riskcast" / "debug.log"
NOISY_LOGGERS = (
    "great_expectations", "ray", "lightning", "lightning.pytorch", "lightning_fabric",
    "pytorch_lightning", "torch", "gluonts", "py.warnings", "fsspec", "s3fs", "botocore",
    "urllib3", "matplotlib", "filelock",
)  # fmt: skip
_HANDLER_NAME, _CONSOLE_NAME, _LIBS_NAME = (
    "riskcast-debug-file",
    "riskcast-console",
    "riskcast-libraries",
)
_HANDLERS: dict[str, logging.FileHandler] = {}


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def libraries_quiet() -> bool:
    """Whether ``quiet_libraries`` is in force in this process (the CLI at a terminal or not)."""
    return any(h.get_name() == _HANDLER_NAME for h in logging.getLogger().handlers)


def isolate_libraries(log_file: Path) -> Path:
    """Library loggers (``NOISY_LOGGERS``) write to ``log_file`` only: their records no longer
    reach the root logger's handlers (the terminal, an Airflow task log). Python warnings too.
    Idempotent per file; returns it."""
    handler = _file_handler(log_file, _LIBS_NAME)
    for name in NOISY_LOGGERS:
        _to_file_only(logging.getLogger(name), handler)
    for name, lib in list(logging.Logger.manager.loggerDict.items()):
        # a library's own sub-logger that stops propagation (Ray Train's, Ray Data's) would
        # bypass the handler above: it gets the file too, and loses its terminal handlers
        if name.startswith(NOISY_LOGGERS) and isinstance(lib, logging.Logger) and not lib.propagate:
            _to_file_only(lib, handler)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    _enable_own_loggers()
    return log_file


def _to_file_only(lib: logging.Logger, handler: logging.Handler) -> None:
    """``lib`` writes to ``handler`` (a file) and no longer to a terminal or to the root."""
    lib.handlers = [
        h for h in lib.handlers
        if not (isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler))
        and h.get_name() != _LIBS_NAME
    ]
    lib.addHandler(handler)
    lib.propagate = False


def _enable_own_loggers() -> None:
    """Re-enable riskcast's and the libraries' loggers: a logging ``dictConfig`` applied after
    they were created (Airflow's, with ``disable_existing_loggers``) would otherwise silence
    riskcast's lines for good and keep the libraries' out of their debug file."""
    prefixes = ("forecasting", "riskcast_airflow", *NOISY_LOGGERS)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(prefixes) and isinstance(logger, logging.Logger):
            logger.disabled = False


def quiet_libraries(
    log_file: Path = DEFAULT_LOG_FILE, console_level: int = logging.WARNING
) -> Path:
    """For the CLI: everything (riskcast at INFO, libraries) to ``log_file``; on stderr only
    riskcast's records from ``console_level`` up. Calling again replaces the handlers."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() in (_HANDLER_NAME, _CONSOLE_NAME)]:
        root.removeHandler(handler)  # a second call (another log file) replaces the first
        handler.close()
    isolate_libraries(log_file)
    to_console = _Stderr()
    to_console.set_name(_CONSOLE_NAME)
    to_console.setLevel(console_level)
    to_console.addFilter(lambda record: not record.name.startswith(NOISY_LOGGERS))
    to_console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(_file_handler(log_file, _HANDLER_NAME))
    root.addHandler(to_console)
    root.setLevel(logging.INFO)
    return log_file


def _file_handler(log_file: Path, name: str) -> logging.Handler:
    """One handler per (name, file): a new file replaces the old handler everywhere."""
    old = _HANDLERS.get(name)
    if old is not None and old.baseFilename == str(log_file.resolve()):
        return old
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.set_name(name)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if old is not None:
        for lib in NOISY_LOGGERS:
            logging.getLogger(lib).removeHandler(old)
        old.close()
    _HANDLERS[name] = handler
    return handler


@contextmanager
def progress_task(label: str, total: int) -> Iterator[Callable[[], None]]:
    """Yield an ``advance()`` callable; a bar is shown only when ``total`` > 1."""
    if total <= 1:
        yield lambda: None
        return
    active = _ACTIVE.get()
    if active is not None:
        task = active.add_task(label, total=total)
        try:
            yield lambda: active.advance(task)
        finally:
            active.remove_task(task)
        return

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    token = _ACTIVE.set(bar)
    try:
        with bar:
            task = bar.add_task(label, total=total)
            yield lambda: bar.advance(task)
    finally:
        _ACTIVE.reset(token)


def track(items: Iterable[T], label: str) -> Iterator[T]:
    """Yield ``items`` while a progress bar (see ``progress_task``) counts them."""
    items = list(items)
    with progress_task(label, len(items)) as advance:
        for item in items:
            yield item
            advance()
