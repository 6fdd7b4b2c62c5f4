"""The CLI's error handling: every bad argument, setting, URL or config file is ONE line and
exit 2, never a traceback or a usage panel; secrets never printed; dates strict and bounded."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from forecasting.cli import app

SECRET = "hunter2-very-secret-value"


def _invoke(args: list[str], env: dict[str, str] | None = None, tmp_path=None):
    base = {"RISKCAST_CONFIG": ""}
    if tmp_path is not None:
        base |= {
            "RISKCAST_LANDING_URI": str(tmp_path / "landing"),
            "RISKCAST_LAKE_URI": str(tmp_path / "lake"),
        }
    return CliRunner().invoke(app, args, env={**base, **(env or {})})


def _one_line_exit_2(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ingest", "--date", "2024-04-20-garbage"], "--date '2024-04-20-garbage' is not a date"),
        (["ingest", "--date", "20240420"], "is not a date"),
        (["ingest", "--from", "1000-01-01", "--to", "9999-12-31"], "out of range"),
        (["ingest", "--from", "2020-01-01", "--to", "2029-12-31"], "max_backfill_days"),
        (["ingest", "--from", "2024-01-02", "--to", "2024-01-01"], "before --from"),
        (["ingest", "--from", "2024-01-02"], "--from DATE and --to DATE"),
        (["validate"], "Missing option '--date'"),
        (["validate", "--date", "yesterday"], "is not a date"),
        (["audit", "--as-of", "2024-13-01"], "is not a date"),
        (["ingest", "--date", "2024-01-01", "--config", "/nope.yaml"], "does not exist"),
        (["no-such-command"], "No such command"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, expected):
    assert expected in _one_line_exit_2(_invoke(args, tmp_path=tmp_path))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RISKCAST_HORIZON": "zero"}, "'horizon'"),
        ({"RISKCAST_LANDING_URI": "ftp2://x/landing"}, "setting 'landing_uri' (RISKCAST_LANDING_URI) uses the scheme 'ftp2://'"),
        ({"RISKCAST_ALERTS__ROUTES": "smtp", "RISKCAST_ALERTS__SMTP_PASSWORD": SECRET}, "JSON"),
        ({"RISKCAST_ALERTS__SMTP_PORT": "x", "RISKCAST_ALERTS__SMTP_PASSWORD": SECRET}, "smtp_port"),
        ({"RISKCAST_MAX_BACKFILL_DAYS": SECRET}, "(from env RISKCAST_MAX_BACKFILL_DAYS): expects int"),
        ({"RISKCAST_ALERTS__ROUTES": f'"{SECRET}"'}, "'alerts.routes' (from env RISKCAST_ALERTS__ROUTES)"),
    ],
)
def test_bad_settings_are_one_line_without_secrets(tmp_path, env, expected):
    line = _one_line_exit_2(_invoke(["ingest", "--date", "2024-01-01"], env, tmp_path))
    assert expected in line and SECRET not in line


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (f"pii_key: {SECRET}\n", "holds secret(s)"),
        (f"alerts:\n  smtp_pasword: {SECRET}\n", "did you mean 'alerts.smtp_password'"),
        (f"reserves_url: postgresql://u:{SECRET}@db/r\n", "URL with a credential"),
        ("horizon: [1,\n", "not valid YAML"),
        ("- a list\n", "must hold a mapping"),
    ],
)
def test_bad_config_files_are_one_line_without_secrets(tmp_path, yaml_text, expected):
    cfg = tmp_path / "riskcast.yaml"
    cfg.write_text(yaml_text)
    line = _one_line_exit_2(_invoke(["ingest", "--date", "2024-01-01", "--config", str(cfg)]))
    assert expected in line and SECRET not in line


@pytest.mark.parametrize(
    ("setting", "uri", "expected"),
    [
        ("RISKCAST_LAKE_URI", f"ftp://user:{SECRET}@x/lake", "setting 'lake_uri' (RISKCAST_LAKE_URI) uses the scheme 'ftp://'"),
        ("RISKCAST_LANDING_URI", "ftp://x", "setting 'landing_uri' (RISKCAST_LANDING_URI) uses the scheme 'ftp://'"),
        ("RISKCAST_LAKE_URI", "s3://", "setting 'lake_uri' (RISKCAST_LAKE_URI) names no bucket"),
    ],
)
def test_a_bad_lake_or_landing_uri_is_one_line_before_any_source_runs(tmp_path, setting, uri, expected):
    from tests.support.landing import DAY, csv_text, land, land_reference, recon, report

    landing = tmp_path / "landing"
    land_reference(landing)  # drops of every source are there: none of them is tried
    land(landing, "security_reports", "part-000.csv", csv_text([report(0)]))
    land(landing, "reconciliation_logs", "part-000.csv", csv_text([recon(0)]))
    for command in (["ingest", "--date", str(DAY)], ["validate", "--date", str(DAY)]):
        line = _one_line_exit_2(_invoke(command, {setting: uri}, tmp_path))
        assert expected in line and "set it to a local folder, file:///path or s3://bucket/prefix" in line
        assert SECRET not in line
    assert not (tmp_path / "lake").exists()  # nothing was ingested, validated or alerted
