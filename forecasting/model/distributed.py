"""The Ray Train V2 job that fits DeepAR data-parallel (``fit_model(use_ray=True)``).

``TorchTrainer(train_loop_per_worker)``: every worker takes its shard of series
(``series[rank::world]``), seeds ``seed + rank``, runs ``batches / world`` batches per
epoch and fits the GluonTS Lightning module under ``RayDDPStrategy`` +
``RayLightningEnvironment`` (``prepare_trainer``). ``RayTrainReportCallback`` checkpoints
every epoch under ``<lake>/ray_results/<unique run>`` (``CheckpointConfig(num_to_keep)``),
``FailureConfig(max_failures)`` restarts lost workers from the latest checkpoint, and the
weights of the best checkpoint by validation loss become the predictor.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Any

import fsspec
from pyarrow.fs import FSSpecHandler, PyFileSystem

from forecasting.core.cluster import ray_address, start_ray
from forecasting.core.config import Settings
from forecasting.core.errors import ConfigError, ModelError
from forecasting.core.lake import join, storage_options
from forecasting.model.estimator import build_estimator
from forecasting.model.trainer import (
    MONITOR_VAL,
    callback_types,
    early_stopping,
    finite,
    make_loaders,
    monitor_metric,
    nan_loss_not_raise,
    quiet,
    torch_threads,
    trainer_kwargs,
)


def fit_ray(config: dict, train: list[dict], val: list[dict], settings: Settings):
    """Run the job on ``settings.ray``; (best weights or None, metrics). ModelError on failure."""
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer


    start_ray(settings)
    _check_resources(settings)
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
            f"Ray Train run {name} failed (restarts allowed: {settings.ray.max_failures}): "
            f"{type(exc).__name__}: {str(exc)[:2000]}"
        ) from exc
    return _best_weights(result, monitor), _ray_metrics(result, monitor, settings)


def _check_resources(settings: Settings) -> None:
    """Fail fast where Ray Train would wait forever for workers that cannot be placed.

    Only a local Ray is checked: a cluster may autoscale to fit the request.
    """
    import ray

    r = settings.ray
    have = ray.cluster_resources()
    if r.use_gpu and not have.get("GPU"):
        raise ConfigError("ray.use_gpu (--gpu) is set but the Ray cluster has no GPU: drop --gpu")
    need = r.num_workers * r.cpus_per_worker
    local = ray_address(settings) == "local"
    if local and r.use_gpu and have.get("GPU", 0) < r.num_workers:
        raise ConfigError(
            f"ray.num_workers={r.num_workers} with --gpu needs one GPU per worker but the local "
            f"Ray has {have.get('GPU', 0):g}: lower --workers"
        )
    if local and have.get("CPU", 0) < need:
        raise ConfigError(
            f"ray.num_workers={r.num_workers} x ray.cpus_per_worker={r.cpus_per_worker} needs "
            f"{need:g} CPUs but the local Ray has {have.get('CPU', 0):g}: lower --workers "
            "or ray.cpus_per_worker, or set ray.address / RAY_ADDRESS to a cluster"
        )


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
        "best_" + monitor: min(m[monitor] for m in best) if best else None,
        "diverged_epoch": int(last["epoch"]) if last.get("diverged") else None,
        "windows": int(last.get("windows", 0)) * workers,
        "train_seconds": last.get("train_seconds"),
        "workers": workers,
        "resumed_from_epoch": int(last.get("resumed_from_epoch", 0)),
        "ray_run": result.path,
    }


def _storage(settings: Settings):
    """(storage_path, pyarrow filesystem or None) for ``<lake>/ray_results``.

    A remote lake gets an fsspec filesystem built like the lake's, with the driver's
    explicit credentials (env or Airflow connection) baked in: it is pickled to every
    worker, which may run where that env does not exist. Without explicit keys the
    workers use their own credential chain (instance roles).
    """
    root = join(settings.lake_uri, "ray_results")
    if "://" not in root or root.startswith("file://"):
        return os.path.abspath(root.removeprefix("file://")), None

    protocol = root.split("://", 1)[0]
    opts = storage_options(settings.lake_uri, settings.aws_conn_id)
    if protocol == "s3" and "key" not in opts and os.environ.get("AWS_ACCESS_KEY_ID"):
        opts.update(key=os.environ["AWS_ACCESS_KEY_ID"],
                    secret=os.environ.get("AWS_SECRET_ACCESS_KEY"),
                    token=os.environ.get("AWS_SESSION_TOKEN"))
    fs = fsspec.filesystem(protocol, **opts)
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
    report = RayTrainReportCallback()
    callbacks = [callback_types().EpochGuard(config["batch_size"]), *early_stopping(config, config["monitor"]), report]
    trainer = prepare_trainer(pl.Trainer(**trainer_kwargs(
        config, callbacks,
        accelerator="gpu" if config["use_gpu"] else "cpu",
        devices="auto",
        strategy=RayDDPStrategy(),
        plugins=[RayLightningEnvironment()],
        use_distributed_sampler=False,
    )))
    checkpoint = ray.train.get_checkpoint()
    try:
        with quiet(), nan_loss_not_raise(), torch_threads(config.get("num_threads", 1)):
            if checkpoint is None:
                trainer.fit(module, train_loader, val_loader)
                return
            with checkpoint.as_directory() as ckpt_dir:  # a restarted worker resumes
                ckpt_path = os.path.join(ckpt_dir, RayTrainReportCallback.CHECKPOINT_NAME)
                trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path)
    finally:  # the callback leaves its (emptied) staging folder in /tmp
        shutil.rmtree(report.tmpdir_prefix, ignore_errors=True)
