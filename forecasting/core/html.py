"""Self-contained HTML reports: inline CSS and inline SVG figures, nothing fetched.

``render_report(sections, title)`` joins ``Section``s into one page; each stage builds
its own sections (``forecasting.backtest.report``, ``forecasting.reserves.page``).
Figures are deterministic (fixed SVG ids, no dates), so reruns give identical bytes.
Number formats (``eur``, ``count``, ``pct``) and the fixed model colours live here so every
page writes a euro amount and colours a model the same way.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2733;max-width:1200px}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f5f7}.best{font-weight:700;background:#e6f4ea}
td.t{text-align:left}tr.lvl1 td{background:#fff4d6}tr.lvl2 td{background:#ffd9d6}tr.total td{font-weight:700}
.pass{color:#137333;font-weight:700}.fail{color:#b3261e;font-weight:700}.note{color:#57606a;font-size:.85rem}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}.grid{display:flex;flex-wrap:wrap;gap:.5rem}
.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}.card{border:1px solid #d0d7de;border-radius:8px;padding:.8rem 1.1rem;min-width:12rem}
.card .k{color:#57606a;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em}.card .v{font-size:1.6rem;font-weight:700}
.card .d{font-size:.85rem}.up{color:#b3261e}.down{color:#137333}
.banner{border-radius:8px;padding:.7rem 1rem;margin:1rem 0}.banner.ok{background:#e6f4ea}.banner.bad{background:#fde7e9}
dl.glossary dt{font-weight:700;margin-top:.4rem}dl.glossary dd{margin-left:1.2rem}footer{margin-top:2.5rem;font-size:.85rem}
footer th{text-align:left;background:#f3f5f7}details summary{cursor:pointer;margin:.4rem 0}
"""
FAN_RISKIEST, FAN_SAMPLE = 4, 4
# Colours of models and series: ``model_colours`` gives each name a fixed one, so a model
# keeps its colour in every figure even when a figure leaves other models out.
PALETTE = ("#1f77b4", "#17becf", "#7f7f7f", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
           "#e377c2", "#bcbd22", "#d62728", "#393b79", "#637939")  # fmt: skip
BAND_COLOUR, ACTUAL_COLOUR = "#1f77b4", "#d62728"
TEXT_COLOUR, MUTED_COLOUR = "#1d2733", "#57606a"  # page text; secondary text (7:1, 6.4:1 on white)


@dataclass(frozen=True)
class Section:
    """One report section: a heading and its HTML body (already escaped where needed)."""

    title: str
    body: str


def render_report(
    sections: list[Section], title: str = "riskcast report", lead: str = "", foot: str = ""
) -> str:
    """One self-contained HTML page: ``title``, ``lead`` (HTML, above every section), sections,
    ``foot`` (HTML, below them)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if lead:
        parts.append(lead)
    for sec in sections:
        parts.append(f"<section><h2>{html.escape(sec.title)}</h2>\n{sec.body}\n</section>")
    if foot:
        parts.append(foot)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def figure_svg(fig, caption: str = "") -> str:
    """A matplotlib figure as an inline ``<figure><svg>`` (deterministic; closes the figure)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "riskcast", "svg.fonttype": "none"}):
        fig.savefig(
            buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight"
        )
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and doctype: inline SVG needs neither
    cap = f"<figcaption class='note'>{html.escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{svg}{cap}</figure>"


def table_html(
    df: pd.DataFrame,
    best: dict[str, str] | None = None,
    digits: int = 3,
    *,
    headers: dict[str, str] | None = None,
    formats: dict[str, Callable[[object], str]] | None = None,
    row_class: Callable[[object, pd.Series], str] | None = None,
    index: bool = True,
    left: Iterable[str] = (),
) -> str:
    """An HTML table; ``best`` maps column -> ``min``/``max`` to bold the best cell.

    ``headers``: column -> human header; ``formats``: column -> value formatter (else floats
    with ``digits``); ``row_class(index, row)``: a CSS class per row; ``index=False`` hides it;
    ``left``: columns aligned as text (numbers formatted as words, e.g. a level's name).
    """
    best, headers, formats, left = best or {}, headers or {}, formats or {}, set(left)
    names = ([df.index.name or ""] if index else []) + list(df.columns)
    head = "".join(f"<th>{html.escape(str(headers.get(c, c)))}</th>" for c in names)
    rows = []
    for idx, row in df.iterrows():
        cells = [f"<td>{html.escape(str(idx))}</td>"] if index else []
        for col, val in row.items():
            cls = ""
            if col in best and pd.notna(val):
                target = df[col].min() if best[col] == "min" else df[col].max()
                cls = " class='best'" if val == target else ""
            elif col in left or col in formats or not _is_number(val):
                cls = "" if col in formats and _is_number(val) and col not in left else " class='t'"
            if col in formats:
                text = html.escape(formats[col](val))
            elif _is_number(val):
                text = "-" if pd.isna(val) else f"{val:.{digits}f}"
            else:
                text = html.escape(str(val))
            cells.append(f"<td{cls}>{text}</td>")
        klass = row_class(idx, row) if row_class else ""
        rows.append((f"<tr class='{klass}'>" if klass else "<tr>") + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def model_colours(models: Iterable[str], order: Iterable[str] = ()) -> dict[str, str]:
    """A fixed colour per model: names in ``order`` take ``PALETTE`` in that order (so the
    same model always gets the same colour), other names the next colours by sorted name."""
    known = list(dict.fromkeys(str(m) for m in order))
    extra = sorted({str(m) for m in models} - set(known))
    names = known + extra
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(names)}


def eur(value: object, signed: bool = False) -> str:
    """``€12,345`` (whole euros; ``-`` for missing); ``signed`` adds ``+`` to gains."""
    if not _is_number(value) or pd.isna(value):
        return "-"
    v = float(value)
    sign = "+" if signed and v > 0 else ("−" if v < 0 else "")
    return f"{sign}€{abs(v):,.0f}"


def count(value: object) -> str:
    """An incident count as a whole number (``12``; ``-`` for missing)."""
    if not _is_number(value) or pd.isna(value):
        return "-"
    return f"{math.floor(float(value) + 0.5):,d}"


def pct(value: object, digits: int = 1, signed: bool = False) -> str:
    """A share as ``12.3%`` (``-`` for missing)."""
    if not _is_number(value) or pd.isna(value):
        return "-"
    return f"{float(value):{'+' if signed else ''}.{digits}%}"


def contrast(a: object, b: object) -> float:
    """WCAG contrast ratio of two matplotlib colour specs (1 to 21; text needs >= 4.5)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_on(background: object) -> str:
    """The text colour (page text or white) that contrasts more with ``background``."""
    return TEXT_COLOUR if contrast(TEXT_COLOUR, background) >= contrast("#ffffff", background) else "#ffffff"


def text_shade(colour: object, background: object = "#ffffff", minimum: float = 4.5) -> str:
    """``colour`` darkened just enough (same hue) to be read as text on ``background``."""
    from matplotlib.colors import to_hex, to_rgb

    rgb = to_rgb(colour)
    for k in range(21):
        shade = to_hex([c * (1 - k / 20) for c in rgb])
        if contrast(shade, background) >= minimum:
            return shade
    return TEXT_COLOUR


def _luminance(colour: object) -> float:
    from matplotlib.colors import to_rgb

    ch = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]


def use_agg() -> None:
    """Render figures off-screen (no display): call before creating a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
