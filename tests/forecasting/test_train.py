"""forecasting.train: the Ray Train job through `riskcast train`, divergence on Ray, an S3 lake, a killed worker."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from forecasting.core import schema as S
from forecasting.core.errors import ModelError
from forecasting.model.fit import fit_model
from tests.support.deepar_panels import (
    AS_OF,
    HORIZON,
    SPEC,
    make_panel,
    tiny_settings,
    write_lake_panel,
)

# ----------------------------------------------------------------------------- Ray Train


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cli_train_runs_two_ray_workers_and_registers(ray_local, settings_factory, monkeypatch):
    from typer.testing import CliRunner

    from forecasting.cli import app
    from forecasting.model.registry import list_models, read_manifest

    settings = tiny_settings(settings_factory)
    snapshot = write_lake_panel(settings, make_panel())
    for key, value in {"LAKE_URI": settings.lake_uri, "HORIZON": str(HORIZON)}.items():
        monkeypatch.setenv(f"RISKCAST_{key}", value)
    for key, value in settings.model.model_dump().items():
        if value is not None:
            monkeypatch.setenv(f"RISKCAST_MODEL__{key.upper()}", str(value))
    result = CliRunner().invoke(app, ["train", "--as-of", str(AS_OF), "--workers", "2"])
    assert result.exit_code == 0, result.output
    models = list_models(settings)
    assert len(models) == 1 and models[S.SNAPSHOT_ID].item() == snapshot
    manifest = read_manifest(settings, models[S.MODEL_VERSION].item())
    assert manifest["metrics"]["workers"] == 2
    # validation=refit on Ray Train too: a second job on every period, both networks kept
    holdout = manifest["metrics"]["holdout"]
    assert holdout["workers"] == 2 and manifest["metrics"]["refit_epochs"] == holdout["best_epoch"] + 1
    assert manifest["metrics"]["epochs"] == manifest["metrics"]["refit_epochs"]
    assert manifest["metrics"]["pooled_networks"] == 2
    summary = json.loads([line for line in result.output.splitlines() if line.startswith("{")][-1])
    assert summary["refit_epochs"] == holdout["best_epoch"] + 1 and summary["pooled_networks"] == 2
    assert summary["val_loss"] == holdout["best_val_loss"]  # the early-stopped run's
    assert manifest["settings"]["ray"]["num_workers"] == 2
    assert Path(manifest["metrics"]["ray_run"]).is_relative_to(Path(settings.lake_uri) / "ray_results")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_diverging_ray_job_fails_naming_the_epoch(ray_local, settings_factory):
    settings = tiny_settings(settings_factory, ray={"num_workers": 2, "max_failures": 2},
                             model={"lr": 1e3, "max_epochs": 4})
    with pytest.raises(ModelError, match=r"training diverged at epoch \d+ "):
        fit_model(make_panel(), SPEC, settings, use_ray=True)


@pytest.mark.slow
def test_more_workers_than_local_cpus_fails_fast(ray_local, settings_factory):
    from forecasting.core.errors import ConfigError

    settings = tiny_settings(settings_factory, ray={"num_workers": 3})
    with pytest.raises(ConfigError, match="needs 3 CPUs but the local Ray has 2"):
        fit_model(make_panel(), SPEC, settings, use_ray=True)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_train_on_an_s3_lake_checkpoints_to_s3(ray_local, settings_factory, monkeypatch, tmp_path):
    """Multi-node storage: Ray Train checkpoints and the registry both live in the S3 lake."""
    import boto3

    from forecasting.model.registry import list_models
    from forecasting.train import train_model
    from tests.support.deepar_panels import moto_server, use_s3

    server, endpoint = moto_server()
    try:
        lake_uri = use_s3(monkeypatch, tmp_path, endpoint, "train-lake")
        settings = tiny_settings(settings_factory, lake_uri=lake_uri, ray={"num_workers": 1})
        write_lake_panel(settings, make_panel())
        summary = train_model(settings, AS_OF)
        assert summary.uri == f"{lake_uri}/models/{summary.model_version}"
        assert list_models(settings)[S.MODEL_VERSION].tolist() == [summary.model_version]
        keys = [
            o["Key"]
            for o in boto3.client("s3", endpoint_url=endpoint).list_objects_v2(
                Bucket="train-lake", Prefix="lake/ray_results/"
            )["Contents"]
        ]
        assert any(k.endswith("/checkpoint.ckpt") for k in keys)
    finally:
        server.stop()


def _registered_epochs(results: Path) -> list[int]:
    """Epochs of the checkpoints Ray Train's controller has registered for the run."""
    epochs = []
    for snapshot in results.glob("*/checkpoint_manager_snapshot.json"):
        try:
            data = json.loads(snapshot.read_text())
        except (OSError, ValueError):  # being rewritten
            continue
        epochs += [int(r["metrics"]["epoch"]) for r in data.get("checkpoint_results", [])]
    return epochs


def _train_workers() -> list:
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if "RayTrainWorker" in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_worker_killed_mid_training_resumes_from_checkpoint(ray_local, settings_factory):
    from forecasting.model.registry import list_models
    from forecasting.train import train_model

    settings = tiny_settings(
        settings_factory,
        ray={"num_workers": 2, "max_failures": 1, "checkpoints_to_keep": 2},
        # one Ray Train run, so the summary's resumed_from_epoch is the killed run's
        # (a refit's second run starts fresh; the Ray refit is covered by the CLI test)
        model={"max_epochs": 8, "batches_per_epoch": 12, "patience": 10, "validation": "holdout"},
    )
    write_lake_panel(settings, make_panel())
    outcome: dict = {}

    def _train() -> None:
        try:
            outcome["summary"] = train_model(settings, AS_OF)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=_train, daemon=True)
    thread.start()
    results = Path(settings.lake_uri) / "ray_results"
    deadline = time.monotonic() + 180
    # kill only once the controller has registered a checkpoint (its snapshot lists it):
    # a checkpoint folder on disk alone may still die with the worker's unpolled report
    while not (registered := _registered_epochs(results)) and thread.is_alive():
        assert time.monotonic() < deadline, "no registered checkpoint within 180 s"
        time.sleep(0.1)
    assert registered and max(registered) < 7, f"training ran out before the kill: {registered}"
    victims = _train_workers()
    assert victims, "found no RayTrainWorker process to kill"
    os.kill(victims[-1].pid, signal.SIGKILL)
    thread.join(timeout=240)
    assert not thread.is_alive(), "training did not finish after the worker was killed"
    assert "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    assert summary.resumed_from_epoch >= 1  # resumed from a checkpoint, not from scratch
    assert summary.epochs == 8
    assert list_models(settings)[S.MODEL_VERSION].tolist() == [summary.model_version]
