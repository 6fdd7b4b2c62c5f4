"""The PII screen (``forecasting.ingest.screen``): personal data in a column not meant for it
is hashed or held back, never stored raw, on the whole and the streamed path; the sample
network's clean values never trip it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from forecasting.core import schema as s
from forecasting.core.config import load_settings
from forecasting.core.lake import Lake
from forecasting.demo.generate import generate_network
from forecasting.ingest.drop import ingest_source
from forecasting.ingest.pii import pseudonym
from forecasting.ingest.screen import Screen
from forecasting.stages import run_ingest
from tests.support.demo_landing import read_source
from tests.support.keys import TEST_PII_KEY
from tests.support.landing import DAY, csv_text, land, land_reference, recon, report

SCREEN = Screen(dict(load_settings().pii_screen.patterns), TEST_PII_KEY.encode())
PERSONAL = {
    "jane.roe@example.com": "e-mail address",
    "mail j.roe+ops@mail.example.co.uk now": "e-mail address",
    "+44 20 7946 0958": "phone number",
    "+49 170 1234567": "phone number",
    "+33.1.23.45.67.89": "phone number",
    "0049 (0)30 123456": "phone number",
    "tel. 0049 30 1234567": "phone number",
    "(0033 1 23 45 67 89)": "phone number",
    "030 1234567": "phone number",
    "0170-123 4567": "phone number",
    "EMP-04711": "employee id",
    "DE89 3704 0044 0532 0130 00": "IBAN",
    "GB29NWBK60161331926819": "IBAN",
    "Witness: Łukasz Nowak": "person's name",
    "Dr. Müller": "person's name",
}
CLEAN = ["SKU-00123", "SKU-0000", "WH-DE-001", "SR-000000123", "RC-00002", "RC-00100083", "SR-00123456",
         "RC-0012345678", "SKU-0049301234", "2024-03-01", "12.5",
         "100.25", "2024-02-29T22:15:00Z", "2024-02-29T22:15:00+01:00", "2024-02-29 22:15:00.000+0000",
         "1.5e+10", "-0.25", "0", "UNEXPLAINED", "Fulfilment Centre Nürnberg", "DACH", "SEV3",
         "Black Friday", "true", "450", "0.05", "00123", "+1", "W007"]  # fmt: skip


@pytest.mark.parametrize("value", list(PERSONAL))
def test_each_shape_of_personal_data_is_found_and_named(value):
    assert SCREEN.find(pa.array([value, "SKU-0001"])).tolist() == [True, False]
    assert SCREEN.kinds(pa.array([value])) == [PERSONAL[value]]


def test_the_contracts_own_values_are_not_personal_data():
    assert not SCREEN.find(pa.array(CLEAN)).any(), [v for v in CLEAN if SCREEN.find(pa.array([v]))[0]]


def test_the_clean_sample_network_triggers_no_screen_hit(tmp_path):
    """Every value of every source of the sample network (the contract's PII columns aside:
    reporter ids and notes hold personal data by design) passes the screen untouched."""
    generate_network(str(tmp_path), 6, date(2024, 11, 18), 28, seed=5, faults=False)
    private = {s.REPORTER_ID, s.NOTES}
    checked = 0
    for source in s.CONTRACTS:
        frame = read_source(tmp_path, source) if (tmp_path / source).is_dir() else _reference(tmp_path, source)
        for col in frame.columns.difference([*private, "_drop"]):
            values = pa.array(frame[col].astype(str).tolist(), pa.string())
            hits = SCREEN.find(values)
            assert not hits.any(), (source, col, sorted(set(frame[col][hits])))[:3]
            checked += len(values)
    assert checked > 3_000
    notes = pa.array(read_source(tmp_path, s.SECURITY_REPORTS.name)[s.NOTES].tolist(), pa.string())
    assert SCREEN.find(notes).any()  # (the check can fail: the notes do hold names and phones)


def _reference(root: Path, source: str) -> pd.DataFrame:
    path = next(root.glob(f"{source}.*"))
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _lake_text(settings) -> str:
    """Every bronze and quarantine value of the day, as text."""
    lake = Lake.from_settings(settings)
    frames = []
    for source in s.CONTRACTS:
        for uri in (lake.bronze_file(source, DAY), lake.ingest_quarantine(source, DAY)):
            if lake.exists(uri):
                frames.append(lake.read_parquet(uri).astype(str).to_csv())
    return "\n".join(frames)


@pytest.mark.parametrize("block", [None, 64], ids=["whole", "blocks"])
def test_personal_data_in_other_columns_never_lands_raw(settings_factory, block):
    settings = settings_factory()
    if block is not None:
        settings = settings.model_copy(update={"intake_block_bytes": block})
    landing = Path(settings.landing_uri)
    rows = [report(i) for i in range(5)]
    rows[1][s.SKU] = "+44 20 7946 0958"  # an identifier: the row is held back
    rows[2][s.UNITS] = "jane.roe@example.com"  # a count: held back, the value not quoted
    rows[3][s.CATEGORY] = "ask EMP-04711"  # plain text: kept, as its keyed hash
    land(landing, s.SECURITY_REPORTS.name, "a.csv", csv_text(rows))
    result = ingest_source(settings, s.SECURITY_REPORTS.name, DAY)
    assert (result.accepted, result.quarantined) == (3, 2)
    lake = Lake.from_settings(settings)
    held = lake.read_parquet(lake.ingest_quarantine(s.SECURITY_REPORTS.name, DAY)).set_index(s.SOURCE_ROW)
    assert held.loc[2, s.REASON] == "personal data in column 'sku' (phone number): value withheld"
    assert held.loc[3, s.REASON] == "personal data in column 'units' (e-mail address): value withheld"
    assert pd.isna(held.loc[2, s.SKU]) and pd.isna(held.loc[3, s.UNITS])
    bronze = lake.read_parquet(lake.bronze_file(s.SECURITY_REPORTS.name, DAY)).set_index(s.SOURCE_ROW)
    assert bronze.loc[4, s.CATEGORY] == pseudonym("ask EMP-04711", TEST_PII_KEY.encode())
    text = _lake_text(settings)
    assert not any(v in text for v in ("7946", "jane.roe", "EMP-04711"))


def test_without_a_key_a_plain_text_hit_is_held_back_and_lines_are_screened(settings_factory, monkeypatch):
    """A source without PII columns and no key configured: nothing to hash with, so the row is
    held back; an unsplittable line that shows personal data is not kept either."""
    monkeypatch.delenv("RISKCAST_PII_KEY")
    settings = settings_factory()
    landing = Path(settings.landing_uri)
    rows = [recon(i) for i in range(4)]
    rows[1][s.REASON_CODE] = "call +49 170 1234567"
    text = csv_text(rows) + 'RC-00099,WH-DE-001,2024-03-01,"jane.roe@example.com\n'
    land(landing, s.RECONCILIATION_LOGS.name, "a.csv", text)
    result = ingest_source(settings, s.RECONCILIATION_LOGS.name, DAY)
    assert (result.accepted, result.quarantined) == (3, 2)
    lake = Lake.from_settings(settings)
    held = lake.read_parquet(lake.ingest_quarantine(s.RECONCILIATION_LOGS.name, DAY)).set_index(s.SOURCE_ROW)
    assert held.loc[2, s.REASON] == "personal data in column 'reason_code' (phone number): value withheld"
    assert "personal data in the raw line: line withheld" in held.loc[5, s.REASON]
    assert pd.isna(held.loc[5, s.RAW_LINE])
    assert "1234567" not in _lake_text(settings) and "jane.roe" not in _lake_text(settings)


def test_the_screen_is_a_setting(settings_factory):
    settings = settings_factory(pii_screen={"enabled": False})
    land(Path(settings.landing_uri), s.RECONCILIATION_LOGS.name, "a.csv",
         csv_text([recon(0, **{s.SKU: "jane.roe@example.com"})]))  # fmt: skip
    assert ingest_source(settings, s.RECONCILIATION_LOGS.name, DAY).accepted == 1  # off: as it landed
    with pytest.raises(Exception, match=r"pii_screen.patterns.*not a valid RE2"):
        settings_factory(pii_screen={"patterns": {"broken": "(unclosed"}})


def test_alerts_and_data_docs_quote_screened_values_only(settings_factory):
    """A site name holding a phone number: bronze keeps its hash, the other row's SKU holding
    an e-mail address is held back; the day's alert, quarantine and Data Docs never show either."""
    settings = settings_factory()
    landing = Path(settings.landing_uri)
    land_reference(landing)
    (landing / "warehouses.csv").write_text(
        "warehouse_id,name,country,region,sqft,opened_on\n"
        "WH-DE-000,Call +49 30 1234567,DE,DACH,120000,2015-04-01\nWH-DE-001,Hamburg,DE,DACH,90000,2018-01-15\n"
    )
    rows = [recon(i) for i in range(6)]
    rows[2][s.SKU] = "jane.roe@example.com"
    land(landing, s.RECONCILIATION_LOGS.name, "a.csv", csv_text(rows))
    land(landing, s.SECURITY_REPORTS.name, "a.csv", csv_text([report(i) for i in range(3)]))
    summary = run_ingest(settings, [DAY], sweep=False)[0]
    assert summary["sources"][s.RECONCILIATION_LOGS.name]["quarantined"] == 1
    lake = Lake.from_settings(settings)
    outbox = Path(lake.outbox).read_text() if Path(lake.outbox).exists() else ""
    assert "personal data in column 'sku'" in outbox  # the alert says what, not the value
    docs = "".join(p.read_text(errors="replace") for p in Path(lake.data_docs).rglob("*.html"))
    for text in (outbox, docs, _lake_text(settings), json.dumps(summary, default=str)):
        assert "jane.roe" not in text and "1234567" not in text


def test_many_hits_each_get_their_own_kind(settings_factory):
    """Hits are named in bulk (one search per pattern): each row its own kind, in order."""
    settings = settings_factory()
    rows = [recon(i, **{s.COUNTED_UNITS: "jane.roe@example.com" if i % 2 else "+49 170 1234567",
                        s.SKU: "EMP-04711" if i % 3 == 0 else f"SKU-{i:04d}"}) for i in range(40)]  # fmt: skip
    land(Path(settings.landing_uri), s.RECONCILIATION_LOGS.name, "a.csv", csv_text(rows))
    assert ingest_source(settings, s.RECONCILIATION_LOGS.name, DAY).quarantined == 40
    lake = Lake.from_settings(settings)
    held = lake.read_parquet(lake.ingest_quarantine(s.RECONCILIATION_LOGS.name, DAY))
    for row, why in zip(held[s.SOURCE_ROW], held[s.REASON], strict=True):
        i = row - 1
        count = "e-mail address" if i % 2 else "phone number"
        expected = [f"personal data in column 'counted_units' ({count}): value withheld"]
        if i % 3 == 0:
            expected.insert(0, "personal data in column 'sku' (employee id): value withheld")
        assert why == "; ".join(expected), (row, why)
