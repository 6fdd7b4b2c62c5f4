"""A rich progress bar on stderr for multi-step work (files of a drop, days of a backfill).

Nested uses share one display: rich allows only one live display at a time, so an inner
task is added to the bar that is already showing instead of opening a second one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

_ACTIVE: ContextVar[Any] = ContextVar("riskcast_progress", default=None)


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
