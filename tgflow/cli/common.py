"""What every CLI command shares: settings, output (Rich or JSON), clear failures, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from datetime import datetime, timezone
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from tgflow.config import Settings
from tgflow.service.jsonable import json_value

T = TypeVar("T")

#: Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_FAILURES = 1  # the command ran, but some items failed
EXIT_CONFIG = 2  # configuration or usage problem a person must fix
EXIT_UNAVAILABLE = 3  # a service (Temporal, TotalGest, Framework360, database) did not answer

console = Console()
err_console = Console(stderr=True)


#: The shop chosen with ``tgflow --shop ID`` (the root option, which also reads ``TGFLOW_SHOP``).
selected_shop: str | None = None


def chosen_shop() -> str | None:
    """``--shop``, else ``TGFLOW_SHOP`` (for commands run without the root callback, e.g. from tests)."""
    return selected_shop or os.environ.get("TGFLOW_SHOP") or None


def load_settings(*, require_file: bool = True, require_shop: bool = True, one_shop: bool = True) -> Settings:
    """The settings, or one line naming what to fix and exit 2 (see :func:`tgflow.config.load_settings`).
    With ``one_shop`` (every command acting on one shop), the view of the shop chosen by ``--shop`` /
    ``TGFLOW_SHOP`` (:func:`tgflow.config.select_shop`): with one shop configured it may be left out; with
    several and none chosen, exit 2 with a line listing them. Without, the settings of every shop."""
    from tgflow.config import ConfigError, select_shop
    from tgflow.config import load_settings as load

    try:
        settings = load(require_file=require_file, require_shop=require_shop)
        return select_shop(settings, chosen_shop()) if one_shop else settings
    except ConfigError as exc:
        fail(f"configuration: {exc}", EXIT_CONFIG)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def fail(message: str, code: int = EXIT_FAILURES) -> NoReturn:
    """One clear line on stderr, then exit with ``code``. The message is text, not Rich markup: a
    ``[[shops]]`` or ``[totalgest]`` in it is shown as written."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def open_store(settings: Settings, *, create: bool = False):
    """The status store, or one line naming TGFLOW_DATABASE_URL (without its password). Commands read an
    existing one: only a worker (or ``tgflow dev``) creates it, so a mistyped setting creates nothing."""
    from sqlalchemy.engine import make_url

    from tgflow.store import Store
    from tgflow.store.db import StoreMissing

    try:
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
    except Exception:
        fail(f"TGFLOW_DATABASE_URL {settings.database_url.split('@')[-1]!r} is not a database URL "
             "(e.g. sqlite:///./tgflow.db)", EXIT_CONFIG)
    try:
        return Store(settings.database_url, create=create)
    except StoreMissing:
        fail(f"no status database at {shown} yet: `tgflow setup` (or `tgflow worker`, or `tgflow dev`) creates "
             "it, or fix TGFLOW_DATABASE_URL", EXIT_CONFIG)
    except Exception as exc:
        fail(f"the status database {shown} cannot be opened ({type(exc).__name__}); fix TGFLOW_DATABASE_URL",
             EXIT_UNAVAILABLE)


def when(value: datetime | None) -> str:
    """Timestamps in tables: UTC, to the second."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def when_short(value: datetime | None) -> str:
    """Timestamps in narrow tables: UTC, to the minute (the header says UTC)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if value else "—"


def emit_json(data: Any) -> None:
    """The one way every ``--json`` output is written."""
    sys.stdout.write(json.dumps(data, indent=2, default=json_value, ensure_ascii=False) + "\n")


def clip(text: str | None, width: int = 60) -> str:
    """A table cell on one line: at most ``width`` characters, ``…`` when cut (`show` has the full text)."""
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def interactive() -> bool:
    """Progress bars only for a person at a terminal, never in pipes or --json."""
    return sys.stdout.isatty()


async def connect_or_fail(settings: Settings, runtime=None):
    from tgflow.temporal import connect

    try:
        return await connect(settings.temporal, runtime=runtime)
    except Exception as exc:
        fail(f"Temporal at {settings.temporal.address} is not reachable ({type(exc).__name__}); "
             "start it (`tgflow dev`) or fix TGFLOW_TEMPORAL__ADDRESS", EXIT_UNAVAILABLE)


def fit_table(title: str, headers: list[str], rows: list[list[Any]], *, flexible: int, right: tuple[int, ...] = (),
              caps: dict[int, int] | None = None):
    """A table of one line per row at the console's width: each column as wide as its widest cell (at most
    ``caps[i]``, cut with "…"), the ``flexible`` one gets the rest and cuts its text with "…"."""
    from rich.table import Table
    from rich.text import Text

    caps = caps or {}

    def cell_len(value: Any) -> int:
        return len(value.plain if isinstance(value, Text) else str(value))

    widths = [min(caps.get(i, 10**6), max([len(h), *(cell_len(r[i]) for r in rows)])) for i, h in enumerate(headers)]
    borders = 3 * len(headers) + 1
    least = max(len(headers[flexible]), 10)
    for i in caps:  # a narrow console: the capped columns give way first, down to 10 characters
        rest = console.width - borders - sum(w for j, w in enumerate(widths) if j != flexible)
        if rest < least:
            widths[i] = max(10, widths[i] - (least - rest))
    rest = console.width - borders - sum(w for i, w in enumerate(widths) if i != flexible)
    widths[flexible] = max(least, min(widths[flexible], rest))
    table = Table(title=title)
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i in right else "left", no_wrap=True, overflow="ellipsis",
                         width=widths[i])
    for r in rows:
        table.add_row(*r)
    return table
