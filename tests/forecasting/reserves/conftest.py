"""Fixtures of the reserves tests: a PostgreSQL schema of its own per test."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, make_url


@pytest.fixture
def pg_schema_url(postgres_url):
    """A PostgreSQL URL whose search_path is a new, empty schema (dropped afterwards)."""
    name = f"riskcast_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={name}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    admin.dispose()
