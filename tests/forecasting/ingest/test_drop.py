"""Ingest: landing drop -> bronze + quarantine; every bad-input case, PII, reruns, backfills.

Landing files are written by the helpers below (a few rows each), in the real layout:
``<landing>/<source>/date=D/<file>`` plus ``warehouses.csv`` / ``events.csv`` at the root.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from forecasting.core import schema as s
from forecasting.core.errors import InputError, StorageError
from forecasting.core.lake import Lake
from forecasting.core.layout import BRONZE_FILE
from forecasting.core.layout import INGEST_QUARANTINE_FILE as QUARANTINE_FILE
from forecasting.ingest.drop import IngestResult, ingest_date, ingest_source
from forecasting.ingest.pii import pseudonym
from forecasting.stages import run_ingest, stage
from tests.support.keys import TEST_PII_KEY
from tests.support.landing import DAY, csv_text, land, land_reference, recon, report

REPORTS, RECON = s.SECURITY_REPORTS.name, s.RECONCILIATION_LOGS.name
BRONZE_DTYPES = {
    "str": "string",
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "date": "datetime64[ns]",
    "datetime": "datetime64[ns, UTC]",
}


# ---------------------------------------------------------------------------- helpers
def bronze(settings, source: str = REPORTS, day: date = DAY, staged: bool = False) -> pd.DataFrame:
    lake = _lake(settings, source, day, staged)
    return lake.read_parquet(f"{lake.bronze(source, day)}/{BRONZE_FILE}")


def quarantine(settings, source: str = REPORTS, day: date = DAY, staged: bool = False) -> pd.DataFrame:
    lake = _lake(settings, source, day, staged)
    return lake.read_parquet(f"{lake.quarantine(source, day)}/{QUARANTINE_FILE}")


def _lake(settings, source: str, day: date, staged: bool) -> Lake:
    """The lake, resolving (source, day) to its staged copy when ``staged`` (what the ingest
    stage leaves until validation swaps it in)."""
    lake = Lake.from_settings(settings)
    return lake.with_staged({(source, day)}) if staged else lake


def lake_files(settings) -> dict[str, bytes]:
    root = Path(settings.lake_uri)
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def reconciles(r: IngestResult) -> bool:
    return r.read == r.accepted + r.quarantined and r.duplicates <= r.quarantined


@pytest.fixture
def settings(settings_factory):
    return settings_factory()


@pytest.fixture
def landing(settings) -> Path:
    return Path(settings.landing_uri)


# ---------------------------------------------------------------------------- clean input
def test_clean_csv_is_typed_to_the_contract(settings, landing):
    land(landing, REPORTS, "part-000.csv", csv_text([report(i) for i in (2, 0, 1)]))
    result = ingest_source(settings, REPORTS, DAY)

    assert (result.read, result.accepted, result.quarantined, result.duplicates) == (3, 3, 0, 0)
    assert result.quarantine_uri is None and result.error is None
    assert json.loads(json.dumps(result.to_dict()))["date"] == "2024-03-01"
    df = bronze(settings)
    assert list(df.columns) == s.SECURITY_REPORTS.bronze_columns
    for col, kind in s.SECURITY_REPORTS.columns.items():
        if col not in s.SECURITY_REPORTS.pii and col not in s.SECURITY_REPORTS.free_text:
            assert str(df[col].dtype) == BRONZE_DTYPES[kind], col
    assert str(df[s.HAS_NOTES].dtype) == "boolean"
    assert (
        str(df[s.SOURCE_ROW].dtype) == "Int64" and str(df[s.INGEST_DATE].dtype) == "datetime64[ns]"
    )
    assert df[s.REPORT_ID].tolist() == ["SR-00000", "SR-00001", "SR-00002"]  # key order
    assert df[s.SOURCE_ROW].tolist() == [2, 3, 1]
    assert df[s.SOURCE_FILE].unique().tolist() == [f"{REPORTS}/date={DAY}/part-000.csv"]
    assert df[s.UNITS].tolist() == [1, 2, 3]
    assert df[s.INCIDENT_AT].iloc[0] == pd.Timestamp("2024-02-29T22:15:00Z")
    assert (df[s.INGEST_DATE] == pd.Timestamp(DAY)).all()


def test_csv_parquet_and_jsonl_give_the_same_bronze(settings_factory, tmp_path):
    rows = [report(i, **({s.SKU: "", s.NOTES: ""} if i == 1 else {})) for i in range(4)]
    frame = pd.DataFrame(rows)
    typed = frame.assign(
        **{
            s.INCIDENT_AT: pd.to_datetime(frame[s.INCIDENT_AT], utc=True).astype(
                "datetime64[ms, UTC]"
            ),
            s.REPORTED_AT: pd.to_datetime(frame[s.REPORTED_AT], utc=True),
            s.IS_HVG: frame[s.IS_HVG] == "true",
            s.UNITS: frame[s.UNITS].astype("int32"),
            s.LOSS_VALUE_EUR: frame[s.LOSS_VALUE_EUR].astype(float),
            s.SKU: frame[s.SKU].replace("", None),
        }
    )
    buf = io.BytesIO()
    typed.to_parquet(buf, index=False)
    jsonl = "".join(
        json.dumps({**r, s.UNITS: int(r[s.UNITS]), s.IS_HVG: r[s.IS_HVG] == "true"}) + "\n"
        for r in rows
    )
    frames = []
    for fmt, data in (("csv", csv_text(rows)), ("parquet", buf.getvalue()), ("jsonl", jsonl)):
        cfg = settings_factory(
            landing_uri=str(tmp_path / fmt), lake_uri=str(tmp_path / f"lake-{fmt}")
        )
        land(Path(cfg.landing_uri), REPORTS, f"part-000.{fmt}", data)
        result = ingest_source(cfg, REPORTS, DAY)
        assert (result.accepted, result.quarantined) == (4, 0), result.warnings
        frames.append(bronze(cfg).drop(columns=[s.SOURCE_FILE]))
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])
    assert frames[0][s.SKU].isna().tolist() == [False, True, False, False]


def test_rerun_is_byte_identical_and_replaces_the_partition(settings, landing):
    land_reference(landing)
    land(
        landing,
        REPORTS,
        "part-000.csv",
        csv_text([report(i) for i in range(5)] + [report(9, **{s.UNITS: "x"})]),
    )
    land(landing, RECON, "part-000.csv", csv_text([recon(i) for i in range(3)]))
    ingest_date(settings, DAY)
    first = lake_files(settings)
    ingest_date(settings, DAY)
    assert lake_files(settings) == first
    assert f"quarantine/{REPORTS}/date={DAY}/{QUARANTINE_FILE}" in first

    # the fixed drop replaces bronze and removes the stale quarantine (and validation's file)
    stale = Path(settings.lake_uri) / "quarantine" / REPORTS / f"date={DAY}" / "validation.parquet"
    stale.write_bytes(b"stale")
    land(landing, REPORTS, "part-000.csv", csv_text([report(i) for i in range(2)]))
    result = ingest_source(settings, REPORTS, DAY)
    assert (result.read, result.accepted, result.quarantined) == (2, 2, 0)
    assert len(bronze(settings)) == 2
    held = Path(settings.lake_uri) / "quarantine" / REPORTS / f"date={DAY}"
    assert sorted(p.name for p in held.iterdir()) == ["ingest.json"]  # the manifest only


def test_several_files_are_concatenated_in_key_order(settings, landing):
    land(landing, REPORTS, "b.csv", csv_text([report(1), report(3)]))
    land(landing, REPORTS, "a.jsonl", "".join(json.dumps(report(i)) + "\n" for i in (2, 0)))
    land(landing, REPORTS, "_SUCCESS", "")  # the source's completion marker: not data
    result = ingest_source(settings, REPORTS, DAY)
    rel = f"{REPORTS}/date={DAY}"
    assert result.files == [f"{rel}/a.jsonl", f"{rel}/b.csv"]
    assert not result.warnings
    assert result.file_rows[f"{rel}/b.csv"] == {"read": 2, "accepted": 2, "quarantined": 0}
    df = bronze(settings)
    assert df[s.REPORT_ID].tolist() == [f"SR-{i:05d}" for i in range(4)]
    assert df[s.SOURCE_ROW].tolist() == [2, 1, 1, 2]


# ---------------------------------------------------------------------------- bad input: day and file
def test_missing_landing_folder_is_a_clear_error(settings, landing):
    land_reference(landing)
    with pytest.raises(
        StorageError, match=r"no landing drop for 2024-03-01.*security_reports/date=2024-03-01"
    ):
        ingest_date(settings, DAY)
    with pytest.raises(StorageError, match="does not exist.*it is due by 2024-03-02 12:00 UTC"):
        ingest_source(settings, RECON, DAY, overdue=False)


def test_empty_file_warns_and_adds_no_rows(settings, landing):
    land(landing, RECON, "part-000.csv", csv_text([recon(1)]))
    land(landing, RECON, "part-001.csv", b"")
    result = ingest_source(settings, RECON, DAY)
    assert (result.read, result.accepted) == (1, 1)
    assert any("part-001.csv: empty file" in w for w in result.warnings)


def test_missing_required_column_fails_the_source_and_keeps_the_good_copy(settings, landing):
    land(landing, RECON, "part-000.csv", csv_text([recon(i) for i in range(3)]))
    ingest_source(settings, RECON, DAY)
    assert len(bronze(settings, RECON)) == 3
    rows = [{k: v for k, v in recon(i).items() if k != s.REASON_CODE} for i in range(3)]
    land(landing, RECON, "part-000.csv", csv_text(rows))
    with pytest.raises(InputError) as err:
        ingest_source(settings, RECON, DAY)
    msg = str(err.value)
    assert f"{RECON}/date={DAY}/part-000.csv" in msg and "'reason_code' is missing" in msg
    assert "fix the export" in msg
    assert len(bronze(settings, RECON)) == 3  # the rerun failed: the day's earlier bronze stays
    assert not list((Path(settings.lake_uri) / "_staging").rglob("*.*"))  # nothing staged


def test_missing_optional_columns_are_null(settings, landing):
    optional = set(s.SECURITY_REPORTS.optional)
    rows = [{k: v for k, v in report(i).items() if k not in optional} for i in range(2)]
    land(landing, REPORTS, "part-000.csv", csv_text(rows))
    result = ingest_source(settings, REPORTS, DAY)
    assert result.accepted == 2
    df = bronze(settings)
    assert df[s.SKU].isna().all() and df[s.REPORTER_PSEUDONYM].isna().all()
    assert not df[s.HAS_NOTES].any()


def test_extra_columns_are_dropped_with_a_warning(settings, landing):
    rows = [{**recon(i), "shift_code": "N", "comment": "x"} for i in range(2)]
    land(landing, RECON, "part-000.csv", csv_text(rows))
    result = ingest_source(settings, RECON, DAY)
    assert result.accepted == 2
    assert any("['shift_code', 'comment']" in w and "dropped" in w for w in result.warnings)
    assert list(bronze(settings, RECON).columns) == s.RECONCILIATION_LOGS.bronze_columns


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [
        ("part-001.parquet", "recon_id,warehouse_id\nRC-1,WH-1\n", "is not a Parquet file"),
        ("part-001.csv", b"PAR1\x00\x01binary", "is not a CSV file"),
        ("part-001.csv", '{"recon_id": "RC-1"}\n', "looks like JSON Lines"),
        ("part-001.jsonl", "recon_id,warehouse_id\nRC-1,WH-1\n", "is not a JSON Lines file"),
        ("part-001.parquet", b"PAR1 but then cut off", "cannot be read as Parquet"),
    ],
)
def test_file_that_is_not_its_claimed_format_fails_the_source(settings, landing, name, data, match):
    land(landing, RECON, "part-000.csv", csv_text([recon(1)]))
    land(landing, RECON, name, data)
    with pytest.raises(InputError, match=match) as err:
        ingest_source(settings, RECON, DAY)
    assert name in str(err.value)
    assert not (Path(settings.lake_uri) / "bronze" / RECON / f"date={DAY}").exists()


# ---------------------------------------------------------------------------- bad input: rows
def test_truncated_csv_quarantines_only_the_cut_rows(settings, landing):
    text = csv_text([recon(i) for i in range(4)])
    lines = text.splitlines(keepends=True)
    short = "RC-00009,WH-DE-001,2024-03-01\n"  # a short row in the middle
    cut = lines[4][: len(lines[4]) // 2]  # the export died half-way through the last line
    land(landing, RECON, "part-000.csv", "".join(lines[:3]) + short + lines[3] + cut)
    result = ingest_source(settings, RECON, DAY)
    assert (result.read, result.accepted, result.quarantined) == (5, 3, 2)
    q = quarantine(settings, RECON)
    assert q[s.SOURCE_ROW].tolist() == [3, 5]
    assert all(r.startswith("truncated row") for r in q[s.REASON])
    # fields that may have shifted are not split into columns: the raw line is kept
    assert q[s.RECON_ID].isna().all()
    assert q[s.RAW_LINE].tolist() == [short.strip(), cut]


def test_last_row_without_line_end_is_quarantined(settings, landing):
    land(landing, RECON, "part-000.csv", csv_text([recon(1), recon(2)]).rstrip("\n"))
    result = ingest_source(settings, RECON, DAY)
    assert (result.accepted, result.quarantined) == (1, 1)
    assert "no line end" in quarantine(settings, RECON)[s.REASON].iloc[0]


def test_non_utf8_bytes_quarantine_their_row_only(settings, landing):
    text = csv_text([report(i) for i in range(3)])
    note = report(1)[s.NOTES]
    data = text.encode("utf-8").replace(note.encode(), "Übergabe geprüft".encode("cp1252"))
    land(landing, REPORTS, "part-000.csv", data)
    result = ingest_source(settings, REPORTS, DAY)
    assert (result.accepted, result.quarantined) == (2, 1)
    q = quarantine(settings, REPORTS)
    assert q[s.REASON].tolist() == ["non-UTF-8 bytes in column 'notes'"]
    assert q[s.REPORT_ID].tolist() == ["SR-00001"] and bool(q[s.HAS_NOTES].iloc[0])
    assert s.NOTES not in q.columns


def test_wrong_types_are_quarantined_with_a_specific_reason(settings, landing):
    rows = [
        recon(0),
        recon(1, **{s.EXPECTED_UNITS: "twelve"}),
        recon(2, **{s.UNIT_VALUE_EUR: "12,5", s.IS_HVG: "maybe"}),
        recon(3, **{s.COUNT_DATE: "2024-02-30"}),
        recon(4, **{s.COUNTED_UNITS: "9.5"}),
        recon(5, **{s.EXPECTED_UNITS: " 10 ", s.COUNTED_UNITS: "9.0", s.IS_HVG: "No"}),
    ]
    land(landing, RECON, "part-000.csv", csv_text(rows))
    result = ingest_source(settings, RECON, DAY)
    assert (result.accepted, result.quarantined) == (2, 4)
    reasons = dict(
        zip(
            quarantine(settings, RECON)[s.RECON_ID],
            quarantine(settings, RECON)[s.REASON],
            strict=True,
        )
    )
    assert reasons["RC-00001"] == "expected_units: 'twelve' is not an integer"
    assert reasons["RC-00002"] == (
        "is_hvg: 'maybe' is not a boolean (true/false); unit_value_eur: '12,5' is not a finite number"
    )
    assert reasons["RC-00003"] == "count_date: '2024-02-30' is not a date (YYYY-MM-DD)"
    assert reasons["RC-00004"] == "counted_units: '9.5' is not an integer"
    ok = bronze(settings, RECON).set_index(s.RECON_ID)
    assert ok.loc["RC-00005", s.EXPECTED_UNITS] == 10 and ok.loc["RC-00005", s.COUNTED_UNITS] == 9
    assert not ok.loc["RC-00005", s.IS_HVG]


def test_timestamps_in_any_iso_form_are_read_as_utc(settings, landing):
    rows = [
        report(0, **{s.INCIDENT_AT: "2024-02-29 23:15:00+01:00"}),
        report(1, **{s.INCIDENT_AT: "2024-02-29T22:15:00"}),
        report(2, **{s.INCIDENT_AT: "yesterday"}),
    ]
    land(landing, REPORTS, "part-000.csv", csv_text(rows))
    result = ingest_source(settings, REPORTS, DAY)
    assert (result.accepted, result.quarantined) == (2, 1)
    assert (bronze(settings)[s.INCIDENT_AT] == pd.Timestamp("2024-02-29T22:15:00Z")).all()
    assert (
        quarantine(settings)[s.REASON].iloc[0]
        == "incident_at: 'yesterday' is not an ISO 8601 timestamp"
    )


def test_path_like_ids_are_quarantined(settings, landing):
    rows = [recon(0), recon(1, **{s.RECON_ID: "../x"}), recon(2, **{s.WAREHOUSE_ID: "a/b"})]
    land(landing, RECON, "part-000.csv", csv_text(rows))
    ingest_source(settings, RECON, DAY)
    assert quarantine(settings, RECON)[s.REASON].tolist() == [
        "recon_id: '../x' is not a safe identifier",
        "warehouse_id: 'a/b' is not a safe identifier",
    ]


def test_jsonl_bad_lines_are_quarantined(settings, landing):
    lines = [json.dumps(recon(0)), "{not json}", "[1, 2]", json.dumps(recon(3))[:40]]
    land(landing, RECON, "part-000.jsonl", "\n".join(lines))
    result = ingest_source(settings, RECON, DAY)
    assert (result.read, result.accepted, result.quarantined) == (4, 1, 3)
    assert quarantine(settings, RECON)[s.REASON].tolist() == [
        "invalid JSON at character 1",
        "line is not a JSON object",
        "truncated row",
    ]


def test_exact_duplicates_are_quarantined_and_conflicts_kept(settings, landing):
    land(landing, REPORTS, "part-000.csv", csv_text([report(i) for i in range(3)]))
    # a re-delivered file, plus a row that reuses a key with other content
    land(landing, REPORTS, "part-001.csv", csv_text([report(i) for i in range(3)]))
    land(landing, REPORTS, "part-002.csv", csv_text([report(1, **{s.STATUS: "unconfirmed"})]))
    result = ingest_source(settings, REPORTS, DAY)
    assert (result.read, result.accepted, result.quarantined, result.duplicates) == (7, 4, 3, 3)
    q = quarantine(settings)
    assert q[s.REASON].tolist() == [
        f"duplicate of {REPORTS}/date={DAY}/part-000.csv row {n}" for n in (1, 2, 3)
    ]
    df = bronze(settings)
    conflict = df[df[s.REPORT_ID] == "SR-00001"]
    assert conflict[s.STATUS].tolist() == ["confirmed", "unconfirmed"]  # validation decides


# ---------------------------------------------------------------------------- PII
def test_pii_never_reaches_bronze_quarantine_results_or_logs(settings, landing, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    rows = [report(i) for i in range(3)] + [report(7, **{s.UNITS: "many"}), report(0)]
    land(landing, REPORTS, "part-000.csv", csv_text(rows))
    land(landing, REPORTS, "part-001.csv", csv_text([report(8)])[:-30])  # truncated, with PII
    result = ingest_source(settings, REPORTS, DAY)
    assert reconciles(result) and result.quarantined == 3

    secrets = [r[s.REPORTER_ID] for r in rows + [report(8)]]
    secrets += [r[s.NOTES] for r in rows] + ["Jane Roe", "badge 4711"]
    out = capsys.readouterr()
    texts = {
        "logs": caplog.text,
        "stdout": out.out + out.err,
        "result": json.dumps(result.to_dict()),
        # every cell of every lake file (Parquet pages are compressed: read them back)
        **{p.name: pd.read_parquet(p).to_csv() for p in Path(settings.lake_uri).rglob("*.parquet")},
    }
    for where, text in texts.items():
        leaked = [x for x in secrets if x in text]
        assert not leaked, f"PII {leaked} in {where}"
    df = bronze(settings)
    assert s.REPORTER_ID not in df.columns and s.NOTES not in df.columns
    key = TEST_PII_KEY.encode()
    assert df[s.REPORTER_PSEUDONYM].tolist() == [
        pseudonym(f"EMP-{70000 + i}", key) for i in range(3)
    ]
    assert df[s.HAS_NOTES].all()
    q = quarantine(settings)
    assert s.REPORTER_ID not in q.columns and s.NOTES not in q.columns
    assert q[s.REPORTER_PSEUDONYM].tolist()[:2] == [
        pseudonym(f"EMP-{n}", key) for n in (70007, 70000)
    ]


# ---------------------------------------------------------------------------- reference, days, CLI
def test_reference_sources_are_snapshotted_per_day(settings, landing):
    land_reference(landing)
    land(
        landing,
        "warehouses",
        "override.csv",
        "warehouse_id,country,region,sqft,opened_on\nWH-X,DE,DACH,1,2020-01-01\n",
        day=date(2024, 3, 2),
    )
    assert ingest_source(settings, "warehouses", DAY).files == ["warehouses.csv"]
    wh = bronze(settings, "warehouses")
    assert wh[s.SQFT].tolist() == [120000.0, 90000.5]
    assert str(wh[s.OPENED_ON].dtype) == "datetime64[ns]"
    assert ingest_source(settings, "warehouses", date(2024, 3, 2)).accepted == 1
    ev = ingest_source(settings, "events", DAY)
    assert ev.accepted == 1 and bronze(settings, "events")[s.SCOPE_ID].isna().all()


def test_backfill_equals_day_by_day_and_goes_on_past_a_missing_day(settings_factory, tmp_path):
    days = [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
    root = tmp_path / "landing"
    land_reference(root)
    for n, day in enumerate(days[::2]):
        land(
            root, REPORTS, "part-000.csv", csv_text([report(10 * n + i) for i in range(3)]), day=day
        )
        land(root, RECON, "part-000.csv", csv_text([recon(10 * n + i) for i in range(2)]), day=day)
    one = settings_factory(lake_uri=str(tmp_path / "lake-range"))
    summary = run_ingest(one, days, validate=False)
    assert [d["exit_code"] for d in summary] == [0, 1, 0]  # nothing arrived on the 2nd: missing, a warning
    assert {r["arrival"] for r in summary[1]["sources"].values()} == {"missing"}
    assert summary[0]["read"] == 3 + 2 + 2 + 1 and summary[0]["sources"][REPORTS]["accepted"] == 3
    each = settings_factory(lake_uri=str(tmp_path / "lake-each"))
    for day in days[::2]:
        run_ingest(each, [day], validate=False)

    def landed(files: dict[str, bytes]) -> dict[str, bytes]:  # the days that had a drop (Data Docs: a
        # backfill builds pages for its last day and days with a problem only)
        return {k: v for k, v in files.items() if "2024-03-02" not in k and not k.startswith(("alerts", "data_docs"))}

    assert landed(lake_files(one)) == landed(lake_files(each)) and landed(lake_files(one))
    with pytest.raises(StorageError, match="no landing drop for 2024-03-02"):
        run_ingest(each, [days[1]])  # a single day nothing landed for: a wrong date or landing_uri


def test_cli_ingest_exit_codes(settings, landing, monkeypatch):
    from typer.testing import CliRunner

    from forecasting.cli import app

    monkeypatch.setenv("RISKCAST_LANDING_URI", settings.landing_uri)
    monkeypatch.setenv("RISKCAST_LAKE_URI", settings.lake_uri)
    runner = CliRunner()
    missing = runner.invoke(app, ["ingest", "--date", "2024-03-01", "--no-validate"])
    assert missing.exit_code == 2 and "no landing drop for 2024-03-01" in missing.output
    land_reference(landing)
    land(landing, REPORTS, "part-000.csv", csv_text([report(0), report(1, **{s.UNITS: "x"})]))
    land(landing, RECON, "part-000.csv", csv_text([recon(0)]))
    ok = runner.invoke(app, ["ingest", "--date", "2024-03-01", "--no-validate"])
    assert ok.exit_code == 1, ok.output  # rows were quarantined
    day = json.loads(ok.stdout)[0]
    assert (day["read"], day["accepted"], day["quarantined"]) == (6, 5, 1)


# ---------------------------------------------------------------------------- sample network
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sample_network_with_faults_end_to_end(settings_factory, tmp_path):
    """The demo generator's drops (every fault injected once) through a backfill."""
    from datetime import timedelta

    from forecasting.demo.faults import min_days_for_faults
    from forecasting.demo.generate import generate_network

    out, start, n_days = tmp_path / "land", date(2024, 1, 1), min_days_for_faults()
    generate_network(str(out), 3, start, n_days, 7, True)
    faults = {f[s.FAULT_NAME]: f for f in json.loads((out / "_truth" / "faults.json").read_text())}
    settings = settings_factory(landing_uri=str(out))
    days = [start + timedelta(days=d) for d in range(n_days)]
    summary = {d["date"]: d for d in run_ingest(settings, days, validate=False)}  # staged, not validated

    for day in summary.values():
        for r in day["sources"].values():
            assert r["error"] or r["read"] == r["accepted"] + r["quarantined"], (day["date"], r)

    def outcome(name: str) -> tuple[dict, dict]:
        fault = faults[name]
        return fault, summary[fault[s.FAULT_DATE]]["sources"][fault[s.FAULT_SOURCE]]

    def quarantined(name: str) -> pd.DataFrame:
        fault, _ = outcome(name)
        return quarantine(settings, fault[s.FAULT_SOURCE], date.fromisoformat(fault[s.FAULT_DATE]), staged=True)

    for name, reason in [
        ("wrong_type", "units: 'twelve' is not an integer"),
        ("non_utf8_bytes", "non-UTF-8 bytes in column 'notes'"),
    ]:
        q = quarantined(name)
        assert set(faults[name][s.FAULT_IDS]) <= set(q[s.REPORT_ID]) and reason in set(q[s.REASON])
    q = quarantined("path_like_id")
    assert q[s.REASON].str.contains("is not a safe identifier").sum() == 2
    assert quarantined("truncated_file")[s.REASON].str.startswith("truncated row").sum() == 1
    for name, text in [
        ("missing_column", "'reason_code' is missing"),
        ("format_mismatch", "is not a Parquet file"),
    ]:
        fault, result = outcome(name)
        assert text in result["error"] and fault[s.FAULT_FILE] in result["error"]
    assert any("empty file" in w for w in outcome("empty_file")[1]["warnings"])
    assert any("shift_code" in w for w in outcome("extra_column")[1]["warnings"])
    fault, result = outcome("duplicate_report_id")  # same key, other content: for validation
    df = bronze(settings, REPORTS, date.fromisoformat(fault[s.FAULT_DATE]), staged=True)
    assert df[s.REPORT_ID].isin(fault[s.FAULT_IDS]).sum() == 2 * len(fault[s.FAULT_IDS])
    assert outcome("empty_day")[1]["read"] == 0

    def data(files: dict[str, bytes]) -> dict[str, bytes]:  # the stage alerts the held rows again
        return {k: v for k, v in files.items() if not k.startswith("alerts")}

    before = data(lake_files(settings))
    stage("ingest").run(settings, REPORTS, [date.fromisoformat(faults["wrong_type"][s.FAULT_DATE])])
    assert data(lake_files(settings)) == before


def test_vectorised_id_check_matches_lake_rule():
    import pyarrow as pa

    from forecasting.core.errors import ConfigError
    from forecasting.core.lake import validate_identifier
    from forecasting.ingest.coercion import _unsafe_ids

    values = ["a", "a.b", "a..b", "../x", "a/b", ".a", "a.", "A-1_x.y", "x" * 128, "x" * 129]
    values += ["a.-b", "-a", "naïve", "a b", "1..", "WH-DE-001", "SR-00000001"]

    def unsafe(v: str) -> bool:
        try:
            validate_identifier(v)
        except ConfigError:
            return True
        return False

    assert _unsafe_ids(pa.array(values)).tolist() == [unsafe(v) for v in values]


def test_progress_bars_nest_for_backfills_of_multi_file_drops():
    from forecasting.core.progress import progress_task

    ticks = []
    with progress_task("days", 2) as day_done:
        for _ in range(2):
            with progress_task("files", 3) as file_done:  # joins the days bar, no second display
                for _ in range(3):
                    file_done()
                    ticks.append(1)
            day_done()
    with progress_task("one file", 1) as done:  # a single step shows no bar
        done()
    assert len(ticks) == 6


def test_file_without_header_fails_without_quoting_its_first_row(settings, landing):
    row = report(1)
    land(landing, REPORTS, "part-000.csv", csv_text([row]).split("\n", 1)[1])  # header cut off
    with pytest.raises(InputError, match="has no header row") as err:
        ingest_source(settings, REPORTS, DAY)
    assert row[s.REPORTER_ID] not in str(err.value) and "Jane Roe" not in str(err.value)


def test_has_notes_flag_ignores_blank_text(settings, landing):
    rows = [report(0), report(1, **{s.NOTES: "   "}), report(2, **{s.NOTES: ""})]
    rows += [report(3, **{s.NOTES: "", s.UNITS: "bad"})]  # quarantined: flag there too
    land(landing, REPORTS, "part-000.csv", csv_text(rows))
    ingest_source(settings, REPORTS, DAY)
    assert bronze(settings)[s.HAS_NOTES].tolist() == [True, False, False]
    assert quarantine(settings)[s.HAS_NOTES].tolist() == [False]
