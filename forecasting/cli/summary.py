"""Short human summaries of a command's result, for a terminal (``--json`` prints the data).

``render(data)`` turns the JSON-able summary every stage returns into a few rich lines: a
key/value table of its scalar fields (lists counted, nested mappings one level deep,
URIs last), or one table row per item for a list of summaries (ingest of several days).
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

MAX_ROWS, MAX_COLUMNS, MAX_TEXT = 20, 8, 90
_STATUS_KEYS = ("exit_code", "passed", "status")


def render(data: Any, title: str = "") -> RenderableType:
    """A compact rich view of ``data`` (a summary's ``to_dict()`` or a list of them)."""
    if isinstance(data, list) and data and all(isinstance(d, dict) for d in data):
        return _rows(data, title)
    if isinstance(data, dict):
        return _fields(data, title)
    return Text(_short(data))


def _fields(data: dict[str, Any], title: str) -> RenderableType:
    table = Table(show_header=False, box=None, pad_edge=False, title=title or None, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    links = []
    for key, value in data.items():
        if isinstance(value, dict) and value and all(isinstance(v, str) and "/" in v for v in value.values()):
            links += [(f"{key}.{k}", v) for k, v in value.items()]  # uris, paths: listed last
        elif isinstance(value, dict):
            inner = ", ".join(f"{k}={_short(v, 24)}" for k, v in list(value.items())[:6])
            table.add_row(_label(key), inner + (" ..." if len(value) > 6 else "") if value else "-")
        else:
            table.add_row(_label(key), _value(key, value))
    for key, value in links:
        table.add_row(_label(key), Text(str(value), style="cyan"))
    return table


def _rows(items: list[dict[str, Any]], title: str) -> RenderableType:
    keys = [k for k in dict.fromkeys(k for d in items for k in d) if not isinstance(items[0].get(k), dict | list)]
    keys = keys[:MAX_COLUMNS]
    table = Table(title=title or None, title_justify="left")
    for key in keys:
        table.add_column(_label(key))
    for item in items[:MAX_ROWS]:
        table.add_row(*[_value(k, item.get(k)) for k in keys])
    parts: list[RenderableType] = [table]
    if len(items) > MAX_ROWS:
        parts.append(Text(f"... {len(items) - MAX_ROWS} more (--json for all)", style="dim"))
    return Group(*parts)


def _label(key: str) -> str:
    return key.replace("_", " ")


def _value(key: str, value: Any) -> Text | str:
    if isinstance(value, list):
        shown = ", ".join(_short(v, 20) for v in value[:5])
        return f"{len(value)}: {shown}{' ...' if len(value) > 5 else ''}" if value else "none"
    text = _short(value)
    if key in _STATUS_KEYS:
        good = value in (0, True, "ok", "passed", "success")
        return Text(text, style="green" if good else "bold red")
    return text


def _short(value: Any, limit: int = MAX_TEXT) -> str:
    if isinstance(value, float):
        text = f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    else:
        text = "-" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
