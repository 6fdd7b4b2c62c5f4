"""``riskcast show`` at a terminal: the published reserves as tables that fit its width.

Network and region horizon totals first, escalating sites next, then the largest loss P95s
and how to see the rest, then where the artefacts are. Counts are whole numbers and euros
carry the sign. A table narrower than its columns drops the least needed ones first
(``Col.keep``: 0 always kept), so 80 columns read as well as 200.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from forecasting.core import schema
from forecasting.core.html import count, eur
from forecasting.overview import RunOverview


@dataclass(frozen=True)
class Col:
    header: str
    key: str
    fmt: Callable[[object], str] = str
    right: bool = False
    keep: int = 0  # 0: always; higher numbers are dropped first when the table is too wide


def _day(value: object) -> str:
    return "" if value is None or value != value else str(pd.Timestamp(value).date())


def _level(value: object) -> str:
    return schema.ESCALATION_LEVELS[int(value)] if value == value and value is not None else "-"


HORIZON = [
    Col("Total", schema.TOTAL_ID), Col("Period", schema.PERIOD_LABEL),
    Col("From", schema.PERIOD_START, _day, keep=2), Col("To", schema.PERIOD_END, _day),
    Col("Loss P50", schema.LOSS_EUR_P50, eur, True, keep=1), Col("Loss P90", schema.LOSS_EUR_P90, eur, True, keep=3),
    Col("Loss P95", schema.LOSS_EUR_P95, eur, True),
]  # fmt: skip
SITES = [
    Col("Warehouse", schema.WAREHOUSE_ID), Col("Region", schema.REGION, keep=3),
    Col("Week", schema.PERIOD_START, _day), Col("Inc P50", schema.INCIDENTS_P50, count, True, keep=2),
    Col("Inc P95", schema.INCIDENTS_P95, count, True), Col("Loss P50", schema.LOSS_EUR_P50, eur, True, keep=1),
    Col("Loss P95", schema.LOSS_EUR_P95, eur, True), Col("Escalation", schema.ESCALATION_LEVEL, _level, keep=4),
]  # fmt: skip
ESCALATING = [Col("Level", schema.ESCALATION_LEVEL, _level), *SITES[:-1]]  # the level first, always


def print_overview(view: RunOverview, console: Console, rows: int) -> None:
    """Print ``view`` on ``console``: horizon, escalating sites, largest P95s, paths."""
    weeks = view.latest[schema.PERIOD_START].nunique() if len(view.latest) else 0
    console.print(f"[bold]Reserves as of {view.as_of or '-'}[/]: {view.warehouses} warehouses x "
                  f"{weeks} weeks, {view.reserves_rows} rows in reserves_latest", highlight=False)  # fmt: skip
    if view.notice():  # never let another day's rows pass for the asked day's
        console.print(f"[bold yellow]note:[/] {escape(view.notice())}", highlight=False)
    horizon = _horizon_rows(view.horizon)
    if len(horizon):
        _print(console, "Horizon totals (whole scenarios: never add weekly rows)", horizon, HORIZON)
    else:
        console.print("No horizon totals in this database (published before schema v6).", highlight=False)
    hot = view.escalating()
    if len(hot):
        _print(console, f"Escalating sites ({len(hot)}), worst first", hot.head(rows), ESCALATING)
        if len(hot) > rows:
            console.print(f"... {len(hot) - rows} more escalating (--rows {len(hot)})", highlight=False)
    else:
        console.print("No site escalates.", highlight=False)
    top = view.largest(rows)
    _print(console, f"Largest loss P95: {len(top)} of {view.warehouses} warehouses, each at its worst week",
           top, SITES)  # fmt: skip
    console.print(f"{len(top)} of {view.reserves_rows} rows shown: `riskcast show --rows {view.warehouses}` for "
                  "every warehouse, `riskcast --json show` for every row, or the page's Excel download "
                  "(reserves_workbook below).", highlight=False)  # fmt: skip
    for name, path in view.paths.items():
        console.print(f"[bold]{name}[/]: {escape(path)}", highlight=False)


def _horizon_rows(horizon: pd.DataFrame) -> pd.DataFrame:
    """Every network span, then each region's whole horizon (all of them: --json)."""
    if not len(horizon):
        return horizon
    net = horizon[horizon[schema.TOTAL_ID] == schema.NETWORK_ID]
    regions = horizon[(horizon[schema.TOTAL_ID] != schema.NETWORK_ID) & (horizon[schema.PERIOD_KIND] == "horizon")]
    out = pd.concat([net, regions], ignore_index=True)
    label = [f"{lbl} (part)" if part else lbl for lbl, part in zip(out[schema.PERIOD_LABEL], out[schema.IS_PARTIAL], strict=True)]
    return out.assign(**{schema.PERIOD_LABEL: label})


def _print(console: Console, title: str, frame: pd.DataFrame, cols: list[Col]) -> None:
    cells = {c.key: [c.fmt(v) for v in frame[c.key]] if c.key in frame else [] for c in cols}
    shown = [c for c in cols if c.key in frame]
    while _width(shown, cells) > console.width and any(c.keep for c in shown):
        drop = max((c for c in shown if c.keep), key=lambda c: c.keep)
        shown = [c for c in shown if c is not drop]
    console.print()
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for c in shown:
        table.add_column(c.header, justify="right" if c.right else "left", no_wrap=c.right)
    for i in range(len(frame)):
        table.add_row(*[cells[c.key][i] for c in shown])
    console.print(table)


def _width(cols: list[Col], cells: dict[str, list[str]]) -> int:
    widths = [max([len(c.header), *(len(v) for v in cells[c.key])]) for c in cols]
    return sum(widths) + 3 * max(len(cols) - 1, 0)  # padding 1 + the box's column rule
