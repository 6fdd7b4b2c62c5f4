"""Training stage: one global DeepAR (negative binomial), in process or as a Ray Train job.

``fit_model`` turns a panel into a ``FittedModel`` (the backtest calls it per window);
``train_model`` is the stage (``riskcast train``): read the lake panel, fit with Ray Train
V2 data parallelism, register the model under ``models/<version>/``.

The Ray job: ``TorchTrainer(train_loop_per_worker)`` where every worker takes its shard
of series (``series[rank::world]``), seeds ``seed + rank``, runs ``batches / world``
batches per epoch and fits the GluonTS Lightning module under ``RayDDPStrategy``;
``RayTrainReportCallback`` checkpoints every epoch (``CheckpointConfig(num_to_keep)``),
``FailureConfig(max_failures)`` restarts lost workers from the latest checkpoint, and the
best checkpoint by validation loss becomes the predictor.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import pandas as pd

from forecasting.config import Settings
from forecasting.errors import ConfigError, ModelError
from forecasting.lake import Lake, join
from forecasting.model.fitting import MONITOR_VAL, finite
from forecasting.panel import PanelSpec

_LOCAL_OBJECT_STORE = 512 * 1024**2


@dataclass
class TrainSummary:
    """What ``riskcast train`` prints and Airflow passes on (JSON-able)."""

    as_of: str
    model_version: str
    uri: str
    snapshot_id: str
    series: int
    epochs: int
    best_epoch: int | None
    train_loss: float | None
    val_loss: float | None
    workers: int
    resumed_from_epoch: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_model(settings: Settings, as_of: date) -> TrainSummary:
    """Read the panel of ``as_of``, fit DeepAR as a Ray Train job and register it."""
    from forecasting.model.registry import register_model
    from forecasting.panel import read_panel

    t0 = time.perf_counter()
    df, spec = read_panel(settings, as_of)
    snapshot_id = panel_snapshot_id(settings, as_of)
    fitted = fit_model(df, spec, settings, use_ray=True)
    m = fitted.metrics
    version = register_model(settings, fitted, as_of, snapshot_id, m)
    return TrainSummary(
        as_of=str(as_of),
        model_version=version,
        uri=Lake(settings.lake_uri, settings.aws_conn_id).models(version),
        snapshot_id=snapshot_id,
        series=int(m.get("series", 0)),
        epochs=int(m.get("epochs", 0)),
        best_epoch=m.get("best_epoch"),
        train_loss=m.get("train_loss"),
        val_loss=m.get("val_loss"),
        workers=int(m.get("workers", 0)),
        resumed_from_epoch=int(m.get("resumed_from_epoch", 0)),
        seconds=round(time.perf_counter() - t0, 3),
    )


def fit_model(
    df: pd.DataFrame,
    spec: PanelSpec,
    settings: Settings,
    *,
    seed: int | None = None,
    use_ray: bool = False,
    horizon: int | None = None,
):
    """Fit DeepAR NB on the observed (non-``is_future``) rows of ``df``; a ``FittedModel``.

    ``use_ray`` False fits in this process (backtest windows); True runs the Ray Train
    job of ``settings.ray``. Same network, data and defaults either way. ``seed``
    defaults to ``settings.model.seed``, ``horizon`` to ``settings.horizon``. Raises
    InputError for a panel a count model cannot use and ModelError when training
    diverges (NaN/inf loss) or no series is long enough to train on.
    """
    from forecasting.model.dataset import Encoders, check_panel, history_rows, training_entries
    from forecasting.model.estimator import gluonts_freq, model_config
    from forecasting.model.fitted import FittedModel
    from forecasting.model.fitting import fit_local

    check_panel(df, spec, "training panel")
    h = horizon or settings.horizon
    hist = history_rows(df)
    encoders = Encoders.fit(hist, spec)
    train, val = training_entries(hist, spec, encoders, gluonts_freq(spec.freq), holdout=h)
    n_series = len(train)
    train = [e for e in train if len(e["target"]) >= h]
    if not train:
        raise ModelError(
            f"no series has {h} observed periods to train on ({n_series} series with any): "
            "extend the history or lower the horizon"
        )
    longest = max(len(e["target"]) for e in train + val)
    config = model_config(settings, spec, encoders, horizon=h, longest_series=longest, seed=seed)
    config["use_gpu"] = settings.ray.use_gpu
    train = train + _unseen_copies(train)
    if use_ray:
        state, metrics = _fit_ray(config, train, val, settings)
    else:
        state, metrics = fit_local(config, train, val, use_gpu=settings.ray.use_gpu)
    if metrics.get("diverged_epoch") is not None:
        raise ModelError(
            f"training diverged at epoch {metrics['diverged_epoch']} (train_loss="
            f"{metrics.get('train_loss')}, val_loss={metrics.get('val_loss')}): nothing was "
            "registered; lower model.lr or model.gradient_clip_val, or check the panel for "
            "extreme values"
        )
    if state is None:
        raise ModelError("training produced no epoch with a finite loss: nothing was registered")
    metrics["series"] = n_series
    return FittedModel.from_state_dict(config, spec, encoders, state, metrics)


def panel_snapshot_id(settings: Settings, as_of: date) -> str:
    """The panel's ``snapshot_id`` from its ``summary.json``; ModelError if absent."""
    lake = Lake(settings.lake_uri, settings.aws_conn_id)
    uri = join(lake.stage("panel", as_of), "summary.json")
    snapshot = lake.read_json(uri).get("snapshot_id") if lake.exists(uri) else None
    if not snapshot:
        raise ModelError(f"{uri} has no snapshot_id: rebuild the panel with `riskcast panel`")
    return str(snapshot)


def _unseen_copies(train: list[dict]) -> list[dict]:
    """Every 4th series again with its categories set to 'unseen' (index 0).

    Without these the unseen embedding is never trained and a site in a new region or
    country would forecast from random weights.
    """
    from forecasting.model.dataset import UNSEEN

    return [
        dict(e, item_id=f"{e['item_id']}#unseen", feat_static_cat=e["feat_static_cat"] * 0 + UNSEEN)
        for e in train[::4]
        if "feat_static_cat" in e
    ]


# ---------------------------------------------------------------------------- Ray Train
def start_ray(settings: Settings) -> None:
    """Join ``settings.ray.address`` or ``RAY_ADDRESS``; else start a local Ray."""
    import ray

    if ray.is_initialized():
        return
    address = settings.ray.address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address="local", include_dashboard=False,
                 object_store_memory=_LOCAL_OBJECT_STORE)
    else:
        ray.init(address=address)


def _fit_ray(config: dict, train: list[dict], val: list[dict], settings: Settings):
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from forecasting.model.fitting import monitor_metric

    start_ray(settings)
    if settings.ray.use_gpu and not ray.cluster_resources().get("GPU"):
        raise ConfigError("ray.use_gpu (--gpu) is set but the Ray cluster has no GPU: drop --gpu")
    monitor = monitor_metric(bool(val))
    name = f"riskcast-train-{uuid.uuid4().hex[:12]}"  # V2 resumes a reused name: keep unique
    storage_path, filesystem = _storage(settings)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={**config, "monitor": monitor,
                           "data_ref": ray.put({"train": train, "val": val})},
        scaling_config=ScalingConfig(
            num_workers=settings.ray.num_workers,
            use_gpu=settings.ray.use_gpu,
            resources_per_worker={"CPU": settings.ray.cpus_per_worker},
        ),
        run_config=RunConfig(
            name=name,
            storage_path=storage_path,
            storage_filesystem=filesystem,
            checkpoint_config=CheckpointConfig(
                num_to_keep=settings.ray.checkpoints_to_keep,
                checkpoint_score_attribute=monitor,
                checkpoint_score_order="min",
            ),
            failure_config=FailureConfig(max_failures=settings.ray.max_failures),
        ),
    )
    try:
        result = trainer.fit()
    except Exception as exc:  # noqa: BLE001 - Ray wraps worker errors in several types
        raise ModelError(
            f"Ray Train run {name} failed after {settings.ray.max_failures} restart(s): "
            f"{type(exc).__name__}: {str(exc)[:2000]}"
        ) from exc
    return _best_weights(result, monitor), _ray_metrics(result, monitor, settings)


def _best_weights(result, monitor: str) -> dict | None:
    """Weights of the reported checkpoint with the lowest finite ``monitor``."""
    import torch
    from ray.train.lightning import RayTrainReportCallback

    ranked = [(m[monitor], c) for c, m in result.best_checkpoints or [] if finite(m.get(monitor))]
    if not ranked:
        return None
    checkpoint = min(ranked, key=lambda x: x[0])[1]
    with checkpoint.as_directory() as d:
        path = os.path.join(d, RayTrainReportCallback.CHECKPOINT_NAME)
        return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _ray_metrics(result, monitor: str, settings: Settings) -> dict[str, Any]:
    last = dict(result.metrics or {})
    best = [m for _, m in result.best_checkpoints or [] if finite(m.get(monitor))]
    workers = settings.ray.num_workers
    return {
        "epochs": int(last.get("epoch", -1)) + 1,
        "best_epoch": int(min(best, key=lambda m: m[monitor])["epoch"]) if best else None,
        "monitor": monitor,
        "train_loss": last.get("train_loss"),
        "val_loss": last.get(MONITOR_VAL),
        "diverged_epoch": int(last["epoch"]) if last.get("diverged") else None,
        "windows": int(last.get("windows", 0)) * workers,
        "train_seconds": last.get("train_seconds"),
        "workers": workers,
        "resumed_from_epoch": int(last.get("resumed_from_epoch", 0)),
        "ray_run": result.path,
    }


def _storage(settings: Settings):
    """(storage_path, pyarrow filesystem or None): ``<lake>/ray_results``, S3 via the lake's creds."""
    root = join(settings.lake_uri, "ray_results")
    if "://" not in root or root.startswith("file://"):
        return os.path.abspath(root.removeprefix("file://")), None
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    fs = Lake(settings.lake_uri, settings.aws_conn_id).fs
    return root.split("://", 1)[1], PyFileSystem(FSSpecHandler(fs))


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: its shard of series, its seed, its share of batches, DDP."""
    import lightning.pytorch as pl
    import ray
    import ray.train
    from ray.train.lightning import (
        RayDDPStrategy,
        RayLightningEnvironment,
        RayTrainReportCallback,
        prepare_trainer,
    )

    from forecasting.model.estimator import build_estimator
    from forecasting.model.fitting import (
        EpochGuard,
        early_stopping,
        make_loaders,
        nan_loss_not_raise,
        quiet,
        trainer_kwargs,
    )

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    pl.seed_everything(config["seed"] + rank, workers=True, verbose=False)
    data = ray.get(config["data_ref"])
    series = data["train"]
    # every rank needs windows to draw (an empty shard would stall the cyclic loader)
    shard = series[rank::world] if len(series) >= world else [series[rank % len(series)]]
    estimator = build_estimator(config, num_batches_per_epoch=max(1, config["num_batches_per_epoch"] // world))
    module = estimator.create_lightning_module()
    train_loader, val_loader = make_loaders(estimator, module, shard, data["val"])
    callbacks = [EpochGuard(config["batch_size"]), early_stopping(config, config["monitor"]),
                 RayTrainReportCallback()]
    trainer = prepare_trainer(pl.Trainer(**trainer_kwargs(
        config, callbacks,
        accelerator="gpu" if config["use_gpu"] else "cpu",
        devices="auto",
        strategy=RayDDPStrategy(),
        plugins=[RayLightningEnvironment()],
        use_distributed_sampler=False,
    )))
    checkpoint = ray.train.get_checkpoint()
    with quiet(), nan_loss_not_raise():
        if checkpoint is None:
            trainer.fit(module, train_loader, val_loader)
            return
        with checkpoint.as_directory() as ckpt_dir:  # a restarted worker resumes, not restarts
            ckpt_path = os.path.join(ckpt_dir, RayTrainReportCallback.CHECKPOINT_NAME)
            trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path)
