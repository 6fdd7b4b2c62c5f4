"""Per-file row accounting: rows delivered = bronze + quarantine, checked by the code."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from forecasting.core import schema as s
from forecasting.core.errors import DataContractError
from forecasting.ingest.bronze import Split, account_rows
from forecasting.ingest.raw import RawFile, Reject


def _raw(name: str, rows: int, rejects: int = 0) -> RawFile:
    table = pa.table({s.RECON_ID: pa.array([f"RC-{i}" for i in range(rows)], pa.string())})
    return RawFile(name, table, np.arange(1, rows + 1), [Reject(rows + 1, "x")] * rejects)


def _lineage(names: list[str]) -> pa.Table:
    return pa.table({s.SOURCE_FILE: pa.array(names, pa.string())})


def test_every_file_adds_up():
    raws = [_raw("a.csv", 2, rejects=1), _raw("b.csv", 1)]
    split = Split(_lineage(["a.csv", "a.csv", "b.csv"]), _lineage(["a.csv"]), 0)
    assert account_rows(raws, split) == {
        "a.csv": {"read": 3, "accepted": 2, "quarantined": 1},
        "b.csv": {"read": 1, "accepted": 1, "quarantined": 0},
    }


@pytest.mark.parametrize(
    ("bronze", "held", "match"),
    [
        (["a.csv"], [], r"a.csv: 2 rows delivered but 1 in bronze and 0 in quarantine"),
        (["a.csv", "a.csv"], ["a.csv"], r"a.csv: 2 rows delivered but 2 in bronze and 1"),
        (["a.csv", "a.csv", "c.csv"], [], r"attributed to no landing file.*c.csv"),
    ],
)
def test_a_lost_or_invented_row_is_a_critical_error(bronze, held, match):
    with pytest.raises(DataContractError, match=match):
        account_rows([_raw("a.csv", 2)], Split(_lineage(bronze), _lineage(held), 0))
