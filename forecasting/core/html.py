"""Self-contained HTML reports: inline CSS and inline SVG figures, nothing fetched.

``render_report(sections, title)`` joins ``Section``s into one page; each stage builds
its own sections (``forecasting.backtest.report``, ``forecasting.reserves.report``).
Figures are deterministic (fixed SVG ids, no dates), so reruns give identical bytes.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2733;max-width:1200px}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f5f7}.best{font-weight:700;background:#e6f4ea}
.pass{color:#137333;font-weight:700}.fail{color:#b3261e;font-weight:700}.note{color:#57606a;font-size:.85rem}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}.grid{display:flex;flex-wrap:wrap;gap:.5rem}
"""
FAN_RISKIEST, FAN_SAMPLE = 4, 4


@dataclass(frozen=True)
class Section:
    """One report section: a heading and its HTML body (already escaped where needed)."""

    title: str
    body: str


def render_report(sections: list[Section], title: str = "riskcast report") -> str:
    """One self-contained HTML page with ``sections`` in order."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for sec in sections:
        parts.append(f"<section><h2>{html.escape(sec.title)}</h2>\n{sec.body}\n</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def figure_svg(fig, caption: str = "") -> str:
    """A matplotlib figure as an inline ``<figure><svg>`` (deterministic; closes the figure)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "riskcast", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype: inline SVG needs neither
    cap = f"<figcaption class='note'>{html.escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{svg}{cap}</figure>"


def table_html(df: pd.DataFrame, best: dict[str, str] | None = None, digits: int = 3) -> str:
    """An HTML table; ``best`` maps column -> ``min``/``max`` to bold the best cell."""
    best = best or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [df.index.name or "", *df.columns])
    rows = []
    for idx, row in df.iterrows():
        cells = [f"<td>{html.escape(str(idx))}</td>"]
        for col, val in row.items():
            cls = ""
            if col in best and pd.notna(val):
                target = df[col].min() if best[col] == "min" else df[col].max()
                cls = " class='best'" if val == target else ""
            text = f"{val:.{digits}f}" if isinstance(val, float | np.floating) else html.escape(str(val))
            cells.append(f"<td{cls}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def use_agg() -> None:
    """Render figures off-screen (no display): call before creating a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
