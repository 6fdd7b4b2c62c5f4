"""Parquet written piece by piece, with the bytes ``pyarrow.parquet.write_table`` gives at once.

``RowGroupWriter`` takes tables in order and writes row groups of exactly ``ROW_GROUP``
rows (the last one shorter; one empty row group for no rows), each table cast to the first
one's schema, with the schema metadata and dictionary columns ``options(schema)`` names.
Streamed ingest and streamed validation write their bronze and quarantine files with it,
so a file written in pieces equals the one the whole path writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 1024 * 1024  # rows per Parquet row group (pyarrow's default, named: streams match it)
Options = Callable[[pa.Schema], tuple[Any, Any]]  # schema -> (metadata, use_dictionary)


def pandas_options(schema: pa.Schema) -> tuple[Any, bool]:
    """What ``DataFrame.to_parquet`` writes: the table's own (pandas) metadata, dictionaries on."""
    return schema.metadata, True


class RowGroupWriter:
    """Tables appended in order -> one Parquet file (see the module doc); use ``with``."""

    def __init__(self, path: str, options: Options = pandas_options) -> None:
        self.path, self.options, self.rows = path, options, 0
        self.writer: pq.ParquetWriter | None = None
        self.pending: list[pa.Table] = []

    def __enter__(self) -> RowGroupWriter:
        return self

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            meta, dictionary = self.options(table.schema)
            self.writer = pq.ParquetWriter(
                self.path, table.schema.with_metadata(meta), use_dictionary=dictionary
            )
        elif not table.schema.equals(self.writer.schema, check_metadata=False):
            table = table.cast(self.writer.schema)
        self.pending.append(table)
        self.rows += table.num_rows
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        held = sum(t.num_rows for t in self.pending)
        if held < ROW_GROUP and not (final and held):
            return
        table = pa.concat_tables(self.pending)
        while table.num_rows >= ROW_GROUP or (final and table.num_rows):
            self.writer.write_table(table.slice(0, ROW_GROUP), row_group_size=ROW_GROUP)
            table = table.slice(ROW_GROUP)
        self.pending = [table] if table.num_rows else []

    def __exit__(self, *exc: object) -> None:
        if self.writer is not None:
            if not any(exc) and not self.rows:
                self.writer.write_table(self.pending[0])  # one empty row group, as write_table
            elif not any(exc):
                self._flush(final=True)
            self.writer.close()
