"""The stack's PostgreSQL databases, run as the superuser with the installed riskcast: by
``make stack`` (docker/stack/up.sh, ``--fresh``) and by compose's ``reserves-init`` service.

- ``--fresh``: drop and create ``$AIRFLOW_DB`` (Airflow's metadata, default
  riskcast_airflow) and ``$RESERVES_DB`` (default riskcast_reserves); compose's
  postgres-init.sh creates its databases and LOGIN roles (with passwords) itself.
- ``$RESERVES_DB``: the reserves database. Its owner (the superuser) migrates the schema
  (``db.ensure_schema``) and applies ``roles.sql`` (``db.apply_roles``): the NOLOGIN groups
  ``riskcast_publisher`` (appends) and ``riskcast_finance`` (reads). Services log in with
  their own LOGIN roles, members of a group: ``riskcast_publisher_svc`` (what Airflow's
  ``RISKCAST_RESERVES_URL`` uses) and ``riskcast_finance_svc`` (what finance's tools use).
"""

from __future__ import annotations

import os
import sys

import sqlalchemy as sa

from forecasting.reserves import db

SERVER = os.environ["STACK_PG"]
LOGINS = {"riskcast_publisher_svc": "riskcast_publisher", "riskcast_finance_svc": "riskcast_finance"}


AIRFLOW_DB = os.environ.get("AIRFLOW_DB", "riskcast_airflow")
RESERVES_DB = os.environ.get("RESERVES_DB", "riskcast_reserves")


def main(fresh: bool) -> None:
    if fresh:
        server = sa.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            for name in (AIRFLOW_DB, RESERVES_DB):
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        server.dispose()
    reserves = sa.create_engine(f"{SERVER}/{RESERVES_DB}")
    version = db.ensure_schema(reserves)
    db.apply_roles(reserves)
    with reserves.begin() as conn:
        for login, group in LOGINS.items():
            exists = conn.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{login}'").scalar()
            if not exists:
                conn.exec_driver_sql(f"CREATE ROLE {login} LOGIN")
            conn.exec_driver_sql(f"GRANT {group} TO {login}")
        conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {RESERVES_DB} TO riskcast_publisher, riskcast_finance")
    reserves.dispose()
    print(f"{RESERVES_DB} at schema version {version}; logins {', '.join(LOGINS)}")


if __name__ == "__main__":
    main("--fresh" in sys.argv[1:])
