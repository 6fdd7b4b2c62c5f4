"""The ``report`` stage: the reserves page and its downloads, the page's one writer.

``write_reserves_report(settings, as_of)`` reads what the other stages wrote for ``as_of``
and writes ``reports/as_of=D/reserves.html`` (self-contained: inline CSS and SVG) and
``reports/as_of=D/exports/`` (CSV per table, one Excel workbook). It reads:

- ``reserves/as_of=D/``: reserves, totals, thresholds (required), horizon and coverage;
- ``backtests/as_of=D/gate.json``, ``ensemble.json``; ``models/<version>/manifest.json``;
- ``audit/as_of=D/audit.parquet`` (the reporting rate);
- ``explain/as_of=E/scores.parquet`` of the latest E <= D (root causes; ``reserves.causes``);
- the totals of the latest earlier reserves date (the change since then).

Nothing else writes the page: the reserves and explain stages write data only, and the
forecast DAG's ``report`` task runs after both (``riskcast report`` at the command line).
A rerun over the same files writes the same bytes. What the page shows is in
``reserves.page`` and ``reserves.notes``; its sections, in order, are ``SECTIONS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import pandas as pd

from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.errors import ConfigError, InputError
from forecasting.core.html import Section, render_report
from forecasting.core.lake import Lake, join, parse_date
from forecasting.core.layout import (
    COVERAGE_FILE,
    EXPORT_FILES,
    HORIZON_FILE,
    RESERVES,
    RESERVES_FILE,
    THRESHOLDS_FILE,
    TOTALS_FILE,
)
from forecasting.core.links import public_link
from forecasting.reserves import notes
from forecasting.reserves.causes import causes_body, latest_causes
from forecasting.reserves.exports import export_tables, to_csv, to_xlsx
from forecasting.reserves.page import (
    ReservesPage,
    fans_section,
    headline,
    horizon_section,
    sites_section,
    status_banner,
    weekly_totals_section,
)
from forecasting.reserves.track.section import track_section

log = logging.getLogger(__name__)

SectionFn = Callable[[ReservesPage], Section | None]


def causes_section(p: ReservesPage) -> Section:
    return Section("Root causes of recent outliers", causes_body(*p.causes))


def track_record_section(p: ReservesPage) -> Section | None:
    return p.track


# The page below its lead (status, headline), top to bottom. A section is a function of the
# ReservesPage returning a Section (None: left out); add new ones here, where finance should
# read them (e.g. how past reserves held up, after "What the figures rest on").
SECTIONS: tuple[SectionFn, ...] = (
    horizon_section,
    notes.links_section,
    notes.basis_section,
    notes.missing_section,
    track_record_section,
    fans_section,
    notes.escalation_section,
    causes_section,
    weekly_totals_section,
    sites_section,
    notes.glossary_section,
)


@dataclass
class ReportSummary:
    """What ``write_reserves_report`` wrote (JSON-able)."""

    as_of: str
    page: str
    exports: dict[str, str]
    sections: list[str]
    network_loss_eur_p95_horizon: float | None = None
    causes_from: str | None = None
    links: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_reserves_report(settings: Settings, as_of: date) -> ReportSummary:
    """Write the reserves page and its downloads for ``as_of``; see the module docstring."""
    lake = Lake.from_settings(settings)
    page = load_page(settings, lake, as_of)
    tables = export_tables(page.reserves, page.totals, page.horizon)
    exports = {}
    for name, frame in tables.items():
        exports[name] = lake.write_bytes(lake.reserves_export(as_of, name), to_csv(frame))
    exports["workbook"] = lake.write_bytes(
        lake.reserves_export(as_of, "workbook"), to_xlsx(tables, as_of, _about(page))
    )
    page = replace(page, exports={k: public_link(settings, u) for k, u in exports.items()})
    html, sections = render_reserves_page(page)
    uri = lake.write_text(lake.reserves_report(as_of), html)
    log.info("reserves page %s: %d sections", as_of, len(sections))
    return ReportSummary(
        as_of=str(as_of), page=uri, exports=exports, sections=sections,
        network_loss_eur_p95_horizon=_network_horizon_p95(page.horizon),
        causes_from=str(page.causes[0]) if page.causes[0] else None, links=dict(page.links),
    )  # fmt: skip


def render_reserves_page(page: ReservesPage) -> tuple[str, list[str]]:
    """(the whole self-contained page, its section titles)."""
    sections = [s for s in (fn(page) for fn in SECTIONS) if s is not None]
    html = render_report(
        sections, title=f"Loss reserves as of {page.as_of}",
        lead=status_banner(page) + headline(page), foot=notes.lineage_footer(page),
    )  # fmt: skip
    return html, [s.title for s in sections]


def load_page(settings: Settings, lake: Lake, as_of: date) -> ReservesPage:
    """Everything the page shows, read from the stages' files (see the module docstring)."""
    uri = lake.reserves_file(as_of, RESERVES_FILE)
    if not lake.exists(uri):
        raise InputError(f"{uri} does not exist: run `riskcast reserves --as-of {as_of}` first")
    reserves = lake.read_parquet(uri)
    version = str(reserves[schema.MODEL_VERSION].iloc[0]) if len(reserves) else ""
    previous = previous_as_of(lake, as_of)
    evidence = {"backtest": lake.backtest_file(as_of, "report"), "audit": lake.audit_report(as_of),
                "data_docs": lake.data_docs_index}  # fmt: skip
    return ReservesPage(
        as_of=as_of,
        reserves=reserves,
        totals=lake.read_parquet(lake.reserves_file(as_of, TOTALS_FILE)),
        thresholds=lake.read_parquet(lake.reserves_file(as_of, THRESHOLDS_FILE)),
        horizon=_optional(lake, lake.reserves_file(as_of, HORIZON_FILE)),
        gate=_json(lake, lake.backtest_file(as_of, "gate")),
        coverage=_json(lake, lake.reserves_file(as_of, COVERAGE_FILE)),
        model={"version": version, "ensemble": _ensemble(lake, as_of, version)},
        reporting=notes.reporting_rows(_optional(lake, lake.audit_table(as_of))),
        target=settings.target,
        rules={**settings.escalation.model_dump(), "quantile": settings.escalation_quantile_history},
        causes=latest_causes(lake, as_of),
        previous_as_of=previous,
        previous_totals=lake.read_parquet(lake.reserves_file(previous, TOTALS_FILE)) if previous else None,
        links={k: public_link(settings, u) for k, u in evidence.items() if lake.exists(u)},
        track=track_section(lake, as_of),  # forecasting.reserves.track's scoring of as_of
        missing=(_json(lake, lake.panel_summary(as_of)) or {}).get("missing_data"),
    )


def previous_as_of(lake: Lake, as_of: date) -> date | None:
    """The latest reserves date before ``as_of`` that has a totals file, else None."""
    days = []
    for name in lake.ls(join(lake.uri, RESERVES)):
        try:
            day = parse_date(name.partition("=")[2], "reserves partition")
        except (ConfigError, ValueError):
            continue
        if day < as_of:
            days.append(day)
    for day in sorted(days, reverse=True):
        if lake.exists(lake.reserves_file(day, TOTALS_FILE)):
            return day
    return None


def _ensemble(lake: Lake, as_of: date, version: str) -> dict[str, float]:
    """Member -> weight of the published model: its manifest, else the backtest's choice."""
    manifest = _json(lake, lake.model_manifest(version)) if version and version != "unknown" else None
    weights = (manifest or {}).get("ensemble") or (_json(lake, lake.backtest_file(as_of, "ensemble")) or {}).get("weights")
    return {str(k): float(v) for k, v in (weights or {}).items()}


def _about(page: ReservesPage) -> dict[str, str]:
    """The workbook's About sheet."""
    return {
        "Reserves as of": str(page.as_of),
        "Model version": str(page.model.get("version")),
        "Ensemble": ", ".join(f"{m} {w:.0%}" for m, w in page.model.get("ensemble", {}).items()) or "-",
        "Calibration": str(page.first(schema.CALIBRATION_METHOD)),
        "Data snapshot": str(page.first(schema.SNAPSHOT_ID)),
        "Amounts": "EUR; incidents per period. P50/P90/P95: quantiles of simulated scenarios.",
        "Horizon totals": "Quantiles of whole scenarios summed over the period: never add the "
                          "weekly rows to get them (quantiles do not add).",
        "Files": ", ".join(EXPORT_FILES.values()),
    }


def _network_horizon_p95(horizon: pd.DataFrame | None) -> float | None:
    if horizon is None:
        return None
    rows = horizon[(horizon[schema.TOTAL_ID] == schema.NETWORK_ID) & (horizon[schema.PERIOD_KIND] == "horizon")]
    return float(rows[schema.LOSS_EUR_P95].iloc[0]) if len(rows) else None


def _optional(lake: Lake, uri: str) -> pd.DataFrame | None:
    return lake.read_parquet(uri) if lake.exists(uri) else None


def _json(lake: Lake, uri: str) -> dict[str, Any] | None:
    return lake.read_json(uri) if lake.exists(uri) else None
