"""Lake layout and I/O, locally and on S3 (moto's S3 server on loopback, started here).

The S3 tests talk to a real S3-compatible HTTP endpoint through s3fs/botocore; nothing
leaves 127.0.0.1 (instance-metadata lookups are disabled, credential files point nowhere).
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from forecasting.core.errors import ConfigError, StorageError
from forecasting.core.lake import Lake, day_range, join, parse_date, validate_identifier

DAY = date(2024, 3, 1)


# ---------------------------------------------------------------------------- local
@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "a..b", "x" * 129, "naïve"])
def test_unsafe_identifiers_are_refused(bad):
    with pytest.raises(ConfigError, match="not a safe identifier"):
        validate_identifier(bad, "source")


def test_dates_parse_or_name_the_argument():
    assert parse_date("2024-03-01") == parse_date(datetime(2024, 3, 1, 12)) == DAY
    with pytest.raises(ConfigError, match="--as-of '01/03/2024' is not a date"):
        parse_date("01/03/2024", "--as-of")


def test_layout(tmp_path):
    lake = Lake(str(tmp_path) + "/")
    assert (
        lake.bronze("security_reports", DAY)
        == f"{tmp_path}/bronze/security_reports/date=2024-03-01"
    )
    assert lake.quarantine("events", DAY).endswith("quarantine/events/date=2024-03-01")
    assert lake.stage("panel", DAY).endswith("panel/as_of=2024-03-01")
    assert join("s3://b/", "/x/", "y") == "s3://b/x/y"
    with pytest.raises(ConfigError):
        lake.bronze("../etc", DAY)


def test_local_io_is_atomic_and_round_trips(tmp_path):
    lake = Lake(str(tmp_path))
    uri = join(lake.uri, "a", "b", "f.parquet")
    df = pd.DataFrame(
        {"x": pd.array([1, None], dtype="Int64"), "s": pd.array(["a", None], dtype="string")}
    )
    lake.write_parquet(df, uri)
    pd.testing.assert_frame_equal(lake.read_parquet(uri), df)
    assert os.listdir(tmp_path / "a" / "b") == ["f.parquet"]  # no temporary file left
    first = lake.read_bytes(uri)
    lake.write_parquet(df, uri)
    assert lake.read_bytes(uri) == first  # deterministic bytes
    assert lake.ls(join(lake.uri, "a")) == ["b"] and lake.ls(join(lake.uri, "nope")) == []
    lake.append_line(lake.outbox, '{"n": 1}')
    lake.append_line(lake.outbox, '{"n": 2}')
    assert lake.read_text(lake.outbox) == '{"n": 1}\n{"n": 2}\n'
    lake.remove(join(lake.uri, "a"))
    assert not lake.exists(uri)


# ---------------------------------------------------------------------------- S3
@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path):
    """Env pointing botocore at the loopback server; returns (boto3 client, bucket maker)."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    client = boto3.client("s3", endpoint_url=s3_server)

    def bucket(prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=name)
        return name

    return client, bucket


@pytest.mark.timeout(120)
def test_s3_round_trip(s3):
    client, bucket = s3
    lake = Lake(f"s3://{bucket('lake')}/prefix")
    df = pd.DataFrame({"a": [1.5, 2.0], "b": pd.array(["x", "y"], dtype="string")})
    uri = join(lake.bronze("events", DAY), "part.parquet")
    lake.write_parquet(df, uri)
    pd.testing.assert_frame_equal(lake.read_parquet(uri), df)
    lake.write_json(join(lake.uri, "s.json"), {"k": 1})
    assert lake.read_json(join(lake.uri, "s.json")) == {"k": 1}
    lake.append_line(lake.outbox, "one")
    lake.append_line(lake.outbox, "two")
    assert lake.read_text(lake.outbox) == "one\ntwo\n"
    assert lake.ls(join(lake.uri, "bronze", "events")) == ["date=2024-03-01"]
    lake.remove(join(lake.uri, "bronze"))
    assert not lake.exists(uri)


@pytest.mark.timeout(120)
def test_s3_files_landed_later_are_seen(s3):
    client, bucket = s3
    name = bucket("landing")
    folder = f"s3://{name}/security_reports/date=2024-03-01"
    client.put_object(Bucket=name, Key="security_reports/date=2024-03-01/a.csv", Body=b"x\n")
    assert Lake(f"s3://{name}").ls(folder) == ["a.csv"]
    client.put_object(Bucket=name, Key="security_reports/date=2024-03-01/b.csv", Body=b"x\n")
    assert Lake(f"s3://{name}").ls(folder) == ["a.csv", "b.csv"]  # no stale listing cache


@pytest.mark.timeout(180)
def test_ingest_from_and_to_s3_matches_local(s3, settings_factory, tmp_path):
    from forecasting.ingest.drop import ingest_date
    from tests.support.landing import csv_text, land, land_reference, recon, report

    client, bucket = s3
    local = tmp_path / "landing"
    land_reference(local)
    land(
        local,
        "security_reports",
        "part-000.csv",
        csv_text([report(i) for i in range(4)] + [report(0)]),
    )
    land(
        local,
        "reconciliation_logs",
        "part-000.csv",
        csv_text([recon(1), recon(2, expected_units="x")]),
    )
    landing, lake = bucket("landing"), bucket("lake")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        client.put_object(Bucket=landing, Key=str(path.relative_to(local)), Body=path.read_bytes())

    on_s3 = ingest_date(
        settings_factory(landing_uri=f"s3://{landing}", lake_uri=f"s3://{lake}"), DAY
    )
    on_disk = ingest_date(settings_factory(lake_uri=str(tmp_path / "lake")), DAY)

    assert [r.error for r in on_s3] == [None] * 4
    assert [(r.read, r.accepted, r.quarantined) for r in on_s3] == [
        (r.read, r.accepted, r.quarantined) for r in on_disk
    ]
    assert (
        on_s3[0].bronze_uri == f"s3://{lake}/bronze/security_reports/date=2024-03-01/part.parquet"
    )
    listed = client.list_objects_v2(Bucket=lake)["Contents"]
    local_files = [p for p in (tmp_path / "lake").rglob("*") if p.is_file()]
    assert sorted(o["Key"] for o in listed) == sorted(str(p.relative_to(tmp_path / "lake")) for p in local_files)
    assert not any(o["Key"].startswith("_staging/") for o in listed)  # swapped in, nothing left aside
    for obj in listed:
        body = client.get_object(Bucket=lake, Key=obj["Key"])["Body"].read()
        assert body == (tmp_path / "lake" / obj["Key"]).read_bytes(), obj["Key"]


@pytest.mark.slow  # the fallback to the Airflow connection imports Airflow
@pytest.mark.timeout(180)
def test_missing_s3_credentials_name_the_connection(s3, settings_factory, monkeypatch):
    from forecasting.ingest.drop import ingest_source

    client, bucket = s3
    landing = bucket("landing")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    settings = settings_factory(landing_uri=f"s3://{landing}", aws_conn_id="riskcast_landing")
    with pytest.raises(StorageError, match="configure the Airflow connection 'riskcast_landing'"):
        ingest_source(settings, "security_reports", DAY)
    assert not Path(settings.lake_uri).exists()


def test_day_range_is_inclusive_bounded_and_ordered():
    assert day_range(date(2024, 2, 28), date(2024, 3, 1)) == [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    assert day_range(date(2024, 1, 1), date(2024, 1, 3), 3) == day_range(date(2024, 1, 1), date(2024, 1, 3))
    with pytest.raises(ConfigError, match="--from/--to 2024-01-01 .. 2024-01-04 spans 4 days, more than max_backfill_days=3"):
        day_range(date(2024, 1, 1), date(2024, 1, 4), 3, "--from/--to")
    with pytest.raises(ConfigError, match="before"):
        day_range(date(2024, 1, 2), date(2024, 1, 1))


def test_check_storage_names_each_bad_setting_once_and_never_its_value(settings_factory, tmp_path):
    from forecasting.core.errors import ConfigError
    from forecasting.core.lake import check_storage

    check_storage(settings_factory())  # local folders: fine
    check_storage(settings_factory(lake_uri="s3://bucket/lake", landing_uri="file:///srv/landing"))
    (tmp_path / "a-file").write_text("x")
    bad = settings_factory(lake_uri="ftp://user:pw-secret@host/lake", landing_uri=str(tmp_path / "a-file"))
    with pytest.raises(ConfigError) as err:
        check_storage(bad)
    text = str(err.value)
    assert text.count("setting 'lake_uri'") == 1 and text.count("setting 'landing_uri'") == 1
    assert "scheme 'ftp://'" in text and "points at a file" in text and "pw-secret" not in text
    assert "\n" not in text


def test_files_under_a_path_that_is_a_file_are_none(tmp_path):
    """A day "folder" that is a plain file holds no files (the sweep and the drop sensor
    list it): not one file with an empty name."""
    lake = Lake(str(tmp_path))
    (tmp_path / "date=2024-03-01").write_text("x\n")
    assert lake.files(str(tmp_path / "date=2024-03-01")) == {}
    assert list(lake.files(str(tmp_path))) == ["date=2024-03-01"]
