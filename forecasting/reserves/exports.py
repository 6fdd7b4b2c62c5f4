"""The reserves page's downloads: CSV files and one Excel workbook of the published figures.

``export_tables`` picks the three tables finance works from: warehouse x week (the
``reserves`` rows), region x week (the ``reserves_totals`` rows, network first) and the
horizon totals (``reserves_horizon``); columns are the database's, so a download and a
query agree. ``to_csv`` and ``to_xlsx`` render them; both are deterministic (the workbook's
dates are the as-of date, not the time it was written), so a rerun writes the same bytes.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from forecasting.core import schema

_EUR_FORMAT = '#,##0.00 "EUR"'
_COUNT_FORMAT = "#,##0.0"
_SHEETS = {"warehouse_week": "Warehouse x week", "region_week": "Region x week",
           "horizon": "Horizon totals"}  # fmt: skip
_DATES = (schema.AS_OF_DATE, schema.PERIOD_START, schema.PERIOD_END)
_LOSS = (schema.LOSS_EUR_P50, schema.LOSS_EUR_P90, schema.LOSS_EUR_P95, schema.LOSS_EUR_MEAN)
_INCIDENTS = (schema.INCIDENTS_P50, schema.INCIDENTS_P90, schema.INCIDENTS_P95, schema.INCIDENTS_MEAN)


def export_tables(
    reserves: pd.DataFrame, totals: pd.DataFrame, horizon: pd.DataFrame | None
) -> dict[str, pd.DataFrame]:
    """``warehouse_week``, ``region_week`` and (when there is one) ``horizon``, sorted."""
    sites = reserves.sort_values([schema.WAREHOUSE_ID, schema.PERIOD_START], kind="stable")
    order = totals.assign(_net=totals[schema.TOTAL_ID] != schema.NETWORK_ID)
    order = order.sort_values(["_net", schema.TOTAL_ID, schema.PERIOD_START], kind="stable")
    out = {"warehouse_week": sites, "region_week": order.drop(columns="_net")}
    if horizon is not None and len(horizon):
        spans = horizon.assign(_net=horizon[schema.TOTAL_ID] != schema.NETWORK_ID,
                               _kind=horizon[schema.PERIOD_KIND].map(schema.PERIOD_KINDS.index))  # fmt: skip
        spans = spans.sort_values(["_net", schema.TOTAL_ID, "_kind", schema.PERIOD_START], kind="stable")
        out["horizon"] = spans.drop(columns=["_net", "_kind"])
    return {k: _dated(v.reset_index(drop=True)) for k, v in out.items()}


def to_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV, ISO dates, figures to the cent; the header is the database's column names."""
    return frame.to_csv(index=False, float_format="%.2f", lineterminator="\n").encode("utf-8")


def to_xlsx(tables: dict[str, pd.DataFrame], as_of: date, about: dict[str, str]) -> bytes:
    """One workbook: a sheet per table (bold frozen header, EUR and date formats) and
    ``About`` (``about``: label -> text, e.g. the model and what the figures mean)."""
    wb = Workbook()
    info = wb.active
    info.title = "About"
    for label, text in about.items():
        info.append([label, text])
    info.column_dimensions["A"].width, info.column_dimensions["B"].width = 28, 110
    for key, frame in tables.items():
        _sheet(wb.create_sheet(_SHEETS[key]), frame)
    stamp = datetime(as_of.year, as_of.month, as_of.day)
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = "riskcast"
    buf = io.BytesIO()
    # ExcelWriter, not wb.save: save stamps the clock into the workbook's "modified" property
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _fixed_zip_times(buf.getvalue(), stamp)


def _sheet(ws, frame: pd.DataFrame) -> None:
    ws.append(list(frame.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in frame.itertuples(index=False):
        ws.append([_cell(v) for v in row])
    for i, col in enumerate(frame.columns, start=1):
        letter = get_column_letter(i)
        fmt = _EUR_FORMAT if col in _LOSS else _COUNT_FORMAT if col in _INCIDENTS else (
            "yyyy-mm-dd" if col in _DATES else None)  # fmt: skip
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = fmt
        ws.column_dimensions[letter].width = max(12, min(40, len(str(col)) + 2))
    ws.freeze_panes = "A2"


def _cell(value: object) -> object:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """Date columns as dates (no midnight times in a CSV)."""
    out = frame.copy()
    for col in _DATES:
        if col in out:
            out[col] = pd.to_datetime(out[col]).dt.date
    return out


def _fixed_zip_times(data: bytes, stamp: datetime) -> bytes:
    """The same workbook with every zip entry dated ``stamp`` (openpyxl stamps the clock)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()
