"""The damaged-landing corpus (``tests/support/damaged_landing.py``): every rule of ingest,
asserted for every kind of damage, on all four sources.

Rules checked for every case:
1. nothing silent: the source-day is either ingested, with every entry of the day folder
   in ``files`` and ``file_rows[f]["read"] == accepted + quarantined`` for each file, or
   refused with an error naming the file, the reason and a fix, and nothing in bronze;
2. no row lost: the data rows of each file (bronze + quarantine ``source_row``) are
   exactly 1..read, and each kept row sits at its own row number (ids encode the row);
3. no raw PII anywhere in bronze or quarantine (reporter ids and notes of the reports, and
   phone numbers, e-mail addresses, IBANs and employee ids in columns not meant for them);
4. no crash: only riskcast's own errors, never a traceback-worthy exception.

Kinds covered (72), by group:
- quoting and field counts: unterminated quote mid-file; unterminated quote in an
  18-line file; unterminated quote on the last row; two stray quotes that pair up; a
  row missing a field (values shift); a row with an extra field; a row missing a field
  in a reference file; last line cut mid-value; last line cut without a line end; a
  quote inside an unquoted field; a valid quoted value over two lines; multi-line values
  then an unterminated quote; CRLF line ends; blank lines between rows; UTF-8 BOM;
  header only;
- bytes and encodings: non-UTF-8 byte in a required cell; in an optional site name; in
  an optional event name; UTF-16 with BOM; UTF-16 without BOM; UTF-32; binary garbage
  named .csv; Parquet content named .csv; JSON Lines named .csv; CSV named .jsonl;
  cut-off Parquet;
- compression: gzip .csv.gz; zstd .csv.zst; gzip content named .csv; gzip .jsonl.gz;
  cut-off gzip; cut-off zstd; compressed twice; named .gz but not compressed;
- file names: data named .txt; leading underscore; leading dot; no extension; stray text
  file; empty marker file beside data; empty data file; whitespace-only file;
- paths: symlink out of the landing area; symlink inside it; folder named like a data
  file; reference file that is a folder; reference file that is a symlink; unreadable
  file (PermissionError); day folder linked outside the landing area; day folder that is a
  plain file; source folder that is a plain file; named pipe in the day folder; a lone folder
  named like a data file;
- headers: no header row; required column missing; duplicate header column; trailing
  blank header column;
- JSON Lines: invalid line; nested value; last line cut; a line that is an array;
- values: re-delivered file (exact duplicates); unsafe identifier; HTML payload in text
  columns; header line repeated mid-file;
- personal data (``ingest.screen``): a phone number in the SKU column; an e-mail address in a
  unit count; an e-mail address as a business key; an IBAN in a site name; an employee id in
  an event name; a phone number in an unsplittable line.
Run-level kinds (one bad file among good sources; missing PII key) are at the end.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from forecasting.core import schema as s
from forecasting.core.errors import InputError, RiskcastError
from forecasting.core.lake import Lake
from forecasting.core.layout import BRONZE_FILE, INGEST_QUARANTINE_FILE, SUCCESS_MARKER
from forecasting.ingest.drop import ingest_source
from forecasting.stages import run_ingest
from tests.support.damaged_landing import (
    FIFO,
    FOLDER,
    LINK_IN,
    LINK_OUT,
    REPORTS,
    ROOT,
    UNREADABLE,
    Case,
    corpus,
    reports_csv,
)
from tests.support.landing import DAY, csv_text, land, land_reference, recon, report

CASES = corpus()
FIX_WORDS = ("fix", "re-export", "deliver", "rename", "copy", "move", "make", "remove", "replace")
PII = re.compile(r"EMP-7\d{4}|Jane Roe|badge 4711|7946 0958|jane\.roe@|DE89 3704")
ROW_OF_ID = re.compile(r"^(?:SR-|RC-|WH-DE-)(\d+)$")


def test_the_corpus_has_at_least_40_kinds_on_all_four_sources():
    assert len({c.kind for c in CASES}) == len(CASES) >= 40
    assert {c.source for c in CASES} == set(s.CONTRACTS)


def _write(landing: Path, case: Case, tmp_path: Path, monkeypatch) -> None:
    folder = landing / case.source / f"date={DAY}"
    if case.day_link:
        outside = tmp_path / "outside"
        outside.mkdir()
        folder.parent.mkdir(parents=True)
        folder.symlink_to(outside, target_is_directory=True)
    if case.not_folder:  # the day (or source) "folder" is a plain file holding the data
        entry = folder if case.not_folder == "day" else folder.parent
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text("".join(str(d) for d in case.files.values()))
        return
    for name, data in case.files.items():
        path = landing / name[len(ROOT) :] if name.startswith(ROOT) else folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data == LINK_OUT:
            target = tmp_path / "elsewhere.csv"
            target.write_text(reports_csv())
            path.symlink_to(target)
        elif data == LINK_IN:
            path.symlink_to(folder / "a.csv")
        elif data == FOLDER:
            path.mkdir()
            (path / "part.csv").write_text(reports_csv())
        elif data == FIFO:
            os.mkfifo(path)
        elif data == UNREADABLE:
            path.write_text(reports_csv())
            _refuse_reading(monkeypatch, str(path))
        else:
            path.write_bytes(data.encode() if isinstance(data, str) else data)


def _refuse_reading(monkeypatch, path: str) -> None:
    """Tests run as root, where chmod 000 still reads: make this one file raise instead."""
    for method in ("read_bytes", "open"):  # whole, and in blocks
        real = getattr(Lake, method)

        def refused(self, uri, _real=real):
            if uri.endswith(path):
                raise PermissionError(13, "Permission denied", uri)
            return _real(self, uri)

        monkeypatch.setattr(Lake, method, refused)


def _parquet(settings, kind: str, source: str) -> pd.DataFrame:
    lake = Lake.from_settings(settings)
    folder = lake.bronze(source, DAY) if kind == "bronze" else lake.quarantine(source, DAY)
    uri = f"{folder}/{BRONZE_FILE if kind == 'bronze' else INGEST_QUARANTINE_FILE}"
    return lake.read_parquet(uri) if lake.exists(uri) else pd.DataFrame()


@pytest.mark.parametrize("block", [None, 64], ids=["whole", "blocks"])
@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_damaged_landing(settings_factory, tmp_path, monkeypatch, case: Case, block: int | None):
    settings = settings_factory()
    if block is not None:  # streamed in blocks of 64 bytes (below the setting's floor: tests only)
        settings = settings.model_copy(update={"intake_block_bytes": block})
    landing = Path(settings.landing_uri)
    _write(landing, case, tmp_path, monkeypatch)
    if case.error is not None:  # rule 1: refused loudly, named, with a fix; nothing kept
        with pytest.raises(RiskcastError) as err:
            ingest_source(settings, case.source, DAY)
        msg = str(err.value)
        assert isinstance(err.value, InputError), msg
        assert case.error in msg, msg
        named = [n[len(ROOT) :] if n.startswith(ROOT) else n for n in case.files]
        assert any(n in msg for n in named) or f"date={DAY}" in msg, msg
        assert any(w in msg for w in FIX_WORDS), msg
        assert "\n" not in msg and not PII.search(msg)
        assert _parquet(settings, "bronze", case.source).empty
        return
    result = ingest_source(settings, case.source, DAY)
    assert (result.accepted, result.quarantined) == (case.accepted, case.quarantined), result
    rel = f"{case.source}/date={DAY}"
    # rule 1: none skipped (but the source's completion marker, which is not data)
    assert result.files == sorted(f"{rel}/{n}" for n in case.files if n != SUCCESS_MARKER)
    assert sum(f["read"] for f in result.file_rows.values()) == result.read
    for rows in result.file_rows.values():
        assert rows["read"] == rows["accepted"] + rows["quarantined"]
    if case.warning:
        assert any(case.warning in w for w in result.warnings), result.warnings
    # a blank file (no header) is flagged in the manifest: it vouches for no quiet day; a
    # header-only file is a day of zero rows (validation's min_day_rows)
    blank = {n for n, rows in result.file_rows.items() if rows.get("blank")}
    assert (blank == set(result.files)) == (case.warning == "empty file"), (case.kind, blank)
    bronze = _parquet(settings, "bronze", case.source)
    held = _parquet(settings, "quarantine", case.source)
    for name, rows in result.file_rows.items():  # rule 2: every data row, once
        seen = [
            *bronze.loc[bronze[s.SOURCE_FILE] == name, s.SOURCE_ROW].tolist(),
            *(held.loc[held[s.SOURCE_FILE] == name, s.SOURCE_ROW].tolist() if len(held) else []),
        ]
        assert sorted(seen) == list(range(1, rows["read"] + 1)), (name, sorted(seen))
    key = s.CONTRACTS[case.source].key[0]
    if case.aligned and key in bronze:
        for rid, row in zip(bronze[key], bronze[s.SOURCE_ROW], strict=True):
            m = ROW_OF_ID.match(str(rid))
            assert m is None or int(m.group(1)) + 1 == row, (rid, row)
    for frame in (bronze, held):  # rule 3: no raw PII in any column
        for col in frame.columns:
            if frame[col].dtype in (object, "string"):
                assert not frame[col].dropna().astype(str).str.contains(PII).any(), col


# ---------------------------------------------------------------------------- run level
def test_one_bad_file_fails_only_its_own_source_day(settings_factory):
    """A file that cannot be read stops its own source-day (exit 2, alerted); the other
    sources are ingested and validation still runs."""
    settings = settings_factory()
    landing = Path(settings.landing_uri)
    land_reference(landing)
    land(landing, REPORTS, "part-000.csv", csv_text([report(i) for i in range(4)]))
    land(landing, REPORTS, "part-001.csv", "\ufeffx".encode("utf-16"))
    land(landing, s.RECONCILIATION_LOGS.name, "part-000.csv", csv_text([recon(i) for i in range(4)]))
    summary = run_ingest(settings, [DAY], sweep=False)[0]
    assert summary["exit_code"] == 2
    assert "UTF-16" in summary["sources"][REPORTS]["error"]
    assert summary["sources"][s.RECONCILIATION_LOGS.name]["accepted"] == 4
    assert summary["validation"]["sources"][s.RECONCILIATION_LOGS.name]["status"] != "skipped"
    assert any("contract broken: security_reports" in t for t in summary["alerts"])


def test_a_missing_pii_key_is_an_infrastructure_alert_for_the_platform_owner(
    settings_factory, monkeypatch
):
    monkeypatch.delenv("RISKCAST_PII_KEY")
    settings = settings_factory()
    landing = Path(settings.landing_uri)
    land_reference(landing)
    land(landing, REPORTS, "part-000.csv", csv_text([report(i) for i in range(2)]))
    land(landing, s.RECONCILIATION_LOGS.name, "part-000.csv", csv_text([recon(0)]))
    summary = run_ingest(settings, [DAY], sweep=False)[0]
    assert summary["sources"][REPORTS]["error_kind"] == "infrastructure"
    titles = list(summary["alerts"])
    assert "infrastructure: security_reports 2024-03-01 not ingested" in titles
    assert not any(t.startswith("contract broken: security_reports") for t in titles)
    assert summary["sources"][s.RECONCILIATION_LOGS.name]["accepted"] == 1


def test_a_day_that_is_a_file_fails_only_its_own_source_day_in_one_line(settings_factory):
    """``<source>/date=D`` delivered as a plain file: one line naming the path and the fix,
    exit 2 for that source-day, the other sources ingested and validated."""
    settings = settings_factory()
    landing = Path(settings.landing_uri)
    land_reference(landing)
    land(landing, s.RECONCILIATION_LOGS.name, "part-000.csv", csv_text([recon(i) for i in range(4)]))
    day = landing / REPORTS / f"date={DAY}"
    day.parent.mkdir(parents=True)
    day.write_text(csv_text([report(i) for i in range(4)]))
    summary = run_ingest(settings, [DAY], sweep=False)[0]
    assert summary["exit_code"] == 2
    error = summary["sources"][REPORTS]["error"]
    assert error.startswith(f"{REPORTS}/date={DAY}: is a file, not a folder") and "\n" not in error
    assert "make security_reports/date=2024-03-01 a folder" in error and not PII.search(error)
    assert summary["sources"][s.RECONCILIATION_LOGS.name]["accepted"] == 4
    assert summary["validation"]["sources"][s.RECONCILIATION_LOGS.name]["status"] != "skipped"
