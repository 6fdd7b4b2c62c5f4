"""The causal graph of one warehouse-week: which observed quantity drives which.

::

    calendar ──┐
    activity ──┼──► thefts ──┐
    reporting ─┘             ├──► incidents ──┐
    count_errors ────────────┘                ├──► loss_eur
    value_mix ────────────────────────────────┘

Every node is observed per warehouse and Monday week (``forecasting.explain.nodes`` says
how each is measured); an outlier in a *watched* node (``WATCHED``) is attributed to the
noise of the nodes upstream of it, the node itself included. ``render_text`` draws the
graph from ``EDGES`` (docs/explain.md holds its output), so the figure cannot drift.
"""

from __future__ import annotations

from forecasting.core.schema import (
    NODE_ACTIVITY,
    NODE_CALENDAR,
    NODE_COUNT_ERRORS,
    NODE_INCIDENTS,
    NODE_LOSS_EUR,
    NODE_REPORTING,
    NODE_THEFTS,
    NODE_VALUE_MIX,
)

NODES = (
    NODE_CALENDAR, NODE_ACTIVITY, NODE_REPORTING, NODE_COUNT_ERRORS, NODE_VALUE_MIX,
    NODE_THEFTS, NODE_INCIDENTS, NODE_LOSS_EUR,
)  # fmt: skip
EDGES = (
    (NODE_CALENDAR, NODE_THEFTS),
    (NODE_ACTIVITY, NODE_THEFTS),
    (NODE_REPORTING, NODE_THEFTS),
    (NODE_THEFTS, NODE_INCIDENTS),
    (NODE_COUNT_ERRORS, NODE_INCIDENTS),
    (NODE_INCIDENTS, NODE_LOSS_EUR),
    (NODE_VALUE_MIX, NODE_LOSS_EUR),
)
# Outliers looked for: more incidents or losses than usual, reporting that collapsed, or
# goods moved far beyond the usual (an unannounced launch: in usual weeks activity does
# not move thefts, so the fitted activity -> thefts mechanism is flat and an incidents
# outlier could never credit it; watched itself, its surge is found and named).
HIGH, LOW = "high", "low"
WATCHED = {NODE_INCIDENTS: HIGH, NODE_LOSS_EUR: HIGH, NODE_REPORTING: LOW, NODE_ACTIVITY: HIGH}

# What each node is, in the words an alert uses (``forecasting.explain.text``).
MEANING = {
    NODE_CALENDAR: "calendar exposure (launches, peaks, holidays in events.csv)",
    NODE_ACTIVITY: "count activity (TRANSFER and DAMAGE lines: goods moved, e.g. an unannounced launch)",
    NODE_REPORTING: "security reporting (reports filed, all categories)",
    NODE_COUNT_ERRORS: "count errors (losses no report corroborates beyond the site's usual share)",
    NODE_VALUE_MIX: "value mix (loss beyond what the week's incidents usually cost)",
    NODE_THEFTS: "thefts (reported thefts scaled by the site's reporting share)",
    NODE_INCIDENTS: "incidents (the forecast target)",
    NODE_LOSS_EUR: "loss in EUR",
}


def parents(node: str) -> list[str]:
    return [a for a, b in EDGES if b == node]


def ancestors(node: str) -> list[str]:
    """Upstream nodes of ``node`` in ``NODES`` order (``node`` itself excluded)."""
    seen: set[str] = set()
    todo = parents(node)
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += parents(n)
    return [n for n in NODES if n in seen]


def render_text() -> str:
    """A plain-text figure: one line per node with its parents and what it measures."""
    width = max(len(n) for n in NODES)
    lines = ["node".ljust(width) + "  <- parents            | meaning"]
    for n in NODES:
        ps = ", ".join(parents(n)) or "(root)"
        watched = f"  [watched: {WATCHED[n]}]" if n in WATCHED else ""
        lines.append(f"{n.ljust(width)}  <- {ps.ljust(20)} | {MEANING[n]}{watched}")
    return "\n".join(lines)
