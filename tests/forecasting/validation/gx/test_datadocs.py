"""Data Docs in the lake: deterministic pages, history on the index, and an ``s3://`` lake
(moto's S3 server on loopback) through the fsspec store backend."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from forecasting.alerts.alert import Alert
from forecasting.core import schema as s
from forecasting.core.lake import Lake, join
from forecasting.stages import run_ingest, run_validate
from forecasting.validation.gx.datadocs import INDEX_LIMIT
from forecasting.validation.gx.store import deterministic_html
from tests.support.landing import DAY as DAY_LANDED
from tests.support.landing import csv_text, land, recon, report
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
    lake = Lake.from_settings(settings)
    for k in range(2):
        write_day(lake, DAY + timedelta(days=k))
        run_validate(settings, DAY + timedelta(days=k))
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
    checked = run_validate(settings, DAY)
    assert checked["exit_code"] == 1
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, MaxKeys=1000)["Contents"]}
    assert "riskcast/data_docs/index.html" in keys
    page = checked["sources"]["security_reports"]["data_docs"]["page"]
    assert page.startswith(f"s3://{bucket}/riskcast/data_docs/validations/security_reports/")
    assert "SEV9" in lake.read_text(page)
    held = lake.read_parquet(join(lake.quarantine("security_reports", DAY), "validation.parquet"))
    assert held[s.REPORT_ID].tolist() == ["SR-000003"]
    assert "security_reports" in lake.read_text(lake.outbox)
    assert not Path("riskcast").exists()  # nothing leaked to a local folder named like the prefix


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_landing_values_never_reach_a_page_unescaped(settings_factory, tmp_path):
    """Stored XSS: script/HTML payloads planted in every text column of every source must
    not reach the Data Docs pages or the alert e-mails as markup."""
    settings = settings_factory()
    landing = tmp_path / "landing"
    text_cols = [c for c, k in s.SECURITY_REPORTS.columns.items() if k == "str"]
    land(landing, s.SECURITY_REPORTS.name, "part-000.csv", csv_text(
        [report(i) for i in range(3)] + [report(10 + j, **{c: XSS}) for j, c in enumerate(text_cols)]
    ))
    recon_cols = [c for c, k in s.RECONCILIATION_LOGS.columns.items() if k == "str"]
    land(landing, s.RECONCILIATION_LOGS.name, "part-000.csv", csv_text(
        [recon(i) for i in range(3)] + [recon(10 + j, **{c: XSS}) for j, c in enumerate(recon_cols)]
    ))
    (landing / "warehouses.csv").write_text(
        "warehouse_id,name,country,region,sqft,opened_on\n"
        f"WH-DE-000,Berlin,DE,DACH,120000,2015-04-01\nWH-DE-001,\"{XSS.replace(chr(34), chr(39))}\","
        f"DE,DACH,90000.5,2018-01-15\nWH-DE-002,Köln,DE,\"{XSS.replace(chr(34), chr(39))}\",1000,2019-01-01\n"
    )
    (landing / "events.csv").write_text(
        "date,scope,scope_id,event_type,name\n2024-03-01,all,,peak,Spring sale\n"
        f"2024-03-01,\"{XSS.replace(chr(34), chr(39))}\",x,peak,\"{XSS.replace(chr(34), chr(39))}\"\n"
    )
    summary = run_ingest(settings, [DAY_LANDED], sweep=False)[0]
    assert summary["quarantined"] > 0
    pages = list((tmp_path / "lake" / "data_docs").rglob("*.html"))
    assert pages
    for page in pages:
        assert not _planted_markup(page.read_text()), page
    outbox = [json.loads(x) for x in Path(Lake.from_settings(settings).outbox).read_text().splitlines()]
    assert outbox
    for sent in outbox:
        fields = {k: v for k, v in sent.items() if k != "id"}
        assert not _planted_markup(Alert(**fields).render_html()), sent["title"]


class _Markup(HTMLParser):
    """Elements and attributes a planted payload would create if it were not escaped."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        self.found += [f"{tag} {k}" for k, _ in attrs if k == "onerror"]

    def handle_data(self, data):
        if self._in_script and 'alert("x")' in data:
            self.found.append("script alert")


def _planted_markup(page: str) -> list[str]:
    parser = _Markup()
    parser.feed(page)
    return parser.found
