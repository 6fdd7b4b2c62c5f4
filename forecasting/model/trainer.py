"""The Lightning side of a fit, shared by the in-process path and every Ray Train worker.

Transformation, module and loaders come from the estimator's public ``create_*`` hooks;
the callbacks add what GluonTS leaves out: a divergence guard (NaN/inf loss stops the
fit on every rank and is reported, instead of checkpointing garbage), early stopping on
the held-out window and, in process, keeping the best weights in memory.
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from functools import cache
from types import SimpleNamespace
from typing import Any

from forecasting.core.progress import progress_task
from forecasting.model.estimator import build_estimator
from forecasting.model.quiet import nan_loss_not_raise, quiet, torch_threads

MONITOR_VAL = "val_loss"
MONITOR_TRAIN = "train_loss"


def monitor_metric(has_validation: bool) -> str:
    return MONITOR_VAL if has_validation else MONITOR_TRAIN


def make_loaders(estimator, module, train_entries: list[dict], val_entries: list[dict]):
    """(train loader, validation loader or None) over transformed, cached entries.

    The training loader is GluonTS' cyclic one: ``num_batches_per_epoch`` batches of
    randomly sampled windows; the validation loader yields the last window of each
    validation series once.
    """
    from gluonts.env import env
    from gluonts.itertools import Cached

    transformation = estimator.create_transformation()
    # An entry that yields no training window would spin the cyclic loader forever;
    # GluonTS raises after this many idle transformations instead.
    with env._let(max_idle_transforms=max(len(train_entries), 100)):
        train_data = Cached(transformation.apply(train_entries, is_train=True))
        train_loader = estimator.create_training_data_loader(train_data, module)
    val_loader = None
    if val_entries:
        val_data = Cached(transformation.apply(val_entries, is_train=True))
        val_loader = estimator.create_validation_data_loader(val_data, module)
    return train_loader, val_loader


def trainer_kwargs(config: dict[str, Any], callbacks: list, **extra: Any) -> dict[str, Any]:
    """``lightning.pytorch.Trainer`` arguments common to both paths (no logger, no bars)."""
    return {
        "max_epochs": config["max_epochs"],
        "gradient_clip_val": config["gradient_clip_val"],
        "callbacks": [*callbacks, callback_types().EpochProgress()],
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        **extra,
    }


@cache
def callback_types() -> SimpleNamespace:
    """The Lightning callback classes (``EpochProgress``, ``EpochGuard``, ``BestWeights``),
    defined on first use: lightning is a heavy import (~4 s), and this module is on the
    import path of every command through ``fit_model``."""
    import lightning.pytorch as pl

    class EpochProgress(pl.Callback):
        """A "training epochs" bar (``forecasting.core.progress``) on rank 0; Lightning's own bars
        stay off (they print a line per batch into logs)."""

        def __init__(self) -> None:
            self._task: Any = None
            self._advance: Any = None

        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            if trainer.global_rank == 0 and trainer.max_epochs:
                self._task = progress_task("training epochs", int(trainer.max_epochs))
                self._advance = self._task.__enter__()

        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            if self._advance is not None:
                self._advance()

        def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            if self._task is not None:
                self._task.__exit__(None, None, None)
                self._task = self._advance = None


    class EpochGuard(pl.Callback):
        """Stops on a non-finite loss (all ranks agree) and logs run facts with the epoch.

        Logged per epoch (so Ray's report callback, placed after this one, sends them):
        ``diverged`` (0/1), ``resumed_from_epoch`` (the epoch this attempt started at, 0 if
        fresh), ``train_seconds`` (this attempt's fit time so far) and ``windows`` (training
        windows seen by this rank in this attempt).
        """

        def __init__(self, batch_size: int) -> None:
            self.batch_size = batch_size
            self.diverged_epoch: int | None = None
            self.start_epoch = 0
            self.batches = 0
            self._t0 = 0.0

        def on_train_start(self, trainer, pl_module) -> None:
            self.start_epoch = trainer.current_epoch
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self.batches += 1

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            metrics = trainer.callback_metrics
            losses = [float(metrics[k]) for k in (MONITOR_TRAIN, MONITOR_VAL) if k in metrics]
            bad = not losses or not all(math.isfinite(v) for v in losses)
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
            if bad:
                self.diverged_epoch = trainer.current_epoch
                trainer.should_stop = True
            pl_module.log("diverged", float(bad))
            pl_module.log("resumed_from_epoch", float(self.start_epoch))
            pl_module.log("train_seconds", time.perf_counter() - self._t0)
            pl_module.log("windows", float(self.batches * self.batch_size))


    class BestWeights(pl.Callback):
        """Keeps a CPU copy of the weights of the epoch with the lowest finite ``monitor``."""

        def __init__(self, monitor: str) -> None:
            self.monitor = monitor
            self.best: float = math.inf
            self.best_epoch: int | None = None
            self.state_dict: dict | None = None
            self.history: list[dict[str, float]] = []

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            metrics["epoch"] = trainer.current_epoch
            self.history.append(metrics)
            value = metrics.get(self.monitor, math.nan)
            if math.isfinite(value) and value < self.best:
                self.best, self.best_epoch = value, trainer.current_epoch
                self.state_dict = copy.deepcopy({k: v.cpu() for k, v in pl_module.state_dict().items()})

    return SimpleNamespace(EpochProgress=EpochProgress, EpochGuard=EpochGuard, BestWeights=BestWeights)


def early_stopping(config: dict[str, Any], monitor: str) -> list:
    """Early stopping on ``monitor``; none for a fixed-length run (``early_stop`` False, a refit)."""
    if not config.get("early_stop", True):
        return []
    import lightning.pytorch as pl

    # check_finite: a NaN monitor also stops (the guard then reports the divergence)
    return [pl.callbacks.EarlyStopping(
        monitor=monitor, mode="min", patience=config["patience"], check_finite=True
    )]


def finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fit_local(
    config: dict[str, Any], train_entries: list[dict], val_entries: list[dict], *, use_gpu: bool = False,
    init: dict | None = None,
) -> tuple[dict, dict[str, Any]]:
    """Fit in this process; return (best weights, metrics).

    Same estimator, loaders, clipping and early stopping as a Ray worker; the best epoch's
    weights (lowest validation loss, else training loss) are kept in memory. ``init``: a
    state dict to start from (a warm start); tensors whose name and shape match are loaded.
    """

    import lightning.pytorch as pl

    pl.seed_everything(config["seed"], workers=True, verbose=False)
    estimator = build_estimator(config)
    module = estimator.create_lightning_module()
    loaded = load_matching(module, init) if init is not None else None
    train_loader, val_loader = make_loaders(estimator, module, train_entries, val_entries)
    monitor = monitor_metric(val_loader is not None)
    kinds = callback_types()
    guard, best = kinds.EpochGuard(config["batch_size"]), kinds.BestWeights(monitor)
    with (
        quiet(),
        nan_loss_not_raise(),
        torch_threads(config.get("num_threads", 1)),
        tempfile.TemporaryDirectory(prefix="riskcast-fit-") as tmp,
    ):
        trainer = pl.Trainer(**trainer_kwargs(
            config, [guard, best, *early_stopping(config, monitor)],
            accelerator="gpu" if use_gpu else "cpu", devices=1, default_root_dir=tmp,
        ))
        trainer.fit(module, train_loader, val_loader)
    last = best.history[-1] if best.history else {}
    metrics = {
        "epochs": len(best.history),
        "best_epoch": best.best_epoch,
        "monitor": monitor,
        MONITOR_TRAIN: last.get(MONITOR_TRAIN),
        MONITOR_VAL: last.get(MONITOR_VAL),
        "best_" + monitor: best.best if best.state_dict is not None else None,
        "diverged_epoch": guard.diverged_epoch,
        "windows": guard.batches * config["batch_size"],
        "train_seconds": last.get("train_seconds"),
        "workers": 0,
        "resumed_from_epoch": 0,
    }
    if loaded is not None:
        metrics["warm_start"] = loaded
    return best.state_dict, metrics


def load_matching(module, state: dict) -> dict[str, int]:
    """Load the tensors of ``state`` whose name and shape match ``module``'s (a new category
    or a dropped lag changes a few shapes; those keep their fresh initialisation)."""
    own = module.state_dict()
    kept = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    module.load_state_dict(kept, strict=False)
    return {"loaded": len(kept), "of": len(own)}
