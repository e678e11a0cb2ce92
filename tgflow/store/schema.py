"""The status database's schema: Alembic revisions shipped in ``tgflow/store/migrations``, run in code.

Every process that opens the store (worker, webhook receiver, CLI, ``tgflow dev``, tests) calls
``ensure``: when the database is at the latest revision this is one small query; otherwise it runs
``upgrade``. ``tgflow setup`` and ``tgflow db upgrade`` run ``upgrade`` and report what it did.

Two processes starting at once: the whole upgrade runs in one transaction that first takes a lock
(PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE``, the database's write
lock), so the second one waits, then finds the database at the latest revision and does nothing.
PostgreSQL and SQLite both roll DDL back with the transaction: a failed upgrade leaves the previous
revision in place.

Databases created before tgflow used Alembic (``create_all``, no ``alembic_version`` table) are
adopted: compared with the frozen baseline (``migrations/baseline.py``), the tables, columns and
indexes an older release did not have yet are added, and the database is stamped at the baseline
before the later revisions run. ``UpgradeResult.added`` names what was added.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory

from tgflow.store.migrations import baseline

SCRIPT_LOCATION = Path(__file__).parent / "migrations"
#: ``pg_advisory_xact_lock`` key of tgflow's schema upgrades ("tgflow" in ASCII).
PG_LOCK_KEY = 0x7467666C6F77


class SchemaError(Exception):
    """The database's schema cannot be brought to this tgflow's revision; the message says what to do."""


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None  #: revision found (None: an empty database, or one created before Alembic)
    after: str  #: revision now (the latest this tgflow knows)
    applied: list[str] = field(default_factory=list)  #: revisions run, oldest first
    adopted: bool = False  #: created before Alembic: stamped at the baseline
    added: list[str] = field(default_factory=list)  #: what adopting it added ("column order_attempt.run_id")

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.adopted)

    def as_dict(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "head": head(), "applied": self.applied,
                "adopted": self.adopted, "added": self.added, "changed": self.changed}


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration, built in code: the packaged scripts, and the connection to run them on."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("file_template", "%%(rev)s")  # rev ids are already NNNN_slug
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The latest revision this tgflow ships."""
    heads = _script().get_heads()
    if len(heads) != 1:
        raise SchemaError(f"tgflow's migrations have {len(heads)} heads ({', '.join(heads)}); merge them")
    return heads[0]


def revisions() -> list[str]:
    """Every revision, oldest first."""
    return [s.revision for s in reversed(list(_script().walk_revisions()))]


def _current(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def current(engine: sa.Engine) -> str | None:
    """The database's revision; None for an empty database or one created before Alembic."""
    with engine.connect() as conn:
        return _current(conn)


def is_pre_alembic(engine: sa.Engine) -> bool:
    """Tables of tgflow but no revision: created by a release before Alembic (adopted by ``upgrade``)."""
    with engine.connect() as conn:
        return _current(conn) is None and _has_baseline_tables(conn)


def _has_baseline_tables(conn: sa.Connection) -> bool:
    return bool(set(sa.inspect(conn).get_table_names()) & set(baseline.metadata().tables))


def ensure(engine: sa.Engine) -> None:
    """Bring the database to the latest revision; one query when it already is."""
    with engine.connect() as conn:
        if _current(conn) == head():
            return
    upgrade(engine)


def upgrade(engine: sa.Engine) -> UpgradeResult:
    """Adopt a database created before Alembic, then run every revision it lacks, under a lock."""
    latest = head()
    known = revisions()
    with _locked(engine) as conn:
        before = _current(conn)
        if before is not None and before not in known:
            raise SchemaError(f"the status database is at revision {before}, which this tgflow does not know "
                              f"(its latest is {latest}): upgrade tgflow here to the release that migrated it")
        cfg = alembic_config(conn)
        adopted, added = False, []
        if before is None and _has_baseline_tables(conn):
            added = _adopt(conn)
            command.stamp(cfg, baseline.REVISION)
            adopted = True
        command.upgrade(cfg, "head")
        after = _current(conn)
    start = known.index(before) + 1 if before else (1 if adopted else 0)
    applied = known[start:known.index(latest) + 1] if after != before else []
    return UpgradeResult(before=before, after=after or latest, applied=applied, adopted=adopted, added=added)


@contextmanager
def _locked(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One transaction holding the schema lock; committed when the block ends without error."""
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        # pysqlite does not open a transaction before DDL and never takes the write lock up front:
        # a private engine that starts every transaction with BEGIN IMMEDIATE does both.
        private = sa.create_engine(engine.url, connect_args={"timeout": 30}, poolclass=sa.NullPool)
        sa.event.listen(private, "connect", _sqlite_manual_transactions)
        sa.event.listen(private, "begin", _sqlite_begin_immediate)
        try:
            with private.begin() as conn:
                yield conn
        finally:
            private.dispose()
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        yield conn


def _sqlite_manual_transactions(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None


def _sqlite_begin_immediate(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _adopt(conn: sa.Connection) -> list[str]:
    """Add to a pre-Alembic database what the baseline has and it lacks; returns what was added."""
    inspector = sa.inspect(conn)
    existing = set(inspector.get_table_names())
    ops = Operations(MigrationContext.configure(conn))
    added: list[str] = []
    for table in baseline.metadata().sorted_tables:
        if table.name not in existing:
            table.create(conn)
            added.append(f"table {table.name}")
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in columns:
                ops.add_column(table.name, _added_column(conn, column))
                added.append(f"column {table.name}.{column.name}")
        indexes = {ix["name"] for ix in inspector.get_indexes(table.name)}
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            if index.name not in indexes:
                index.create(conn)
                added.append(f"index {index.name}")
    return added


def _added_column(conn: sa.Connection, column: sa.Column[Any]) -> sa.Column[Any]:
    """A baseline column for a table that has rows: NOT NULL ones get the model's default as server default."""
    if column.nullable:
        return sa.Column(column.name, column.type, nullable=True)
    if "fill" not in column.info:
        raise SchemaError(f"the status database's table {column.table.name} has no column {column.name} and "
                          "tgflow cannot fill it: restore the database from a backup of a tgflow release")
    fill = column.info["fill"]
    default: str | sa.TextClause
    if isinstance(fill, bool):
        default = sa.text(("true" if fill else "false") if conn.dialect.name == "postgresql" else str(int(fill)))
    elif isinstance(fill, int):
        default = sa.text(str(fill))
    else:
        default = str(fill)
    return sa.Column(column.name, column.type, nullable=False, server_default=default)
