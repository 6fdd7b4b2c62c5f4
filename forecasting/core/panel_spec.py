"""What a panel holds besides ``unique_id, ds, y`` (``PanelSpec``), and its frequencies.

The one panel type every stage shares: the model package, the backtest and the reserves
read it, so it lives apart from the panel *stage* (``panel.build``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Settings / CLI frequency -> pandas offset alias used for ``ds``.
FREQ_ALIASES = {"D": "D", "W": "W-MON", "M": "MS"}
SEASON_LENGTHS = {"D": 7, "W-MON": 52, "W": 52, "MS": 12, "M": 12}
_CRON_WEEKDAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}


@dataclass(frozen=True)
class PanelSpec:
    """What a panel holds besides ``unique_id, ds, y``: its frequency and covariate columns.

    ``freq`` is a pandas offset alias (``D``, ``W-MON``, ``MS``); ``static_real`` /
    ``static_cat`` are constant per series; ``dynamic_real`` are known over the horizon.
    """

    freq: str
    static_real: tuple[str, ...] = ()
    static_cat: tuple[str, ...] = ()
    dynamic_real: tuple[str, ...] = ()
    target: str = "y"  # which panel target column ``y`` was built from (provenance)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PanelSpec:
        return cls(
            freq=data["freq"],
            static_real=tuple(data.get("static_real", ())),
            static_cat=tuple(data.get("static_cat", ())),
            dynamic_real=tuple(data.get("dynamic_real", ())),
            target=data.get("target", "y"),
            extra=dict(data.get("extra", {})),
        )


def season_length(freq: str) -> int:
    """Seasonal period of a panel frequency alias (D 7, W 52, M 12); else 1."""
    return SEASON_LENGTHS.get(freq, 1)


def freq_alias(freq: str) -> str:
    """Map ``D`` / ``W`` / ``M`` (settings, CLI) to the pandas alias; pass aliases through."""
    return FREQ_ALIASES.get(freq, freq)


def weekly_schedule(alias: str = FREQ_ALIASES["W"]) -> str:
    """The cron of the weekly forecast: 00:00 UTC on the day a week of ``alias`` starts.

    A ``W-MON`` week runs Monday..Sunday, so it has ended at Monday 00:00: a run due then
    works on the Sunday (the day before its due time, ``runtime.as_of``), the last day of
    the week, and its first forecast week is the next full one. Derived from the anchor so
    that the schedule and the periods cannot disagree (``@weekly`` is due Sunday 00:00 and
    works on Saturday, inside the week it then forecasts).
    """
    anchor = alias.partition("-")[2]
    if not alias.startswith("W-") or anchor not in _CRON_WEEKDAYS:
        raise ValueError(f"{alias!r} is not a weekly alias such as W-MON")
    return f"0 0 * * {_CRON_WEEKDAYS[anchor]}"
