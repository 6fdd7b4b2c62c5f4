"""A model is verified before use: the reserves database holds the sha256 of every artefact and
the gate's verdict; a folder with any byte changed, a file added or removed, or a pickle where
weights belong is refused with one line (exit 2 in the CLI) and nothing in it runs; the lake's
manifest decides nothing."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.core.errors import ModelError
from forecasting.core.lake import Lake, join
from tests.support.deepar_panels import (
    AS_OF,
    HORIZON,
    SPEC,
    TINY_MODEL,
    make_panel,
    tiny_settings,
    write_lake_panel,
)

pytestmark = pytest.mark.slow
WEIGHTS = "predictor/prediction-net-state.pt"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from forecasting.core.config import load_settings
    from forecasting.model.fit import fit_model

    lake = tmp_path_factory.mktemp("fit") / "lake"
    settings = load_settings(None, lake_uri=str(lake), horizon=HORIZON, model=TINY_MODEL)
    return fit_model(make_panel(), SPEC, settings)


@pytest.fixture
def gated(fitted, settings_factory):
    """(settings, version, the version's folder): registered, gate passed on the AS_OF panel."""
    from forecasting.model.registry import register_model, set_gate_status

    settings = tiny_settings(settings_factory)
    snapshot = write_lake_panel(settings, make_panel())
    version = register_model(settings, fitted, AS_OF, snapshot, fitted.metrics)
    set_gate_status(settings, version, True, {"coverage_p95": 0.95}, snapshot_id=snapshot, as_of=AS_OF)
    return settings, version, Path(Lake.from_settings(settings).models(version))


def _cli_forecast(settings, version: str):
    env = {"RISKCAST_LAKE_URI": settings.lake_uri, "RISKCAST_RESERVES_URL": settings.reserves_url,
           "RISKCAST_HORIZON": str(HORIZON), "RISKCAST_MODEL__NUM_SAMPLES": "20", "RISKCAST_CONFIG": ""}
    return CliRunner().invoke(app, ["forecast", "--as-of", str(AS_OF), "--model-version", version], env=env)


def test_the_database_holds_every_artefacts_digest_and_the_verdict(gated):
    from forecasting.model.registry import artefact_digests, gate_status, model_record

    settings, version, folder = gated
    record = model_record(settings, version)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert sorted(record.artefacts) == [f for f in files if f != "manifest.json"]
    assert WEIGHTS in record.artefacts and "model.json" in record.artefacts
    assert record.artefacts == artefact_digests(settings, version)
    assert record.gate_passed is True and record.gate_figures == {"coverage_p95": 0.95}
    assert gate_status(settings, version, AS_OF) == (True, "gate passed")
    assert _cli_forecast(settings, version).exit_code == 0


@pytest.mark.parametrize("change", ["flip a byte", "add a file", "remove a file"])
def test_a_changed_model_folder_is_refused_with_one_line_and_exit_2(gated, change):
    from forecasting.forecast import forecast_panel

    settings, version, folder = gated
    if change == "flip a byte":
        weights = folder / WEIGHTS
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0x01
        weights.write_bytes(bytes(data))
    elif change == "add a file":
        (folder / "predictor" / "sitecustomize.py").write_text("import os; os.system('touch /tmp/pwned')\n")
    else:
        (folder / "encoders.json").unlink()
    with pytest.raises(ModelError, match=rf"model {version} at .* is refused") as err:
        forecast_panel(settings, AS_OF, version)
    assert "\n" not in str(err.value) and "nothing of it was loaded" in str(err.value)
    result = _cli_forecast(settings, version)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: model ") and "refused" in lines[0]
    print(f"\n{change}: {lines[0]}")
    assert not Lake.from_settings(settings).exists(Lake.from_settings(settings).forecast_samples(AS_OF))


class _Payload:
    """What an attacker puts where weights belong: unpickling it runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_pickle_where_weights_belong_never_runs_even_when_its_digest_was_recorded(gated, tmp_path):
    """weights_only: even a payload the database vouches for (a compromised trainer) is refused."""
    import torch

    from forecasting.model.registry import load_predictor, record_registration

    settings, version, folder = gated
    marker = tmp_path / "payload-ran"
    buf = io.BytesIO()
    torch.save({"model.weight": _Payload(marker)}, buf)  # a torch file whose pickle runs code
    (folder / WEIGHTS).write_bytes(buf.getvalue())
    with pytest.raises(ModelError, match="refused"):  # the digest no longer matches: refused first
        load_predictor(settings, version)
    record_registration(settings, version)  # now the database vouches for the payload's digest
    with pytest.raises(ModelError, match=r"is not a file of weights \(tensors only\)") as err:
        load_predictor(settings, version)
    assert "\n" not in str(err.value)
    assert not marker.exists(), "the pickled payload ran"
    pickle.loads(pickle.dumps(_Payload(marker)))  # (the payload is real: unpickled, it runs)
    assert marker.exists()


def test_the_lake_manifest_decides_nothing(gated):
    from forecasting.model.registry import (
        gate_status,
        read_manifest,
        resolve_version,
        set_gate_status,
    )

    settings, version, folder = gated
    set_gate_status(settings, version, False, {"coverage_p95": 0.5}, as_of=AS_OF)
    lake = Lake.from_settings(settings)
    forged = {**read_manifest(settings, version), "gate": {"passed": True}, "ensemble": {"deepar": 1.0}}
    lake.write_json(join(lake.models(version), "manifest.json"), forged)
    assert gate_status(settings, version, AS_OF) == (False, "gate failed")
    with pytest.raises(ModelError, match="passed the calibration gate"):
        resolve_version(settings, "latest", AS_OF)


def test_a_rerun_does_not_reuse_a_changed_model_and_a_retrain_starts_a_new_record(gated, monkeypatch):
    from forecasting import train
    from forecasting.model.registry import model_record

    settings, version, folder = gated
    (folder / "model.json").write_text((folder / "model.json").read_text().replace("{", "{ ", 1))
    monkeypatch.setattr(train, "fit_model", lambda *a, **k: pytest.fail("a rerun must not fit"))
    with pytest.raises(ModelError, match="holds other files than were registered"):
        train.train_model(settings, AS_OF)  # the version exists: a rerun would reuse it
    before = model_record(settings, version)
    assert before.gate_passed is True  # nothing was recorded for the changed files
    monkeypatch.undo()
    summary = train.train_model(settings, AS_OF, force=True)  # a real retrain: new record, gate reset
    after = model_record(settings, version)
    assert summary.model_version == version and after.seq > before.seq and after.gate_passed is None
    assert after.artefacts == summary.artefacts
