"""Free text and people of the sample network: report notes and reporter ids.

About 15% of filled notes name a person (with diacritics) and often a phone number, so
the PII handling downstream is tested on realistic text, not on a placeholder.
"""

from __future__ import annotations

import numpy as np

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "theft": (
        "{units} x {sku} missing from cage {n} after night shift.",
        "Seal on trailer {n} broken, {units} units of {sku} short.",
        "Empty cartons of {sku} found behind rack {n}.",
        'CCTV shows a person leaving via gate {n} with goods; driver said "not my pallet".',
    ),
    "burglary": (
        "Fence cut near gate {n}; {units} x {sku} taken.",
        "Forced entry at dock door {n}, alarm at {hh:02d}:{mm:02d}.",
    ),
    "fraud": (
        "Pick list for {sku} altered, {units} units unaccounted for.",
        "Delivery note signed for {units} x {sku}, never received by the carrier.",
    ),
    "vandalism": (
        "Graffiti on dock door {n}.",
        "Forklift seat slashed in aisle {n}.",
        "Gatehouse window {n} smashed, repair quote attached.",
    ),
    "other": (
        "Slip hazard reported in aisle {n}.",
        "Visitor without badge escorted out at {hh:02d}:{mm:02d}.",
        "Fire door {n} found propped open.",
        "Near miss with reach truck in aisle {n}.",
    ),
    "false_theft": ("Suspected theft; stock later found in wrong location {n}.",),
    "false_burglary": (
        "Intrusion alarm at {hh:02d}:{mm:02d}, patrol found nothing.",
        "Motion sensor {n} triggered by a bird.",
    ),
}
_PII_SUFFIXES = (
    " Witness: {name}, tel. {phone}.",
    " Called {name} ({phone}), on duty that night.",
    " Reported by {name}.",
    " Contact {name} at {phone} for CCTV footage.",
)
_FIRST = (
    "Anna", "Lukas", "Zoë", "Jürgen", "Marie", "Łukasz", "Søren", "José", "Inês", "Giulia",
    "Björn", "Émilie", "Katarzyna", "Tomáš", "Mihai", "Ayşe", "Henrik", "Lucía",
)  # fmt: skip
_LAST = (
    "Schmidt", "Müller", "Dubois", "Nowak", "Rossi", "García", "Jansen", "Peeters", "Novák",
    "Nielsen", "Andersson", "Silva", "Horváth", "Popescu", "Gruber", "Wójcik", "Lefèvre",
)  # fmt: skip
NOTES_EMPTY_SHARE = 0.3
NOTES_PII_SHARE = 0.15  # of filled notes


def draw_notes(
    rng: np.random.Generator,
    kinds: np.ndarray,
    skus: np.ndarray,
    units: np.ndarray,
    phone_prefixes: np.ndarray,
) -> list[str | None]:
    """One note per row (None when empty); ``kinds`` are keys of the template table."""
    n = len(kinds)
    fill = rng.random(n) >= NOTES_EMPTY_SHARE
    pii = rng.random(n) < NOTES_PII_SHARE
    pick, suffix = rng.integers(0, 1 << 30, n), rng.integers(len(_PII_SUFFIXES), size=n)
    nums, hh, mm = rng.integers(1, 40, n), rng.integers(0, 24, n), rng.integers(0, 60, n)
    first, last = rng.integers(len(_FIRST), size=n), rng.integers(len(_LAST), size=n)
    mobile, line = rng.integers(150, 180, n), rng.integers(1_000_000, 10_000_000, n)
    out: list[str | None] = []
    for i in range(n):
        if not fill[i]:
            out.append(None)
            continue
        options = _TEMPLATES[kinds[i]]
        text = options[pick[i] % len(options)].format(
            units=units[i], sku=skus[i] or "stock", n=nums[i], hh=hh[i], mm=mm[i]
        )
        if pii[i]:
            text += _PII_SUFFIXES[suffix[i]].format(
                name=f"{_FIRST[first[i]]} {_LAST[last[i]]}",
                phone=f"{phone_prefixes[i]} {mobile[i]} {line[i]}",
            )
        out.append(text)
    return out


class ReporterPool:
    """Employees who file reports: 6..15 per warehouse, ids ``EMP-04711`` unique network-wide."""

    def __init__(self, rng: np.random.Generator, n_warehouses: int) -> None:
        self.sizes = rng.integers(6, 16, n_warehouses)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        numbers = rng.choice(np.arange(1_000, 100_000), size=int(self.sizes.sum()), replace=False)
        self.ids = np.array([f"EMP-{x:05d}" for x in numbers], dtype=object)

    def draw(
        self, rng: np.random.Generator, w_idx: np.ndarray, anonymous: float = 0.03
    ) -> np.ndarray:
        """A reporter id per row (None for anonymous hotline reports)."""
        pos = self.offsets[w_idx] + rng.integers(0, self.sizes[w_idx])
        out = self.ids[pos].copy()
        out[rng.random(len(w_idx)) < anonymous] = None
        return out
