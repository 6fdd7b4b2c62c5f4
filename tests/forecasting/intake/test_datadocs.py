"""Data Docs in the lake: deterministic pages, history on the index, and an ``s3://`` lake
(moto's S3 server on loopback) through the fsspec store backend."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from forecasting.core import schema as s
from forecasting.core.lake import Lake, join
from forecasting.intake.datadocs import INDEX_LIMIT
from forecasting.intake.gx_store import deterministic_html
from forecasting.intake.runner import validate_date
from tests.support.validation_frames import DAY, reports, write_bronze, write_day


def test_build_stamps_and_random_ids_are_removed():
    html = (
        b'<img src="logo.png?d=20261123T175222.332822Z&dataContextId=6f1c3f7e-4a53-5d7b-9a61-2f1d6c0e9b11">'
        b'<a href="#b-collapse-body-62dd8b13-9183-4eb4-bf32-2a6d25e2fd87"></a>'
        b"<div id=b-collapse-body-62dd8b13-9183-4eb4-bf32-2a6d25e2fd87></div>"
        b'<a href="#c-collapse-body-971327ae-3b93-451e-8d7a-b563d74d88dd"></a>'
    )
    assert deterministic_html(html) == (
        b'<img src="logo.png"><a href="#b-collapse-body-0"></a>'
        b'<div id=b-collapse-body-0></div><a href="#c-collapse-body-1"></a>'
    )


def test_index_keeps_earlier_days(settings_factory, tmp_path):
    settings = settings_factory()
    lake = Lake(settings.lake_uri)
    for k in range(2):
        write_day(lake, DAY + timedelta(days=k))
        validate_date(settings, DAY + timedelta(days=k))
    index = (tmp_path / "lake" / "data_docs" / "index.html").read_text()
    for day in ("2024-03-04", "2024-03-05"):
        assert f"validations/security_reports/{day}/" in index
    results = list((tmp_path / "lake" / "data_docs" / "_results").rglob("*.json"))
    assert len(results) == 8 and INDEX_LIMIT >= 8  # 4 sources x 2 days, all listed


@pytest.fixture
def s3_lake(monkeypatch, tmp_path):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)
    yield f"s3://{bucket}/riskcast", client, bucket
    server.stop()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_validation_and_data_docs_on_an_s3_lake(settings_factory, s3_lake):
    uri, client, bucket = s3_lake
    settings = settings_factory(lake_uri=uri)
    lake = Lake(uri)
    write_day(lake)
    faulty = reports(12)
    faulty.loc[3, s.SEVERITY] = "SEV9"
    write_bronze(lake, s.SECURITY_REPORTS.name, DAY, faulty)
    checked = validate_date(settings, DAY, alert=True)
    assert checked.exit_code == 1
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, MaxKeys=1000)["Contents"]}
    assert "riskcast/data_docs/index.html" in keys
    page = next(v for v in checked.sources if v.source == "security_reports").data_docs["page"]
    assert page.startswith(f"s3://{bucket}/riskcast/data_docs/validations/security_reports/")
    assert "SEV9" in lake.read_text(page)
    held = lake.read_parquet(join(lake.quarantine("security_reports", DAY), "validation.parquet"))
    assert held[s.REPORT_ID].tolist() == ["SR-000003"]
    assert "security_reports" in lake.read_text(lake.outbox)
    assert not Path("riskcast").exists()  # nothing leaked to a local folder named like the prefix
