"""`tgflow db ...`: the status database's schema revision, and upgrading it (also done by `tgflow setup`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer

from tgflow.cli.common import EXIT_CONFIG, EXIT_UNAVAILABLE, console, emit_json, fail, load_settings
from tgflow.config import Settings

T = TypeVar("T")

app = typer.Typer(
    help=(
        "The status database's schema. Each tgflow release ships its schema changes as Alembic revisions; "
        "`tgflow db upgrade` (or `tgflow setup`) applies the missing ones. Workers and the webhook receiver "
        "also upgrade on start, so this is for operators who want to do it first, with a report."
    ),
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print the result as JSON.")


def shown_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def _with_engine(settings: Settings, fn: Callable[..., T]) -> T:
    """Run ``fn(engine)`` on the status database, failing with one line naming what to fix."""
    from sqlalchemy.exc import SQLAlchemyError

    from tgflow.store import Store
    from tgflow.store.schema import SchemaError

    store = None
    try:
        store = Store(settings.database_url, upgrade=False)
        return fn(store.engine)
    except SchemaError as exc:
        fail(f"{exc} (database {shown_url(settings)})", EXIT_CONFIG)
    except (SQLAlchemyError, OSError, ValueError) as exc:
        fail(f"the status database {shown_url(settings)} did not answer ({type(exc).__name__}); "
             "fix TGFLOW_DATABASE_URL or start the database", EXIT_UNAVAILABLE)
    finally:
        if store is not None:
            store.close()


def upgrade_database(settings: Settings):  # -> tgflow.store.schema.UpgradeResult
    from tgflow.store import schema

    return _with_engine(settings, schema.upgrade)


def describe_upgrade(result, database: str) -> str:
    """One line: what ``upgrade`` did to the database."""
    applied = ", ".join(result.applied)
    if result.adopted:
        what = (f"added {', '.join(result.added)}" if result.added else "its tables matched the baseline")
        line = f"{database}: created before migrations; adopted at the baseline ({what})"
        return line + (f", then applied {applied}" if applied else "") + f"; now at {result.after} (latest)"
    if result.before is None and result.applied:
        return f"{database}: empty; created the tables at {result.after} (latest), applied {applied}"
    if result.applied:
        return f"{database}: upgraded from {result.before} to {result.after} (latest), applied {applied}"
    return f"{database}: already at {result.after} (latest), nothing to do"


@app.command()
def upgrade(json_output: bool = JSON) -> None:
    """Bring the status database to the latest schema revision (safe to run again, and from several
    machines at once). A database created by a release before migrations is adopted: what it lacks is
    added and it is stamped at the baseline.

    Example: `tgflow db upgrade` → `sqlite:///./tgflow.db: upgraded from 0001_baseline to 0002_… (latest)`"""
    settings = load_settings(require_shop=False, one_shop=False)  # the database is all these commands need
    result = upgrade_database(settings)
    if json_output:
        emit_json({"database": shown_url(settings), **result.as_dict()})
    else:
        console.print(describe_upgrade(result, shown_url(settings)), highlight=False, soft_wrap=True)


@app.command()
def current(json_output: bool = JSON) -> None:
    """Show the status database's schema revision and whether it is the latest (changes nothing).

    Example: `tgflow db current --json`"""
    from tgflow.store import schema

    settings = load_settings(require_shop=False, one_shop=False)  # the database is all these commands need

    def look(engine):
        return schema.current(engine), schema.is_pre_alembic(engine), schema.head()

    revision, pre_alembic, head = _with_engine(settings, look)
    database = shown_url(settings)
    if json_output:
        emit_json({"database": database, "revision": revision, "head": head, "up_to_date": revision == head,
                   "pre_alembic": pre_alembic})
        return
    if revision == head:
        line = f"{database}: at {revision} (latest)"
    elif pre_alembic:
        line = f"{database}: created before migrations (no revision); `tgflow db upgrade` adopts it"
    elif revision is None:
        line = f"{database}: empty; `tgflow db upgrade` creates the tables at {head}"
    else:
        line = f"{database}: at {revision}, the latest is {head}; run `tgflow db upgrade`"
    console.print(line, highlight=False, soft_wrap=True)
