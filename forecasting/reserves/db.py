"""The reserves database: engine, versioned DDL (``forecasting/reserves/sql/V*.sql``), locks, tables.

The schema is created and migrated only here: ``ensure_schema`` applies every
``V<NNN>__<name>.sql`` newer than the database's ``schema_version``, in order, in one
transaction under a lock, recording each version. A ``reserves`` table without
``schema_version`` is what riskcast 0.0 made (layout ``V001``): it is stamped v1 and migrated.
SQLite (embedded default) and PostgreSQL (production) run the same DDL.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    make_url,
    text,
)
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from forecasting.core import schema as s
from forecasting.core.errors import PublishError

log = logging.getLogger(__name__)

SCHEMA_VERSION = "schema_version"
RESERVES, TOTALS, PUBLICATIONS = "reserves", "reserves_totals", "publications"
RESTATEMENTS, PUBLICATION_RESTATEMENTS = "restatements", "publication_restatements"
_V1_COLUMNS = {
    s.AS_OF_DATE, s.WAREHOUSE_ID, s.PERIOD_START, s.INCIDENTS_P50, s.INCIDENTS_P90, s.INCIDENTS_P95,
    s.LOSS_EUR_P50, s.LOSS_EUR_P90, s.LOSS_EUR_P95, s.MODEL_VERSION, s.PUBLISHED_AT,
}  # fmt: skip
_MIGRATION_FILE = re.compile(r"^V(\d{3})__([a-z0-9_]+)\.sql$")
_SQLITE_BUSY_TIMEOUT_S = 60
PUBLISH_LOCK = "publish_lock"
LOCK_TIMEOUT_S = 60  # PostgreSQL: how long a writer waits for the lock before failing
_LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def sql_dir() -> Path:
    return Path(str(resources.files("forecasting.reserves").joinpath("sql")))


def migrations() -> list[Migration]:
    """The versioned DDL files, ascending; versions must be 1, 2, 3, ... without gaps."""
    found = []
    for path in sorted(sql_dir().glob("V*.sql")):
        m = _MIGRATION_FILE.match(path.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), _statements(path.read_text())))
    assert [m.version for m in found] == list(range(1, len(found) + 1)), (
        "migration versions have gaps"
    )
    return found


def latest_version() -> int:
    return migrations()[-1].version


def _statements(sql: str) -> tuple[str, ...]:
    """Split a DDL file on ``;`` at line ends; ``--`` comment lines dropped."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return tuple(st.strip() for st in re.split(r";\s*$", body, flags=re.M) if st.strip())


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and summaries."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", str(url))


def connect(url: str) -> Engine:
    """An engine for ``url`` that has proved it can connect; PublishError naming it otherwise."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise PublishError(f"reserves_url {safe_url(url)!r} is not a database URL: {exc}") from exc
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = _sqlite_engine(parsed)
        else:
            connect_args = (
                {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}
            )
            engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
        with engine.connect():
            pass
    except (ImportError, NoSuchModuleError) as exc:  # a driver not installed, or unknown
        raise PublishError(
            f"reserves_url {safe_url(url)}: the database driver is not installed ({exc}); "
            "install it (e.g. psycopg for postgresql+psycopg://) or fix the URL's driver"
        ) from exc
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise PublishError(
            f"reserves database {safe_url(url)} cannot be reached: {reason}. Check reserves_url "
            "(RISKCAST_RESERVES_URL), that the server is up and that this host may connect"
        ) from exc
    return engine


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001 - DB-API objects
        # The driver's own transaction handling skips DDL; take control so a migration or a
        # publish is one transaction, and take the write lock up front (BEGIN IMMEDIATE):
        # two publishers serialise instead of failing on a lock upgrade.
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def lock(conn: Connection, name: str) -> None:
    """Serialise writers until the transaction ends; PublishError after ``LOCK_TIMEOUT_S``.

    PostgreSQL: an EXCLUSIVE lock on the ``publish_lock`` table of the current schema,
    which only the publisher (UPDATE on it) can take: the read-only finance role cannot
    hold up a publish. Before migration V004 made that table, a schema-namespaced
    advisory lock. Either waits at most ``lock_timeout``, then fails with a clear message
    instead of hanging. SQLite needs nothing more: BEGIN IMMEDIATE holds the write lock.
    """
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(LOCK_TIMEOUT_S * 1000)}ms'")
    has_table = conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": PUBLISH_LOCK})
    try:
        if has_table.scalar():
            conn.exec_driver_sql(f"LOCK TABLE {PUBLISH_LOCK} IN EXCLUSIVE MODE")
        else:
            conn.execute(
                text(
                    "SELECT pg_advisory_xact_lock("
                    "hashtext(current_schema() || ':riskcast:' || :name))"
                ),
                {"name": name},
            )
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        raise PublishError(
            f"the reserves database lock ({name}) is held by another session for more than "
            f"{LOCK_TIMEOUT_S} s: another publish or migration is running, or a session "
            f"holds a lock on {PUBLISH_LOCK} (see pg_locks); wait for it or end it, then retry"
        ) from exc


def ensure_schema(engine: Engine) -> int:
    """Apply pending migrations in one transaction; return the schema version now in force."""
    with engine.begin() as conn:
        lock(conn, "migrate")
        current = _current_version(conn)
        pending = [m for m in migrations() if m.version > current]
        for m in pending:
            log.info("reserves schema: applying V%03d %s", m.version, m.name)
            for statement in m.statements:
                conn.exec_driver_sql(statement)
            _record(conn, m.version, m.name)
        if conn.dialect.name == "postgresql":
            _keep_lock_private(conn)
        return pending[-1].version if pending else current


def _keep_lock_private(conn: Connection) -> None:
    """Finance gets SELECT on new tables by default privileges; on the lock table that would
    let it hold a lock that blocks publishing, so take it back (a no-op once done)."""
    conn.exec_driver_sql(
        "DO $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'riskcast_finance') "
        "AND pg_has_role(current_user, (SELECT tableowner FROM pg_tables "
        f"WHERE schemaname = current_schema() AND tablename = '{PUBLISH_LOCK}'), 'USAGE') THEN "
        f"REVOKE ALL ON {PUBLISH_LOCK} FROM riskcast_finance; END IF; END $$"
    )


def _current_version(conn: Connection) -> int:
    names = set(inspect(conn).get_table_names())
    if SCHEMA_VERSION not in names:
        conn.exec_driver_sql(
            f"CREATE TABLE {SCHEMA_VERSION} (version INTEGER PRIMARY KEY, "
            "name VARCHAR(200) NOT NULL, applied_at TIMESTAMP WITH TIME ZONE NOT NULL "
            "DEFAULT CURRENT_TIMESTAMP)"
        )
        if RESERVES in names:  # made by riskcast 0.0, before versioning
            columns = {c["name"] for c in inspect(conn).get_columns(RESERVES)}
            if columns != _V1_COLUMNS:
                raise PublishError(
                    f"table {RESERVES} exists without {SCHEMA_VERSION} and its columns "
                    f"{sorted(columns)} are not riskcast's v1 layout: rename or move it, then publish"
                )
            _record(conn, 1, "reserves_v1 (found, pre-versioning)")
            return 1
        return 0
    found = conn.execute(text(f"SELECT MAX(version) FROM {SCHEMA_VERSION}")).scalar()
    version = int(found or 0)
    if version > latest_version():
        raise PublishError(
            f"the reserves database is at schema v{version}, newer than this riskcast "
            f"(v{latest_version()}): upgrade riskcast before publishing"
        )
    return version


def _record(conn: Connection, version: int, name: str) -> None:
    conn.execute(
        text(f"INSERT INTO {SCHEMA_VERSION} (version, name) VALUES (:v, :n)"),
        {"v": version, "n": name},
    )


def apply_roles(engine: Engine) -> None:
    """Create the publisher and finance roles and grant them on the current schema (PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        raise PublishError(f"roles exist on PostgreSQL only, not on {engine.dialect.name}")
    with engine.begin() as conn:
        # the raw cursor, without parameters: the file's format('%I') is not a placeholder
        conn.connection.cursor().execute((sql_dir() / "roles.sql").read_text())


# ----------------------------------------------------------------------------- tables (DML)
_meta = MetaData()
_EUR = Numeric(14, 2, asdecimal=False)
_ID = String(128)


def _figures() -> list[Column]:
    return [Column(c, Float) for c in (s.INCIDENTS_P50, s.INCIDENTS_P90, s.INCIDENTS_P95)] + [
        Column(c, _EUR) for c in (s.LOSS_EUR_P50, s.LOSS_EUR_P90, s.LOSS_EUR_P95, s.LOSS_EUR_MEAN)
    ]


def _provenance() -> list[Column]:
    return [
        Column(s.BACKTEST_COVERAGE_P95, Float),
        Column(s.CALIBRATION_METHOD, String(200)),
        Column(s.MODEL_VERSION, _ID),
        Column(s.SNAPSHOT_ID, _ID),
        Column(s.CODE_VERSION, _ID),
        Column(s.PUBLISHED_AT, DateTime(timezone=True)),
    ]


def _period() -> list[Column]:
    return [Column(s.PERIOD_START, Date), Column(s.PERIOD_END, Date), Column(s.STEP, Integer)]


publications = Table(
    PUBLICATIONS, _meta,
    Column(s.AS_OF_DATE, Date), Column(s.RUN_ID, _ID), Column(s.MODEL_VERSION, _ID),
    Column(s.SNAPSHOT_ID, _ID), Column(s.CODE_VERSION, _ID), Column(s.CONTENT_DIGEST, String(64)),
    Column(s.N_ROWS, Integer), Column(s.PUBLISHED_AT, DateTime(timezone=True)),
    Column(s.IS_CURRENT, Boolean), Column(s.PUBLICATION_REASON, String(2000)),
)  # fmt: skip
_RESTATEMENT_KEY = (s.RESTATED_SOURCE, s.RESTATED_DAY, s.LANDING_DIGEST)
restatements = Table(
    RESTATEMENTS, _meta,
    Column(s.RESTATED_SOURCE, String(64)), Column(s.RESTATED_DAY, Date), Column(s.LANDING_DIGEST, String(64)),
    Column(s.DETECTED_ON, Date), *[Column(c, Text) for c in (s.FILES_ADDED, s.FILES_CHANGED, s.FILES_REMOVED)],
    Column(s.ROWS_BEFORE, Integer), Column(s.ROWS_AFTER, Integer), Column(s.RESTATEMENT_REASON, String(2000)),
    Column(s.RECORDED_AT, DateTime(timezone=True)),
)  # fmt: skip
publication_restatements = Table(
    PUBLICATION_RESTATEMENTS, _meta,
    Column(s.AS_OF_DATE, Date), Column(s.RUN_ID, _ID), Column(s.RESTATED_SOURCE, String(64)),
    Column(s.RESTATED_DAY, Date), Column(s.LANDING_DIGEST, String(64)),
)  # fmt: skip
reserves = Table(
    RESERVES, _meta,
    Column(s.AS_OF_DATE, Date), Column(s.RUN_ID, _ID), Column(s.WAREHOUSE_ID, _ID),
    Column(s.REGION, _ID), Column(s.COUNTRY, _ID), *_period(), *_figures(),
    Column(s.ESCALATION_LEVEL, Integer), *_provenance(),
)  # fmt: skip
totals = Table(
    TOTALS, _meta,
    Column(s.AS_OF_DATE, Date), Column(s.RUN_ID, _ID), Column(s.TOTAL_LEVEL, String(16)),
    Column(s.TOTAL_ID, _ID), *_period(), *_figures(), *_provenance(),
)  # fmt: skip
