"""The model registry: ``<lake>/models/<model_version>/`` per trained model.

Each version holds the ``FittedModel`` files (``predictor/``, ``encoders.json``,
``model.json``) and ``manifest.json``: version, as_of, snapshot_id, code_version,
settings (``Settings.flat()``), metrics and the calibration gate (``passed`` None until
the backtest stage sets it, with the panel ``snapshot_id`` and ``as_of`` it was judged on).
``latest`` is the newest as_of whose gate passed.

A version is publishable for an as_of only if a passing verdict was recorded for it on that
as_of's panel snapshot (``gate_status``); ``require_gate`` is what forecast, reserves and
publish call, and ``--allow-ungated`` is the only way around it (the caller records it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

import forecasting
from forecasting.core.config import Settings
from forecasting.core.errors import CalibrationGateError, ModelError
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
from forecasting.model.deepar import FittedModel
from forecasting.model.mixture import DEEPAR

log = logging.getLogger(__name__)

LATEST = "latest"
# the label published rows carry when reserves were computed past the gate (--allow-ungated)
UNGATED = "UNGATED"
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


def resolve_version(settings: Settings, version: str = LATEST, as_of: date | None = None) -> str:
    """``latest`` -> the newest version whose calibration gate passed (with ``as_of``: passed
    on that as_of's panel snapshot); else checks that ``version`` exists."""
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
    if as_of is not None:
        passed = passed[passed[MODEL_VERSION].map(lambda v: gate_status(settings, v, as_of)[0]).astype(bool)]
    if passed.empty:
        where = f" on the panel of {as_of}" if as_of is not None else ""
        hint = f" --as-of {as_of}" if as_of is not None else ""
        newest = f" {models.iloc[0][MODEL_VERSION]}" if not models.empty else " VERSION"
        raise ModelError(
            f"no model under {_lake(settings).models()} has passed the calibration gate{where} "
            f"({len(models)} registered): run `riskcast backtest{hint}` (it records the verdict), "
            f"or name one with --model-version{newest} --allow-ungated (recorded in the published rows)"
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


def set_gate_status(
    settings: Settings,
    version: str,
    passed: bool,
    figures: dict,
    *,
    snapshot_id: str | None = None,
    as_of: date | None = None,
    ensemble: dict[str, float] | None = None,
) -> None:
    """Record the backtest's calibration verdict (and its figures) in the manifest, with the
    panel snapshot it was judged on (default: the snapshot the model was trained on), and
    the ensemble weights the same backtest chose (``{member: weight}``; see ``ensemble_weights``)."""
    lake = _lake(settings)
    manifest = read_manifest(settings, version)
    manifest["gate"] = {
        "passed": bool(passed),
        "figures": figures,
        "snapshot_id": snapshot_id or manifest.get("snapshot_id"),
        "as_of": str(parse_date(as_of)) if as_of else manifest.get("as_of"),
    }
    if ensemble is not None:
        manifest["ensemble"] = {str(m): float(w) for m, w in ensemble.items()}
    lake.write_json(join(lake.models(manifest["model_version"]), MANIFEST), manifest)


def ensemble_weights(settings: Settings, version: str) -> dict[str, float]:
    """``{member: weight}`` the gating backtest chose for ``version`` (``deepar`` plus members
    of ``forecasting.model.mixture.MEMBER_FITS``); DeepAR alone when none was recorded."""
    weights = read_manifest(settings, version).get("ensemble") or {}
    kept = {str(m): float(w) for m, w in weights.items() if float(w) > 0}
    return kept or {DEEPAR: 1.0}


def gate_status(settings: Settings, version: str, as_of: date) -> tuple[bool, str]:
    """``(publishable, reason)``: True when a passing verdict was recorded for ``version`` on
    the panel snapshot of ``as_of``; else False and a short reason (it goes into labels)."""
    lake = _lake(settings)
    uri = lake.model_manifest(validate_identifier(str(version), "model version"))
    if not lake.exists(uri):
        return False, "model not registered"
    gate = lake.read_json(uri).get("gate") or {}
    if gate.get("passed") is None:
        return False, "no gate verdict"
    if gate["passed"] is not True:
        return False, "gate failed"
    summary = lake.panel_summary(parse_date(as_of))
    snapshot = lake.read_json(summary).get("snapshot_id") if lake.exists(summary) else None
    if gate.get("snapshot_id") != snapshot:
        return False, "gated on another panel snapshot"
    return True, "gate passed"


def require_gate(settings: Settings, version: str, as_of: date, *, allow_ungated: bool = False) -> str | None:
    """None when ``version`` is publishable for ``as_of``; with ``allow_ungated`` the reason it
    is not (the caller records it as lineage); else CalibrationGateError, one line."""
    ok, why = gate_status(settings, version, as_of)
    if ok:
        return None
    if allow_ungated:
        log.warning("--allow-ungated: model %s for %s: %s; the override is recorded", version, as_of, why)
        return why
    raise CalibrationGateError(
        f"model {version} is not publishable for {as_of} ({why}): run `riskcast backtest --as-of "
        f"{as_of}` (records the verdict), retrain if it fails, or pass --allow-ungated (recorded "
        "in the published rows)"
    )


def ungated_label(method: str, why: str) -> str:
    """The calibration label of rows computed past the gate: says so first, then why."""
    return f"{UNGATED} (--allow-ungated, {why}); calibration {method}"[:200]


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
    return Lake.from_settings(settings)
