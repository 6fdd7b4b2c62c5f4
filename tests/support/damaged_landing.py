"""A corpus of damaged landing drops, one ``Case`` per kind of damage, on all four sources.

Each case is a few small files for one source and day (``<landing>/<source>/date=D/``, or
the landing root for reference files), built from the valid rows of ``tests.support.landing``.
Row ids encode the data row: ``report(i)`` / ``recon(i)`` / site ``WH-DE-{i:03d}`` is
data row ``i + 1`` of its file, so a test can check that every ``source_row`` is right.

A file's content is bytes, or a special entry: ``LINK_OUT`` (a symbolic link to a file
outside the landing area), ``LINK_IN`` (a link to a file inside it), ``FOLDER`` (a folder
named like a data file), ``UNREADABLE`` (valid bytes that raise PermissionError on read),
``FIFO`` (a named pipe: reading it would block). ``Case.not_folder`` makes the day folder
(``"day"``) or the source's folder (``"source"``) a plain file instead.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from forecasting.core import schema as s
from tests.support.landing import csv_text, recon, report

REPORTS, RECON = s.SECURITY_REPORTS.name, s.RECONCILIATION_LOGS.name
SITES, EVENTS = s.WAREHOUSES.name, s.EVENTS.name
LINK_OUT, LINK_IN, FOLDER, UNREADABLE = "<link-out>", "<link-in>", "<folder>", "<unreadable>"
FIFO = "<fifo>"
PHONE, EMAIL, IBAN = "+44 20 7946 0958", "jane.roe@example.com", "DE89 3704 0044 0532 0130 00"
ROOT = "<root>"  # a file name prefix: the file lies at the landing root, not in the day folder


@dataclass
class Case:
    """One kind of damage. ``accepted`` / ``quarantined``: expected row counts (None: the
    source-day must be refused, with an error containing ``error``)."""

    kind: str
    source: str
    files: dict[str, bytes | str]
    accepted: int | None = None
    quarantined: int | None = None
    error: str | None = None
    warning: str | None = None  # a warning that must name the damage
    day_link: bool = False  # the day folder itself is a link to a folder outside the landing
    aligned: bool = True  # row ids encode the data row (see the module docstring)
    not_folder: str | None = None  # "day" / "source": that folder is a plain file (``files`` its text)
    extra: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------- valid content
def reports_csv(n: int = 6) -> str:
    return csv_text([report(i) for i in range(n)])


def recons_csv(n: int = 6) -> str:
    return csv_text([recon(i) for i in range(n)])


def sites_csv(n: int = 4, **over: str) -> str:
    rows = [
        {
            s.WAREHOUSE_ID: f"WH-DE-{i:03d}",
            s.WAREHOUSE_NAME: f"Site {i}",
            s.COUNTRY: "DE",
            s.REGION: "DACH",
            s.SQFT: str(10_000 + i),
            s.OPENED_ON: "2015-04-01",
            **over,
        }
        for i in range(n)
    ]
    return csv_text(rows)


def events_csv(n: int = 3) -> str:
    rows = [
        {s.EVENT_DATE: f"2024-03-0{i + 1}", s.SCOPE: "all", s.SCOPE_ID: "", s.EVENT_TYPE: "peak",
         s.EVENT_NAME: f"Sale {i}"}
        for i in range(n)
    ]  # fmt: skip
    return csv_text(rows)


def jsonl(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


# ---------------------------------------------------------------------------- damage helpers
def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def unclose_quote(text: str, row: int) -> str:
    """Drop the closing quote of the last quoted field on data ``row`` (1-based)."""
    ls = lines(text)
    line = ls[row]
    cut = line.rstrip("\n").rfind('"')
    ls[row] = line[:cut] + line[cut + 1 :]
    return "".join(ls)


def open_quote(text: str, row: int, column: int) -> str:
    """Start field ``column`` of data ``row`` with a quote that is never closed."""
    ls = lines(text)
    fields = ls[row].rstrip("\n").split(",")
    fields[column] = '"' + fields[column]
    ls[row] = ",".join(fields) + "\n"
    return "".join(ls)


def drop_field(text: str, row: int, column: int) -> str:
    ls = lines(text)
    fields = ls[row].rstrip("\n").split(",")
    del fields[column]
    ls[row] = ",".join(fields) + "\n"
    return "".join(ls)


def replace_in_row(text: str, row: int, old: bytes, new: bytes) -> bytes:
    ls = [ln.encode() for ln in lines(text)]
    ls[row] = ls[row].replace(old, new, 1)
    return b"".join(ls)


def zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


def parquet_bytes(text: str) -> bytes:
    table = pa_csv.read_csv(pa.BufferReader(text.encode()))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


# ---------------------------------------------------------------------------- the corpus
def corpus() -> list[Case]:
    """Every kind of damage the ingest rules are checked against (see test_corpus.py)."""
    r6, c6, w4, e3 = reports_csv(), recons_csv(), sites_csv(), events_csv()
    r_bytes, c_bytes = r6.encode(), c6.encode()
    header_r = lines(r6)[0]
    return [
        # --- quoting and field counts: the bad line is held back, every other row kept
        Case("csv unterminated quote mid-file", REPORTS, {"a.csv": unclose_quote(r6, 3)}, 5, 1),
        Case("csv unterminated quote, 18 lines", RECON, {"a.csv": open_quote(recons_csv(18), 4, 3)}, 17, 1),
        Case("csv unterminated quote on the last row", RECON, {"a.csv": open_quote(c6, 6, 3)}, 5, 1),
        Case("csv two stray quotes that pair up", REPORTS,
             {"a.csv": unclose_quote(unclose_quote(r6, 2), 5)}, 4, 2),
        Case("csv row missing a field (values shift)", REPORTS, {"a.csv": drop_field(r6, 2, 1)}, 5, 1),
        Case("csv row with an extra field", RECON,
             {"a.csv": c6.replace("RC-00003,", "RC-00003,EXTRA,", 1)}, 5, 1),
        Case("csv row missing a field in a reference file", SITES, {"a.csv": drop_field(w4, 2, 2)}, 3, 1),
        Case("csv last line cut mid-value", REPORTS, {"a.csv": r6[: len(r6) - 30]}, 5, 1),
        Case("csv last line cut without a line end", EVENTS, {"a.csv": e3.rstrip("\n")[:-3]}, 2, 1),
        Case("csv quote inside an unquoted field", RECON,
             {"a.csv": c6.replace("SKU-0002", 'SKU-0"002', 1)}, 6, 0),
        Case("csv quoted value over two lines (valid)", REPORTS,
             {"a.csv": csv_text([report(i, notes="line one\nline two") for i in range(4)])}, 4, 0),
        Case("csv multi-line value then an unterminated quote", REPORTS,
             {"a.csv": unclose_quote(csv_text([report(i, notes="a\nb") for i in range(5)]), 4)},
             4, 2, aligned=False),
        Case("csv CRLF line ends", RECON, {"a.csv": c6.replace("\n", "\r\n")}, 6, 0),
        Case("csv blank lines between rows", RECON, {"a.csv": c6.replace("\nRC-00003", "\n\n\nRC-00003")}, 6, 0),
        Case("csv UTF-8 byte order mark", REPORTS, {"a.csv": b"\xef\xbb\xbf" + r_bytes}, 6, 0),
        Case("csv header only", RECON, {"a.csv": lines(c6)[0]}, 0, 0),
        # --- bytes and encodings
        Case("non-UTF-8 byte in a required cell", SITES,
             {"a.csv": replace_in_row(w4, 2, b"DACH", b"DA\xffCH")}, 3, 1),
        Case("non-UTF-8 byte in an optional site name", SITES,
             {"a.csv": replace_in_row(w4, 2, b"Site", b"S\xefte")}, 4, 0, warning="emptied"),
        Case("non-UTF-8 byte in an optional event name", EVENTS,
             {"a.csv": replace_in_row(e3, 1, b"Sale", b"S\xe4le")}, 3, 0, warning="emptied"),
        Case("UTF-16 with a byte order mark", RECON,
             {"a.csv": b"\xff\xfe" + c6.encode("utf-16-le")}, error="UTF-16"),
        Case("UTF-16 without a byte order mark", REPORTS, {"a.csv": r6.encode("utf-16-be")}, error="UTF-16"),
        Case("UTF-32", EVENTS, {"a.csv": e3.encode("utf-32")}, error="UTF-32"),
        Case("binary garbage named .csv", RECON, {"a.csv": b"\x00\x01\x02garbage" * 20}, error="binary"),
        Case("Parquet content named .csv", SITES, {"a.csv": parquet_bytes(w4)}, error="is not a CSV file"),
        Case("JSON Lines content named .csv", RECON, {"a.csv": jsonl([recon(0)])}, error="JSON Lines"),
        Case("CSV content named .jsonl", EVENTS, {"a.jsonl": e3}, error="is not a JSON Lines file"),
        Case("cut-off Parquet file", SITES, {"a.parquet": parquet_bytes(w4)[:-40]}, error="Parquet"),
        # --- compression, by name and by content
        Case("gzip CSV named .csv.gz", REPORTS, {"a.csv.gz": gzip.compress(r_bytes)}, 6, 0),
        Case("zstd CSV named .csv.zst", RECON, {"a.csv.zst": zstd(c_bytes)}, 6, 0),
        Case("gzip content named .csv", REPORTS, {"a.csv": gzip.compress(r_bytes)}, 6, 0),
        Case("gzip JSON Lines named .jsonl.gz", EVENTS,
             {"a.jsonl.gz": gzip.compress(jsonl([{"date": "2024-03-01", "scope": "all",
                                                  "event_type": "peak"}]).encode())}, 1, 0),
        Case("cut-off gzip file", RECON, {"a.csv.gz": gzip.compress(c_bytes)[:-12]}, error="cannot be decompressed"),
        Case("cut-off zstd file", REPORTS, {"a.csv.zst": zstd(r_bytes)[:-5]}, error="cannot be decompressed"),
        Case("compressed twice", RECON, {"a.csv.gz": gzip.compress(gzip.compress(c_bytes))}, error="compressed twice"),
        Case("named .gz but not compressed", SITES, {"a.csv.gz": w4}, error="not gzip"),
        # --- file names: every file is read or refused, never skipped
        Case("data file named .txt", REPORTS, {"a.csv": r6, "b.txt": csv_text([report(6), report(7)])}, 8, 0,
             warning="by its content", aligned=False),
        Case("file name starting with an underscore", RECON, {"_part-001.csv": c6}, 6, 0),
        Case("file name starting with a dot", EVENTS, {".part-001.csv": e3}, 3, 0),
        Case("file without an extension", SITES, {"part-001": w4}, 4, 0, warning="by its content"),
        Case("stray text file in the day folder", REPORTS, {"a.csv": r6, "notes.txt": "see you\n"},
             error="no header row"),
        Case("completion marker beside the data (not data)", RECON, {"_SUCCESS": b"", "a.csv": c6}, 6, 0),
        Case("empty data file", EVENTS, {"a.csv": b""}, 0, 0, warning="empty file"),
        Case("whitespace-only data file", REPORTS, {"a.csv": "\n \n"}, 0, 0, warning="empty file"),
        # --- paths: links, folders, unreadable files
        Case("symlink to a file outside the landing area", SITES, {"a.csv": LINK_OUT}, error="symbolic link"),
        Case("symlink to a file inside the landing area", REPORTS, {"a.csv": r6, "b.csv": LINK_IN},
             error="symbolic link"),
        Case("folder named like a data file", RECON, {"a.csv": c6, "b.csv": FOLDER}, error="is a folder"),
        Case("reference file that is a folder", SITES, {ROOT + "warehouses.csv": FOLDER}, error="is a folder"),
        Case("reference file that is a symlink", EVENTS, {ROOT + "events.csv": LINK_OUT}, error="symbolic link"),
        Case("unreadable file", RECON, {"a.csv": UNREADABLE}, error="cannot be read"),
        Case("day folder linked outside the landing area", REPORTS, {"a.csv": r6}, day_link=True,
             error="resolves outside the landing area"),
        Case("day folder that is a plain file", REPORTS, {"a.csv": r6}, not_folder="day",
             error="is a file, not a folder"),
        Case("source folder that is a plain file", RECON, {"a.csv": c6}, not_folder="source",
             error="is a file, not a folder"),
        Case("named pipe in the day folder", RECON, {"a.csv": c6, "b.csv": FIFO}, error="named pipe"),
        Case("folder named like a data file, alone", EVENTS, {"part-000.csv": FOLDER}, error="is a folder"),
        # --- headers and columns
        Case("no header row", RECON, {"a.csv": "".join(lines(c6)[1:])}, error="no header row"),
        Case("required column missing", REPORTS,
             {"a.csv": csv_text([{k: v for k, v in report(i).items() if k != s.STATUS} for i in range(3)])},
             error="'status' is missing"),
        Case("duplicate header column", SITES, {"a.csv": "country," + w4.replace("\n", ",DE\n", 1)},
             error="more than once"),
        Case("header with a trailing blank column", EVENTS, {"a.csv": e3.replace("\n", ",\n")}, 3, 0),
        # --- JSON Lines rows
        Case("jsonl invalid line", REPORTS, {"a.jsonl": jsonl([report(0)]) + "{not json}\n" + jsonl([report(2)])}, 2, 1),
        Case("jsonl nested value", RECON, {"a.jsonl": jsonl([recon(0), {**recon(1), "sku": {"a": 1}}])}, 1, 1),
        Case("jsonl last line cut", REPORTS, {"a.jsonl": jsonl([report(0), report(1)])[:-20]}, 1, 1),
        Case("jsonl line that is an array", EVENTS, {"a.jsonl": '{"date": "2024-03-01", "scope": "all", '
             '"event_type": "peak"}\n[1, 2]\n'}, 1, 1),
        # --- values and keys
        Case("re-delivered file (exact duplicates)", RECON, {"a.csv": c6, "b.csv": c6}, 6, 6, aligned=False),
        Case("unsafe identifier", REPORTS, {"a.csv": r6.replace("SR-00002", "../../x", 1)}, 5, 1,
             aligned=False),
        Case("HTML payload in text columns", RECON,
             {"a.csv": c6.replace("UNEXPLAINED", "<script>alert(1)</script>", 2)}, 6, 0),
        Case("header line" + " repeated mid-file", REPORTS, {"a.csv": r6 + header_r + reports_csv(2)[len(header_r):]},
             6, 3, aligned=False),
        # --- personal data outside the PII columns (ingest.screen): hashed, or the row held back
        Case("phone number in the SKU column", REPORTS,
             {"a.csv": csv_text([report(i, **({s.SKU: PHONE} if i == 2 else {})) for i in range(6)])}, 5, 1),
        Case("e-mail address in a unit count", RECON,
             {"a.csv": csv_text([recon(i, **({s.COUNTED_UNITS: EMAIL} if i == 3 else {})) for i in range(6)])}, 5, 1),
        Case("e-mail address as a business key", RECON, {"a.csv": c6.replace("RC-00001", EMAIL, 1)}, 5, 1,
             aligned=False),
        Case("IBAN in a site name", SITES, {"a.csv": w4.replace("Site 1", f"Site {IBAN}", 1)}, 4, 0),
        Case("employee id in an event name", EVENTS, {"a.csv": e3.replace("Sale 1", "Sale by EMP-70001", 1)}, 3, 0),
        Case("phone number in an unsplittable line", RECON,
             {"a.csv": c6.replace("RC-00003,", f"RC-00003,{PHONE},", 1)}, 5, 1),
    ]
