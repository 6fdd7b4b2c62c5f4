"""A fresh PostgreSQL schema per test, so parallel runs on one server never share tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url


@contextmanager
def fresh_schema(postgres_url: str) -> Iterator[str]:
    """A URL whose search_path is a new, empty schema (dropped afterwards)."""
    name = f"riskcast_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        admin.dispose()
