"""The model registry: ``<lake>/models/<model_version>/`` per trained model.

Each version holds the ``FittedModel`` files (``predictor/``, ``encoders.json``,
``model.json``) and ``manifest.json``: version, as_of, snapshot_id, code_version,
settings (``Settings.flat()``), metrics and the calibration gate (``passed`` None until
the backtest stage sets it). ``latest`` is the newest as_of whose gate passed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

import forecasting
from forecasting.core.config import Settings
from forecasting.core.errors import ModelError
from forecasting.core.lake import Lake, join, parse_date, validate_identifier
from forecasting.core.layout import MANIFEST_FILE as MANIFEST
from forecasting.core.schema import (
    AS_OF_DATE,
    CODE_VERSION,
    GATE_PASSED,
    MODEL_URI,
    MODEL_VERSION,
    SNAPSHOT_ID,
)
from forecasting.model.fitted import FittedModel

LATEST = "latest"
# settings that change the fitted network; infrastructure (lake, Ray, alerts) and the
# runtime knobs below do not
_MODEL_SETTINGS = ("model", "freq", "horizon", "target")
_RUNTIME_MODEL_SETTINGS = ("num_samples", "num_threads")


def model_version(settings: Settings, as_of: date, snapshot_id: str) -> str:
    """``deepar-YYYYMMDD-<hash>``: the same as_of, panel snapshot and model settings give
    the same version, so a rerun replaces its model instead of adding one."""
    flat = settings.flat()
    flat["model"] = {k: v for k, v in flat["model"].items() if k not in _RUNTIME_MODEL_SETTINGS}
    key = json.dumps({"snapshot": snapshot_id, **{k: flat[k] for k in _MODEL_SETTINGS}},
                     sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"deepar-{parse_date(as_of):%Y%m%d}-{digest}"


def register_model(
    settings: Settings, fitted, as_of: date, snapshot_id: str, metrics: dict[str, Any]
) -> str:
    """Store ``fitted`` and its manifest; return the model version.

    A rerun replaces the version's files and resets its gate (new weights are unproven).
    """
    lake = _lake(settings)
    version = model_version(settings, as_of, snapshot_id)
    uri = lake.models(version)
    lake.remove(join(uri, MANIFEST))  # a half-written version is never "registered"
    fitted.save(lake, uri)
    manifest = {
        "model_version": version,
        "as_of": str(parse_date(as_of)),
        "snapshot_id": snapshot_id,
        "code_version": code_version(),
        "settings": settings.flat(),
        "metrics": metrics,
        "gate": {"passed": None, "figures": {}},
    }
    lake.write_json(join(uri, MANIFEST), manifest)
    return version


def list_models(settings: Settings) -> pd.DataFrame:
    """One row per registered version, newest as_of first.

    Columns: ``model_version, as_of_date, snapshot_id, code_version, gate_passed`` (True,
    False or None when not yet gated), ``uri``.
    """
    lake = _lake(settings)
    rows = []
    for name in lake.ls(lake.models()):
        uri = join(lake.models(), name)
        if not lake.exists(join(uri, MANIFEST)):
            continue  # being written, or a failed write
        m = lake.read_json(join(uri, MANIFEST))
        rows.append({
            MODEL_VERSION: m["model_version"],
            AS_OF_DATE: m["as_of"],
            SNAPSHOT_ID: m["snapshot_id"],
            CODE_VERSION: m["code_version"],
            GATE_PASSED: m.get("gate", {}).get("passed"),
            MODEL_URI: uri,
        })
    cols = [MODEL_VERSION, AS_OF_DATE, SNAPSHOT_ID, CODE_VERSION, GATE_PASSED, MODEL_URI]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values([AS_OF_DATE, MODEL_VERSION], ascending=False, ignore_index=True)


def resolve_version(settings: Settings, version: str = LATEST) -> str:
    """``latest`` -> the newest version whose calibration gate passed; else checks it exists."""
    models = list_models(settings)
    if version != LATEST:
        validate_identifier(version, "model version")
        if version not in set(models[MODEL_VERSION]):
            raise ModelError(
                f"model version {version!r} is not registered under {_lake(settings).models()}: "
                "pick one from list_models or run `riskcast train`"
            )
        return version
    passed = models[models[GATE_PASSED].map(lambda v: v is True)]
    if passed.empty:
        raise ModelError(
            f"no model under {_lake(settings).models()} has passed the calibration gate "
            f"({len(models)} registered): run `riskcast backtest` on a trained model, or "
            "pass --model-version explicitly"
        )
    return str(passed.iloc[0][MODEL_VERSION])


def load_predictor(settings: Settings, version: str = LATEST):
    """The registered ``FittedModel`` (``.predict(panel)``; ``.predictor`` is GluonTS')."""

    resolved = resolve_version(settings, version)
    model = FittedModel.load(_lake(settings), _lake(settings).models(resolved))
    model.metrics = {**model.metrics, "model_version": resolved}
    return model


def read_manifest(settings: Settings, version: str) -> dict[str, Any]:
    lake = _lake(settings)
    uri = join(lake.models(resolve_version(settings, version)), MANIFEST)
    return lake.read_json(uri)


def set_gate_status(settings: Settings, version: str, passed: bool, figures: dict) -> None:
    """Record the backtest's calibration verdict (and its figures) in the manifest."""
    lake = _lake(settings)
    manifest = read_manifest(settings, version)
    manifest["gate"] = {"passed": bool(passed), "figures": figures}
    lake.write_json(join(lake.models(manifest["model_version"]), MANIFEST), manifest)


def code_version() -> str:
    """``forecasting.__version__`` plus ``+g<sha>`` of the source checkout when there is one."""

    root = Path(forecasting.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{forecasting.__version__}+g{sha}" if sha else forecasting.__version__


def _lake(settings: Settings) -> Lake:
    return Lake(settings.lake_uri, settings.aws_conn_id)
