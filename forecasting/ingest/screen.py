"""The PII screen: personal data in a column not meant for it never reaches the lake raw.

The contract pseudonymises the columns it names (``Contract.pii``) and drops free text; a
provider can still put an e-mail address, a phone number, an employee id, an IBAN or a
person's name into any other column (a SKU, a site name, a unit count). Every text value of
every source is screened for those shapes (``settings.pii_screen.patterns``, RE2 syntax,
searched anywhere in a value) before bronze and quarantine are written:

- a plain text column (a site name, a category, a status) keeps the row and stores the
  value's keyed hash (``ingest.pii``: the same pseudonym as a PII column's);
- an identifier (business key, warehouse id, SKU, scope id) or a typed column (a count, an
  amount, a date), where a hash would be a wrong value, or any column when no PII key is
  configured: the row is quarantined with the reason ``personal data in column 'X' (a
  phone number): value withheld`` and the value removed (stored empty);
- a row that could not be split into fields keeps its raw line only when the line shows
  no personal data (else its hash, or nothing without a key).

Typed columns are screened where their values fail to parse (``coercion.coerce_table``),
the only values of theirs that are ever quoted or kept as text. So rejection reasons quote
a value only after the screen. Cost: a column is joined into one string and searched once
(one RE2 pass, no per-cell call); only a column with a match is searched cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecasting.core.schema import RECON_ID, REPORT_ID, SCOPE_ID, SKU, WAREHOUSE_ID, Contract
from forecasting.ingest.pii import pseudonymise_array
from forecasting.ingest.raw import RawFile

# identifiers: a hash would join nothing and break the id rules, so their rows are held back
IDENTIFIERS = (REPORT_ID, RECON_ID, WAREHOUSE_ID, SKU, SCOPE_ID)


@dataclass(frozen=True)
class Screen:
    """Compiled screen: ``patterns`` kind -> RE2 pattern; ``key`` the PII hashing key (None:
    nothing is hashed, every hit is held back)."""

    patterns: dict[str, str]
    key: bytes | None = None

    @classmethod
    def from_settings(cls, settings: Any, key: bytes | None) -> Screen | None:
        """The screen ``settings.pii_screen`` describes; None when it is off."""
        cfg = settings.pii_screen
        return cls(dict(cfg.patterns), key) if cfg.enabled and cfg.patterns else None

    @property
    def combined(self) -> str:
        """All patterns in one; ``^``/``$`` match at each value of a joined column ((?m), only
        where a pattern needs it: it makes the compile, done at every search, slower)."""
        anchored = any("^" in p or "$" in p for p in self.patterns.values())
        return ("(?m)" if anchored else "") + "|".join(f"(?:{p})" for p in self.patterns.values())

    def find(self, arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Bool per cell: the value holds a personal-data shape (null: False)."""
        if not self.any_in([arr]):
            return np.zeros(len(arr), dtype=bool)
        return _mask(pc.match_substring_regex(arr, self.combined))

    def any_in(self, arrays: list[pa.Array | pa.ChunkedArray]) -> bool:
        """Whether any value of ``arrays`` may hold a personal-data shape: one search of them
        all joined by newlines (a superset of the cells' matches; one regex compile, which
        costs more than the search on a small day)."""
        chunks = [c for a in arrays for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
        values = pa.chunked_array(chunks, pa.string()).combine_chunks() if chunks else pa.array([], pa.string())
        if values.null_count == len(values):
            return False
        values = pc.fill_null(values, "") if values.null_count else values  # a null joins to null
        if len(values.buffers()[2] or b"") >= 2**30:  # the joined string's 32-bit offsets: go wide
            values = values.cast(pa.large_string())
        list_type = pa.LargeListArray if pa.types.is_large_string(values.type) else pa.ListArray
        index = pa.int64() if list_type is pa.LargeListArray else pa.int32()
        sep = pa.scalar("\n", values.type)
        joined = pc.binary_join(list_type.from_arrays(pa.array([0, len(values)], index), values), sep)
        return bool(pc.count_substring_regex(joined, self.combined)[0].as_py())

    def kinds(self, values: pa.Array) -> list[str]:
        """Which shape each of ``values`` holds, in words (``phone number``): one search per
        pattern, whatever the number of values."""
        out = ["personal data"] * len(values)
        todo = np.ones(len(values), dtype=bool)
        for kind, pattern in self.patterns.items():
            hit = todo & _mask(pc.match_substring_regex(values, pattern))
            for i in np.flatnonzero(hit).tolist():
                out[i] = kind.replace("_", " ")
            todo &= ~hit
        return out

    def hide(self, arr: pa.Array, mask: np.ndarray, hashed: bool) -> pa.Array:
        """``arr`` with the cells of ``mask`` replaced: by their pseudonym (``hashed`` and a
        key) or emptied."""
        if hashed and self.key is not None:
            return pc.if_else(pa.array(mask), pseudonymise_array(arr, self.key), arr)
        return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)

    def scrub(self, raw: RawFile, contract: Contract) -> dict[int, list[str]]:
        """Screen ``raw``'s text columns and unsplittable rows in place (see the module doc):
        hits in plain text columns become pseudonyms; hits in identifiers (all, without a key)
        are emptied, and their rows returned as ``{row index: [reason, ...]}``, to hold back."""
        held: dict[int, list[str]] = {}
        table = raw.table
        text = [c for c in screened_columns(contract) if pa.types.is_string(table[c].type)]
        for col in text if self.any_in([table[c] for c in text]) else []:
            arr = table[col].combine_chunks()
            hits = _mask(pc.match_substring_regex(arr, self.combined))
            if not hits.any():
                continue
            hashed = hashable(contract, col) and self.key is not None
            if not hashed:
                idx = np.flatnonzero(hits)
                for i, kind in zip(idx.tolist(), self.kinds(arr.take(pa.array(idx))), strict=True):
                    held.setdefault(i, []).append(reason(col, kind))
            table = table.set_column(table.column_names.index(col), col, self.hide(arr, hits, hashed))
        raw.table = table
        self._scrub_rejects(raw, contract)
        return held

    def _scrub_rejects(self, raw: RawFile, contract: Contract) -> None:
        """Values and raw lines of the unsplittable rows, all searched at once. A PII source
        stores every raw line hashed already (``bronze._protect_line``)."""
        private = set(contract.pii) | set(contract.free_text)
        cells = [(r, col) for r in raw.rejects for col, v in r.values.items() if v and col not in private]
        cells += [(r, None) for r in raw.rejects if r.line and not private]
        texts = pa.array([r.line if col is None else r.values[col] for r, col in cells], pa.string())
        for j in np.flatnonzero(self.find(texts)).tolist() if cells else []:
            reject, col = cells[j]
            if col is None:
                reject.line = self._hidden(reject.line, True)
                reject.reason += "; personal data in the raw line: line withheld"
            else:
                reject.values[col] = self._hidden(reject.values[col], hashable(contract, col))
                reject.reason += f"; personal data in column {col!r}: value withheld"

    def _hidden(self, value: str, hashed: bool) -> str | None:
        return self.hide(pa.array([value], pa.string()), np.array([True]), hashed)[0].as_py()


def screened_columns(contract: Contract) -> list[str]:
    """The text columns the screen reads before typing (not PII, not free text)."""
    private = set(contract.pii) | set(contract.free_text)
    return [c for c, kind in contract.columns.items() if kind == "str" and c not in private]


def hashable(contract: Contract, col: str) -> bool:
    """Whether a hit in ``col`` may be stored as its pseudonym (a plain text column)."""
    return contract.columns[col] == "str" and col not in (*IDENTIFIERS, *contract.key)


def reason(col: str, kind: str) -> str:
    """The quarantine reason of a value held back by the screen."""
    return f"personal data in column {col!r} ({kind}): value withheld"


def _mask(arr: pa.Array) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)
