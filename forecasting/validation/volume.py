"""How many rows a day of a daily source plausibly holds, and which sites fell silent.

Pure functions over row counts: the validation calls them (``inputs.suite_parameters``
for the volume expectation, ``silence.site_silence`` for the per-site check) and so does
the bench (``bench/quiet_days.py``), on the same numbers.

``count_band``: the bounds of the volume expectation. The counts of the earlier days
(days with zero rows included; missing and rejected days are not counts and are left
out) fit a negative binomial by moments (a Poisson when they vary no more than one),
its variance widened by 1/n for a mean read off n days. The band holds every count whose
lower or upper tail under that law is at least ``tail``: a zero day is in the band where
zero is plausible (a small network, a quiet season), out of it where the history says
dozens of rows come every day (a lost export). With ``tail`` 1e-6 a clean source sees a
false alarm about once in 1,400 years of days per side, if the law holds; bench measures it.

``silent_sites``: a site whose rows stopped. A network's daily total hardly moves when
one of 60 sites stops, so each site is judged on its own: its trailing run of days
without a row, against the share of days without a row in its history before the run
(smoothed: (zero days + 1) / (days + 2)). A run of ``k`` days is implausible when that
share to the power ``k`` falls below ``tail``; it is reported on the day it becomes so
(``new``), and noted on the days after while it lasts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

MIN_VOLUME_HISTORY = 3  # fewer earlier days with a count than this: no band (check skipped)


@dataclass(frozen=True)
class CountBand:
    """Plausible row counts for the next day: ``low <= rows <= high``."""

    low: int
    high: int
    mean: float
    variance: float  # predictive variance (the law's, widened by 1/n)
    days: int  # earlier days the band was read from
    tail: float

    @property
    def note(self) -> str:
        law = "Poisson" if self.variance <= self.mean else "negative binomial"
        return (f"volume bounds [{self.low}, {self.high}] rows: {law} with mean {self.mean:.3g} and "
                f"variance {self.variance:.3g} from {self.days} earlier days, tail {self.tail:g} "
                "per side")  # fmt: skip

    def judge(self, rows: int) -> str | None:
        """None when ``rows`` is in the band, else why not (one line)."""
        if self.low <= rows <= self.high:
            return None
        side = "fewer" if rows < self.low else "more"
        return f"{rows} rows: {side} than plausible ({self.note})"


def count_band(history: Sequence[int], tail: float) -> CountBand | None:
    """The band of plausible counts after ``history`` (earlier days' counts, any order);
    None with fewer than ``MIN_VOLUME_HISTORY`` counts."""
    counts = np.asarray([c for c in history if c is not None and not _isnan(c)], dtype=float)
    n = len(counts)
    if n < MIN_VOLUME_HISTORY:
        return None
    # a history of zeros still leaves room for a row or two: the mean is at least 1/(n + 1)
    mean = max(float(counts.mean()), 1.0 / (n + 1))
    var = max(float(counts.var(ddof=1)), mean) * (1.0 + 1.0 / n)
    law = _law(mean, var)
    low = int(law.ppf(tail))  # smallest count with P(X <= count) >= tail
    high = int(law.isf(tail))  # largest count with P(X >= count) > tail
    return CountBand(low, high, mean, var, n, tail)


def _law(mean: float, var: float) -> stats.rv_discrete:
    if var <= mean * (1 + 1e-9):
        return stats.poisson(mean)
    size = mean * mean / (var - mean)
    return stats.nbinom(size, size / (size + mean))


def _isnan(x: object) -> bool:
    return isinstance(x, float) and math.isnan(x)


@dataclass(frozen=True)
class Silence:
    """A site with no row for ``days`` days up to the judged day."""

    site: str
    days: int
    zero_share: float  # smoothed share of its earlier days without a row
    rate: float  # its rows per day before the silence
    chance: float  # zero_share ** days: how likely such a run is for this site
    new: bool  # the run became implausible on the judged day (alert); else it was before

    @property
    def message(self) -> str:
        return (f"site {self.site} sent no row for {self.days} days (it sent {self.rate:.2g} a day "
                f"before, with no row on {self.zero_share:.0%} of days; chance of such a silence "
                f"{self.chance:.1e}): check its export")  # fmt: skip


def silent_sites(counts: pd.DataFrame, *, min_days: int, tail: float, history_days: int,
                 min_history: int) -> list[Silence]:  # fmt: skip
    """Sites whose trailing silence is implausible on the last day of ``counts``.

    ``counts``: one row per day with data (ascending; the judged day last), one column per
    site; rows that day (0: none; NaN: the site's day is missing, skipped). A site is judged
    from ``min_days`` silent days on, on the last ``history_days`` days with data before
    its silence (at least ``min_history`` of them). Sorted by site.
    """
    out = []
    for site in sorted(counts.columns):
        x = counts[site].dropna().to_numpy(dtype=float)
        nonzero = np.flatnonzero(x > 0)
        run = len(x) if not len(nonzero) else len(x) - 1 - int(nonzero[-1])
        if run < min_days:
            continue
        before = x[: len(x) - run][-history_days:]
        if len(before) < min_history:
            continue
        share = (float((before == 0).sum()) + 1.0) / (len(before) + 2.0)
        chance = share**run
        if chance >= tail:
            continue
        new = run == min_days or share ** (run - 1) >= tail
        out.append(Silence(str(site), run, share, float(before.mean()), chance, new))
    return out
