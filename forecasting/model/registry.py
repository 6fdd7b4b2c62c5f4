"""The model registry: ``<lake>/models/<model_version>/`` per trained model, vouched for by
the ``models`` table of the reserves database (``forecasting.core.model_records``).

Each version's folder holds the ``FittedModel`` files (``predictor/``, ``encoders.json``,
``model.json``) and ``manifest.json`` (version, as_of, snapshot_id, code_version, settings,
metrics: for people; nothing is decided from it). What is decided lives in the database,
where a lake writer cannot change it: the sha256 of every artefact, recorded at registration
(``record_registration``), and the calibration gate's verdict on those artefacts with its
figures, panel snapshot and ensemble weights (``set_gate_status``). ``load_predictor``
refuses a folder whose files are not exactly the registered ones, before parsing any of them,
and rebuilds the networks from ``model.json`` with ``torch.load(weights_only=True)``: nothing
from the lake is unpickled or names code to run. ``latest`` is the newest as_of whose gate passed.

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
from forecasting.core import model_records
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
    settings: Settings, fitted, as_of: date, snapshot_id: str, metrics: dict[str, Any], *, record: bool = True
) -> str:
    """Store ``fitted`` and its manifest, record its artefacts' digests; return the version.

    A rerun replaces the version's files and resets its gate (new weights are unproven).
    ``record`` False: where the reserves database is out of reach (a Ray Job): the caller
    records ``artefact_digests`` (the job prints them; the Airflow task records them).
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
    }
    lake.write_json(join(uri, MANIFEST), manifest)
    if record:
        record_registration(settings, version, as_of=parse_date(as_of), snapshot_id=snapshot_id)
    return version


def artefact_digests(settings: Settings, version: str) -> dict[str, str]:
    """sha256 of every file in the version's folder but ``manifest.json`` (path -> digest)."""
    lake = _lake(settings)
    uri = lake.models(validate_identifier(version, "model version"))
    return {p: hashlib.sha256(lake.read_bytes(join(uri, p))).hexdigest() for p in lake.files(uri) if p != MANIFEST}


def record_registration(settings: Settings, version: str, expected: dict[str, str] | None = None, *,
                        retrained: bool = True, as_of: date | None = None, snapshot_id: str | None = None,
                        ) -> dict[str, str]:  # fmt: skip
    """Record the version's artefact digests in the reserves database; return them.

    ``expected``: what the trainer reported (a Ray Job's summary): the lake's files must be
    exactly those, else ModelError (the folder changed between training and recording).
    ``retrained``: new weights, a new registration (its gate verdict starts over); False for
    a reused model, which must already be recorded with these digests (else ModelError).
    ``as_of`` / ``snapshot_id``: what the trainer knows (else the lake's manifest says)."""
    manifest = read_manifest(settings, version)
    found = artefact_digests(settings, version)
    if expected is not None and found != expected:
        raise ModelError(
            f"model {version}: the lake's files differ from what training reported "
            f"({_difference(expected, found)}); they changed after training: nothing was recorded, "
            "retrain with `riskcast train --force`"
        )
    model_records.record_registration(
        settings.reserves_url, version, as_of or parse_date(manifest["as_of"]),
        snapshot_id or manifest["snapshot_id"], manifest["code_version"], found, retrained=retrained,
    )
    return found


def model_record(settings: Settings, version: str) -> model_records.ModelRecord | None:
    """What the reserves database holds on ``version`` (digests, verdict), or None."""
    return model_records.current_record(settings.reserves_url, validate_identifier(version, "model version"))


def list_models(settings: Settings) -> pd.DataFrame:
    """One row per registered version, newest as_of first.

    Columns: ``model_version, as_of_date, snapshot_id, code_version, gate_passed`` (True,
    False or None when not yet gated: the reserves database's verdict), ``uri``.
    """
    lake = _lake(settings)
    records = model_records.current_records(settings.reserves_url)
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
            GATE_PASSED: records[name].gate_passed if name in records else None,
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
    """The registered ``FittedModel`` (``.predict(panel)``; ``.predictor`` is GluonTS').

    Every file of the version's folder is read, then checked against the digests recorded at
    registration before any of it is parsed: a changed, added or missing file is refused
    (ModelError, one line) and nothing of the folder runs."""
    resolved = resolve_version(settings, version)
    lake = _lake(settings)
    uri = lake.models(resolved)
    record = model_record(settings, resolved)
    if record is None:
        raise ModelError(
            f"model {resolved} at {uri} is refused: the reserves database holds no digests of its "
            "files (registered before riskcast recorded them, or not by riskcast); retrain it "
            "with `riskcast train --force`"
        )
    files = {p: lake.read_bytes(join(uri, p)) for p in lake.files(uri) if p != MANIFEST}
    found = {p: hashlib.sha256(b).hexdigest() for p, b in files.items()}
    if found != record.artefacts:
        raise ModelError(
            f"model {resolved} at {uri} is refused: {_difference(record.artefacts, found)} since its "
            f"registration ({record.as_of}); nothing of it was loaded: retrain with `riskcast train "
            f"--as-of {record.as_of} --force` or restore the registered files"
        )
    model = FittedModel.from_files(files, uri)
    model.metrics = {**model.metrics, "model_version": resolved}
    return model


def _difference(expected: dict[str, str], found: dict[str, str]) -> str:
    """The first difference between two digest maps, in words."""
    for path in sorted(set(expected) | set(found)):
        if path not in found:
            return f"{path} is missing"
        if path not in expected:
            return f"{path} was added"
        if found[path] != expected[path]:
            return f"{path} changed (sha256 {found[path][:12]}..., registered {expected[path][:12]}...)"
    return "no difference"


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
    """Record the backtest's calibration verdict (and its figures) in the reserves database, on
    the artefacts the version holds there, with the panel snapshot it was judged on (default:
    the snapshot the model was trained on) and the ensemble weights the same backtest chose
    (``{member: weight}``; see ``ensemble_weights``)."""
    resolved = resolve_version(settings, version)
    record = model_record(settings, resolved)  # the defaults come from the database, not the lake
    model_records.record_verdict(
        settings.reserves_url, resolved, passed, figures,
        as_of=parse_date(as_of) if as_of else (record.as_of if record else None),
        snapshot_id=snapshot_id or (record.snapshot_id if record else None), ensemble=ensemble,
    )


def ensemble_weights(settings: Settings, version: str) -> dict[str, float]:
    """``{member: weight}`` the gating backtest chose for ``version`` (``deepar`` plus members
    of ``forecasting.model.mixture.MEMBER_FITS``); DeepAR alone when none was recorded."""
    record = model_record(settings, version)
    weights = record.ensemble if record is not None else {}
    kept = {str(m): float(w) for m, w in weights.items() if float(w) > 0}
    return kept or {DEEPAR: 1.0}


def gate_status(settings: Settings, version: str, as_of: date) -> tuple[bool, str]:
    """``(publishable, reason)``: True when the reserves database holds a passing verdict on
    ``version`` judged on the panel snapshot of ``as_of``; else False and a short reason (it
    goes into labels)."""
    lake = _lake(settings)
    record = model_record(settings, str(version))
    if record is None:
        return False, "model not registered"
    if record.gate_passed is None:
        return False, "no gate verdict"
    if record.gate_passed is not True:
        return False, "gate failed"
    summary = lake.panel_summary(parse_date(as_of))
    snapshot = lake.read_json(summary).get("snapshot_id") if lake.exists(summary) else None
    if record.gate_snapshot_id != snapshot:
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
