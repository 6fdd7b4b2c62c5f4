"""Training stage: one global DeepAR (negative binomial), in process or as a Ray Train job.

``forecasting.model.fit.fit_model`` turns a panel into a ``FittedModel``; ``train_model`` is the stage (``riskcast train``): read the lake panel, fit with Ray Train
V2 data parallelism, register the model under ``models/<version>/``.

The Ray job is ``forecasting.model.distributed``: a Ray Train V2 ``TorchTrainer`` whose
workers each fit their shard of series under ``RayDDPStrategy``, checkpointing every
epoch and resuming from the latest checkpoint when a worker is lost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from forecasting.core.config import Settings
from forecasting.core.errors import ModelError
from forecasting.core.lake import Lake
from forecasting.model.fit import fit_model
from forecasting.model.registry import (
    artefact_digests,
    model_record,
    model_version,
    record_registration,
    register_model,
)
from forecasting.panel.build import read_panel

log = logging.getLogger(__name__)


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
    reused: bool = False  # the version was already registered: not retrained
    refit_epochs: int | None = None  # validation=refit: epochs of the run on every period
    pooled_networks: int = 1  # networks whose sample paths a forecast pools
    # sha256 of every file of the version (path -> digest): what the reserves database
    # vouches for; a Ray Job prints them and the Airflow task records them
    artefacts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_model(settings: Settings, as_of: date, force: bool = False, record: bool = True) -> TrainSummary:
    """Read the panel of ``as_of``, fit DeepAR as a Ray Train job and register it.

    Idempotent by logical date: the version is a hash of as_of, the panel snapshot and the
    model settings, so when that version is already registered it is reused as it is
    (a rerun publishes the same figures), provided the reserves database vouches for its
    files (a version it has no record of is retrained; one whose files changed is refused);
    ``force`` retrains and replaces it. ``record`` False (a Ray Job, which has no access to
    the reserves database): nothing is recorded and the caller records ``artefacts``.
    """

    t0 = time.perf_counter()
    df, spec = read_panel(settings, as_of)
    snapshot_id = panel_snapshot_id(settings, as_of)
    version = model_version(settings, as_of, snapshot_id)
    lake = Lake.from_settings(settings)
    manifest_uri = lake.model_manifest(version)
    vouched = not record or model_record(settings, version) is not None
    if not force and lake.exists(manifest_uri) and vouched:
        m = lake.read_json(manifest_uri).get("metrics", {})
        log.info("model %s is already registered for this panel and settings: reused", version)
        digests = record_registration(settings, version, retrained=False) if record else artefact_digests(settings, version)
        return _summary(as_of, version, lake, snapshot_id, m, time.perf_counter() - t0, True, digests)
    fitted = fit_model(df, spec, settings, use_ray=True)
    m = fitted.metrics
    version = register_model(settings, fitted, as_of, snapshot_id, m, record=record)
    digests = artefact_digests(settings, version)
    return _summary(as_of, version, lake, snapshot_id, m, time.perf_counter() - t0, False, digests)


def _summary(as_of, version, lake, snapshot_id, m, seconds, reused, artefacts) -> TrainSummary:
    holdout = m.get("holdout") or {}  # a refit's early-stopped run holds the validation loss
    val_loss = m.get("best_val_loss", m.get("val_loss"))  # the registered epoch's
    return TrainSummary(
        as_of=str(as_of),
        model_version=version,
        uri=lake.models(version),
        snapshot_id=snapshot_id,
        series=int(m.get("series", 0)),
        epochs=int(m.get("epochs", 0)),
        best_epoch=m.get("best_epoch"),
        train_loss=m.get("train_loss"),
        val_loss=val_loss if val_loss is not None else holdout.get("best_val_loss"),
        workers=int(m.get("workers", 0)),
        resumed_from_epoch=int(m.get("resumed_from_epoch", 0)),
        seconds=round(seconds, 3),
        reused=reused,
        refit_epochs=m.get("refit_epochs"),
        pooled_networks=int(m.get("pooled_networks", 1)),
        artefacts=artefacts,
    )


def panel_snapshot_id(settings: Settings, as_of: date) -> str:
    """The panel's ``snapshot_id`` from its ``summary.json``; ModelError if absent."""
    lake = Lake.from_settings(settings)
    uri = lake.panel_summary(as_of)
    snapshot = lake.read_json(uri).get("snapshot_id") if lake.exists(uri) else None
    if not snapshot:
        raise ModelError(f"{uri} has no snapshot_id: rebuild the panel with `riskcast panel`")
    return str(snapshot)
