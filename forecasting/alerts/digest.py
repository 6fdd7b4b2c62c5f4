"""One digest for a backfill's historical days instead of one alert per day.

A backfill ingests months of past days in one run; an alert for each bad historical day
would bury the one that matters (the run's own day). ``Backfill`` sends the alerts of the
last day as they come and holds the others; ``flush`` sends one ``digest`` alert: counts per
kind and severity, the worst days first, each held alert's title. Its id is stable for the
same backfill and findings, so a rerun's digest is recognised as the same event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from forecasting.alerts.alert import ALERT_SEVERITIES, Alert
from forecasting.alerts.render import FAILED, failed_checks, plain_words

MAX_ROWS = 25  # held alerts listed in the digest (worst first); the counts cover all


class Backfill:
    """Route a run's alerts: ``send(alert)`` delivers the alerts of the last day (the
    alert's ``date``; every alert of a one-day run) through ``deliver`` and holds the rest,
    returning None; ``flush()`` sends the digest of what was held (nothing when nothing was)."""

    def __init__(self, label: str, days: Sequence[date], deliver: Callable[[Alert], Any]) -> None:
        self.label, self.days, self.deliver = label, list(days), deliver
        self.held: list[Alert] = []

    @property
    def is_backfill(self) -> bool:
        return len(self.days) > 1

    def send(self, alert: Alert) -> Any:
        if self.is_backfill and str(alert.date) != str(self.days[-1]):
            self.held.append(alert)
            return None
        return self.deliver(alert)

    def flush(self) -> Any:
        if not self.held:
            return None
        alert = digest_alert(self.label, self.days[0], self.days[-1], self.held)
        self.held = []
        return self.deliver(alert)


def digest_alert(label: str, first: date, last: date, held: list[Alert]) -> Alert:
    """The digest of ``held`` alerts of the days ``first`` .. ``last`` (``label``: the run)."""
    rank = {s: i for i, s in enumerate(ALERT_SEVERITIES)}  # critical first
    worst = min(held, key=lambda a: rank[a.severity]).severity
    by_kind = Counter(f"{a.kind.replace('_', ' ')} ({a.severity})" for a in held)
    days = Counter(str(a.date) for a in held)
    ordered = sorted(held, key=lambda a: (rank[a.severity], -days[str(a.date)], str(a.date), a.title))
    worst_days = sorted(days, key=lambda d: (min(rank[a.severity] for a in held if str(a.date) == d), -days[d], d))
    summary = (
        f"The backfill {label} from {first} to {last} found problems on {len(days)} past day(s): "
        f"{len(held)} alert(s) held back and summarised here instead of one message each. "
        f"Worst days: {', '.join(worst_days[:5])}. Alerts for {last} itself were sent on their own."
    )
    rows = [{"date": str(a.date), "source": a.source, "kind": a.kind, "severity": a.severity,
             "what": _what(a)} for a in ordered[:MAX_ROWS]]  # fmt: skip
    return Alert(
        "digest", worst, f"Backfill digest {label} {first}..{last}: {len(held)} alert(s) on {len(days)} day(s)",
        last, label, summary,
        {"alerts by kind": dict(sorted(by_kind.items())), "days with alerts": len(days),
         "listed": f"{len(rows)} of {len(held)}, worst first"},
        rows,
    )  # fmt: skip


def _what(alert: Alert) -> str:
    """The problem in a few words: its failed checks, else the first sentence of its summary."""
    checks = failed_checks(alert.details.get(FAILED) or [])
    text = "; ".join(checks) if checks else plain_words(alert.summary).split(": ", 1)[-1].split(". ")[0]
    return text if len(text) <= 120 else text[:117] + "..."
