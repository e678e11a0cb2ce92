"""Engine and sessions for the status store; the schema is brought to the latest revision on first use."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, create_engine

from tgflow.store import models, schema  # noqa: F401  (models registers the tables)

T = TypeVar("T")


def engine_url(database_url: str) -> str:
    """Plain ``postgresql://`` URLs use psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix):]
    return database_url


class StoreMissing(LookupError):
    """``Store(url, create=False)`` found no status database (or none of its tables) at that URL."""


def _sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL; None for in-memory databases."""
    database = sa.engine.make_url(url).database
    return None if not database or database == ":memory:" or database.startswith("file::memory:") else database


class Store:
    def __init__(self, database_url: str, *, create: bool = True, upgrade: bool = True) -> None:
        """``create=False``: open an existing status database only (commands that just read status);
        raises :class:`StoreMissing` instead of creating the file or the tables.
        ``upgrade``: bring the schema to the latest revision (``schema.ensure``); off for ``tgflow db``."""
        url = engine_url(database_url)
        self.is_sqlite = url.startswith("sqlite")
        if not create and self.is_sqlite:
            path = _sqlite_file(url)
            if path is not None and not os.path.exists(path):
                raise StoreMissing(path)
        if self.is_sqlite:
            self.engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        if not create:
            with self.engine.connect() as conn:
                if not sa.inspect(conn).has_table(models.OrderLink.__tablename__):
                    self.engine.dispose()
                    raise StoreMissing(database_url)
        if upgrade:
            schema.ensure(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one session; a concurrent insert of the same key (another worker
        recording the same order or product) is retried once, then it finds the row."""
        try:
            with self.session() as session:
                return fn(session)
        except IntegrityError:
            with self.session() as session:
                return fn(session)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # WAL lets the CLI read while a worker writes; busy_timeout rides out short locks.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
