"""Quiet, bounded runs of the Lightning / GluonTS stack: warnings, log levels, torch threads.

Used by every fit and predict (in process, on Ray Train workers, in the backtest); kept
apart from ``fitting`` so that the estimator and the fitted model share it without an
import cycle. torch is imported inside the helpers only.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# Known, harmless noise of this stack (GluonTS indexing, Lightning pytree, per-rank
# epoch metrics that are identical on every rank by construction).
_NOISE = (
    ".*non-tuple sequence for multidimensional indexing.*",
    ".*LeafSpec.*",
    ".*sync_dist=True.*",
    ".*does not have many workers.*",
    ".*Using `json`-module for json-handling.*",
    ".*'M' is deprecated and will be removed.*",  # GluonTS parses its 'M' period alias
    ".*no `val_dataloader`. Skipping val loop.*",  # a refit has no validation window
)


_LIGHTNING = ("lightning.pytorch", "lightning.fabric", "lightning")


@contextmanager
def quiet(level: int = logging.WARNING, names: tuple[str, ...] = _LIGHTNING) -> Iterator[None]:
    """Silence Lightning's banners (``names`` below ``level``) and the stack's known warnings
    for a fit or predict. The loggers' levels are restored on exit: a process-wide level
    change would also hide those libraries' warnings from their debug file later."""
    loggers = [logging.getLogger(name) for name in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        with warnings.catch_warnings():
            for pattern in _NOISE:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for lg, lv in zip(loggers, before, strict=True):
            lg.setLevel(lv)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads, then restore the process' setting."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def nan_loss_not_raise() -> Iterator[None]:
    """Let diverged distribution parameters give a NaN loss instead of a ValueError.

    torch validates distribution arguments by default, so a diverged network raises in
    the forward pass of one rank, leaving the other DDP ranks waiting in all-reduce. As a
    NaN loss it reaches ``EpochGuard`` on every rank, which stops all of them together.
    """
    import torch

    previous = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(previous)
