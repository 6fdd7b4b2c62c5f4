"""How an alert reads: plain text, HTML e-mail and Slack blocks, written for people.

What an alert says (``forecasting.alerts.alert``) is data; this module words it: checks in
plain language (the Great Expectations name kept in a technical-details block), warehouse
and date first in row tables, whole numbers without ``.0``, euros with the sign, causes as
sentences, links by name, and when it was raised. Functions take any object with the
``Alert`` fields (``kind, severity, title, date, source, summary, details, rows, links,
raised_at``).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from forecasting.core.html import eur
from forecasting.core.jsonable import plain

# details shown only in the technical block (for engineers): names and ids, not findings
TECHNICAL = frozenset({"failed expectations", "dag_id", "task_id", "run_id", "try_number", "summary", "levels"})
FAILED = "failed expectations"
_CHECK = re.compile(r"\b(expect_[a-z_]+|max_bad_row_share|pass_through|site_silence)(?:\(([^)]*)\))?")
_FAILED_ITEM = re.compile(r"^(?P<name>\S+?(?:\([^)]*\))?)(?: \[(?P<sev>\w+)\])?(?:: (?P<n>\d+) rows)?$")
_CHECKS = {  # expectation type -> sentence; {0}, {1}: its columns (or its label)
    "expect_column_values_to_not_be_null": "{0} is empty",
    "expect_column_values_to_be_null": "{0} holds a value where none is allowed",
    "expect_column_values_to_be_between": "{0} is outside its allowed range",
    "expect_column_values_to_be_in_set": "{0} holds a value that is not allowed",
    "expect_column_values_to_be_of_type": "{0} has the wrong type",
    "expect_column_values_to_be_unique": "{0} appears more than once",
    "expect_compound_columns_to_be_unique": "the same {0} appears more than once",
    "expect_column_pair_values_a_to_be_greater_than_b": "{0} is earlier (or smaller) than {1}",
    "expect_column_unique_value_count_to_be_between": "the number of different {0} values is unusual",
    "expect_table_columns_to_match_set": "columns are missing",
    "expect_table_row_count_to_equal": "the number of rows is not the one expected",
    "max_bad_row_share": "too many rows failed their checks, so the whole day was held back",
    "site_silence": "a site sent no rows for an implausibly long run of days",
}
_ROW_COUNT = {"volume": "the day's number of rows is far from its usual volume",
              "non_empty": "the day has no rows at all"}  # fmt: skip
_LAST = ("reason", "stage", "source_file", "source_row", "cause_text")  # lineage, then long text, last


def check_text(name: str) -> str:
    """A check's plain words: ``expect_column_values_to_be_between(units)`` -> ``units is
    outside its allowed range``; an unknown name reads as its words."""
    m = _CHECK.fullmatch(name.strip())
    if not m:
        return name
    kind, args = m.group(1), [a.strip() for a in (m.group(2) or "").split(",") if a.strip()]
    if kind == "expect_table_row_count_to_be_between":
        return _ROW_COUNT.get(args[0] if args else "", "the day's number of rows is unusual")
    if kind in _CHECKS:
        template = _CHECKS[kind]
        need = template.count("{")
        if need and len(args) < need:
            args = [*args, *["a column"] * (need - len(args))]
        return template.format(*(args if "{1}" in template else [", ".join(args) or "a column"]))
    return kind.removeprefix("expect_").replace("_", " ") + (f" ({', '.join(args)})" if args else "")


def plain_words(text: str) -> str:
    """``text`` with every expectation name replaced by its plain words."""
    return _CHECK.sub(lambda m: check_text(m.group(0)), text)


def failed_checks(items: list[str]) -> list[str]:
    """``name [severity]: N rows`` entries as sentences: ``units is outside ...: 2 rows (warning)``."""
    out = []
    for item in items:
        m = _FAILED_ITEM.match(str(item))
        if not m:
            out.append(plain_words(str(item)))
            continue
        unit = "site" if m["name"].startswith("site_silence") else "row"  # a silence counts sites
        rows = f": {int(m['n']):,} {unit}{'s' if int(m['n']) != 1 else ''}" if m["n"] else ""
        out.append(f"{check_text(m['name'])}{rows}" + (f" ({m['sev']})" if m["sev"] else ""))
    return out


def value_text(key: str, value: Any) -> str:
    """One detail or cell for people: whole numbers, euros, lists and sentences."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if _is_euro(key):
            return eur(value)
        if isinstance(value, float) and not value.is_integer():  # 4 significant digits: 0.025, 23.5
            return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        return f"{int(value):,}"
    if isinstance(value, list):
        return "; ".join(value_text(key, v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {value_text(k, v)}" for k, v in value.items())
    return plain_words(str(value))


def row_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Columns of ``rows``: warehouse first, then dates, the rest in order, lineage last."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    first = [c for c in cols if c == "warehouse_id"]
    dates = [c for c in cols if c not in first and _is_date(c)]
    last = [c for c in _LAST if c in cols]
    return first + dates + [c for c in cols if c not in {*first, *dates, *last}] + last


def text(alert: Any) -> str:
    """The plain-text rendering (e-mail text part, SNS, logs)."""
    lines = [alert.subject, _when(alert), ""]
    if alert.summary:
        lines += [plain_words(alert.summary), ""]
    failed = failed_checks(alert.details.get(FAILED) or [])
    if failed:
        lines += ["What failed:", *[f"- {f}" for f in failed], ""]
    for key, value in _findings(alert):
        if isinstance(value, dict):
            lines += [f"{key}:", *[f"- {k}: {value_text(k, v)}" for k, v in value.items()]]
        else:
            lines.append(f"{key}: {value_text(key, value)}")
    if alert.rows:
        cols = row_columns(alert.rows)
        lines += ["", f"Rows ({len(alert.rows)} shown):", *_text_table(alert.rows, cols)]
    if alert.links:
        lines += ["", "Links:", *[f"- {name}: {uri}" for name, uri in alert.links.items()]]
    tech = _technical(alert)
    if tech:
        lines += ["", "Technical details:", *[f"- {k}: {_compact(v)}" for k, v in tech.items()]]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip() + "\n"


def html_page(alert: Any) -> str:
    """The HTML e-mail: inline styles only (mail clients drop style sheets)."""
    e = html.escape
    colour = {"critical": "#b3261e", "warning": "#8a5300", "info": "#1d4f91"}.get(alert.severity, "#1d2733")
    parts = [f"<h2 style='color:{colour};margin:0 0 .3rem'>{e(alert.subject)}</h2>",
             f"<p style='color:#57606a;margin:0 0 1rem'>{e(_when(alert))}</p>"]  # fmt: skip
    if alert.summary:
        parts.append(f"<p>{e(plain_words(alert.summary))}</p>")
    failed = failed_checks(alert.details.get(FAILED) or [])
    if failed:
        parts.append("<p><b>What failed</b></p><ul>" + "".join(f"<li>{e(f)}</li>" for f in failed) + "</ul>")
    items = []
    for key, value in _findings(alert):
        if isinstance(value, dict):
            sub = "".join(f"<li>{e(str(k))}: {e(value_text(k, v))}</li>" for k, v in value.items())
            items.append(f"<li><b>{e(key)}</b><ul>{sub}</ul></li>")
        else:
            items.append(f"<li><b>{e(key)}</b>: {e(value_text(key, value))}</li>")
    if items:
        parts.append("<ul>" + "".join(items) + "</ul>")
    if alert.rows:
        parts.append(_html_table(alert.rows))
    if alert.links:
        links = "".join(f"<li><a href='{e(u)}'>{e(n)}</a>" + ("" if "://" in u else f" <code>{e(u)}</code>")
                        + "</li>" for n, u in alert.links.items())  # fmt: skip
        parts.append(f"<p><b>Links</b></p><ul>{links}</ul>")
    tech = _technical(alert)
    if tech:
        body = "".join(f"<li>{e(k)}: <code>{e(_compact(v))}</code></li>" for k, v in tech.items())
        parts.append(f"<details><summary>Technical details</summary><ul>{body}</ul></details>")
    style = "font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2733;max-width:1100px"
    return f"<html><body style='{style}'>" + "\n".join(parts) + "</body></html>\n"


def slack(alert: Any) -> dict[str, Any]:
    """Slack-compatible webhook payload: ``text`` fallback plus Block Kit ``blocks``."""
    failed = failed_checks(alert.details.get(FAILED) or [])
    body = "\n".join([plain_words(alert.summary), *[f"• {f}" for f in failed],
                      *[f"*{k}*: {value_text(k, v)}" for k, v in _findings(alert)]])  # fmt: skip
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.subject[:150]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _when(alert)[:300]}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900] or " "}},
    ]
    if alert.rows:
        table = "\n".join(_text_table(alert.rows, row_columns(alert.rows)))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{table[:2800]}```"}})
    if alert.links:
        links = " | ".join(f"<{u}|{n}>" if "://" in u else f"{n}: {u}" for n, u in alert.links.items())
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links[:2900]}]})
    return {"text": f"{alert.subject}: {plain_words(alert.summary)}"[:3000], "blocks": blocks}


# --------------------------------------------------------------------------- helpers
def _when(alert: Any) -> str:
    parts = [f"raised {alert.raised_at}" if getattr(alert, "raised_at", None) else None,
             f"for {alert.date}" if alert.date else None, f"source: {alert.source}" if alert.source else None]  # fmt: skip
    return " · ".join(p for p in parts if p)


def _findings(alert: Any) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in alert.details.items() if k not in TECHNICAL]


def _technical(alert: Any) -> dict[str, Any]:
    tech = {k: v for k, v in alert.details.items() if k in TECHNICAL and v not in (None, [], {})}
    return {**tech, "alert id": alert.alert_id, "kind": alert.kind}


def _compact(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(plain(value), sort_keys=True)
    return str(value)


def _cells(rows: list[dict[str, Any]], cols: list[str]) -> list[list[str]]:
    return [[value_text(c, r.get(c)) for c in cols] for r in rows]


def _text_table(rows: list[dict[str, Any]], cols: list[str]) -> list[str]:
    """Aligned columns, each at most 60 characters but the last, which is never cut."""
    cells = _cells(rows, cols)
    widths = [min(60, max(len(c), *(len(row[i]) for row in cells))) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}.{w}}}" for w in widths[:-1]) + ("  {}" if len(cols) > 1 else "{}")
    return [fmt.format(*cols).rstrip()] + [fmt.format(*row).rstrip() for row in cells]


def _html_table(rows: list[dict[str, Any]]) -> str:
    e = html.escape
    cols = row_columns(rows)
    cell = "border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top"
    head = "".join(f"<th style='{cell};background:#f3f5f7'>{e(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td style='{cell}'>{e(v)}</td>" for v in row) + "</tr>"
                   for row in _cells(rows, cols))  # fmt: skip
    return (f"<p><b>Rows</b> ({len(rows)} shown)</p><table style='border-collapse:collapse;"
            f"font-size:13px'><tr>{head}</tr>{body}</table>")  # fmt: skip


def _is_euro(key: str) -> bool:
    k = key.lower()
    return "eur" in k.split("_") or k.endswith("_eur") or "loss_eur" in k or k in {"loss", "value_eur"}


def _is_date(key: str) -> bool:
    k = key.lower()
    return k in {"date", "ds", "day", "week", "period_start", "as_of", "as_of_date"} or k.endswith(("_date", "_at", "_day"))
