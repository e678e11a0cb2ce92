"""`tgflow console`: the web console for the people who run the shop, and its users."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Optional

import typer
from rich.table import Table

from tgflow.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURES,
    chosen_shop,
    console,
    emit_json,
    fail,
    load_settings,
    open_store,
    when,
)

app = typer.Typer(
    help=(
        "The web console: orders, products, schedules and the status overview in a browser, with "
        "`Send to TotalGest`, retry and a report. Serve it with `tgflow console`; add people with "
        "`tgflow console add-user NAME --role admin|viewer` (admin acts, viewer reads)."
    ),
    invoke_without_command=True,
)


class Role(str, Enum):
    admin = "admin"
    viewer = "viewer"


@app.callback()
def serve(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, help="Address to listen on (behind a reverse proxy for HTTPS; "
                                                  "default: the console.host setting, 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, help="Port to listen on (default: the console.port setting, 8800)."),
) -> None:
    """Serve the web console on http://HOST:PORT (Ctrl-C stops it). Log in with a user made by
    `tgflow console add-user`. Session cookies are signed with the console.secret setting
    (TGFLOW_CONSOLE__SECRET, 32+ characters) when set (keep logins across restarts and several console
    processes), else with a key made at start."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from tgflow.console import create_app

    # Several shops and none chosen: the console shows every shop, with a shop filter (`?shop=ID`).
    everything = load_settings(one_shop=False)
    settings = everything if not chosen_shop() and len(everything.shop_ids()) > 1 else load_settings()
    host = host or settings.console.host
    port = port or settings.console.port
    store = open_store(settings)
    app_ = create_app(settings, store)
    console.print(f"tgflow console on http://{host}:{port} (Ctrl-C stops it)", highlight=False)
    uvicorn.run(app_, host=host, port=port, log_level="warning", proxy_headers=True)


def _password() -> str:
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@app.command("add-user")
def add_user(
    name: str = typer.Argument(..., help="The user name to log in with."),
    role: Role = typer.Option(..., "--role", help="admin (acts: send, retry, pause) or viewer (reads)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Add a console user, or give an existing one a new role and password. The password is asked twice at a
    terminal, else read from standard input (one line); only a salted scrypt hash is stored.
    Example: `tgflow console add-user anna --role admin`."""
    from tgflow.service.users import UserError
    from tgflow.service.users import add_user as add

    settings = load_settings(one_shop=False)  # console users are the deployment's, not a shop's
    password = _password()
    store = open_store(settings)
    try:
        added = add(store, name, role.value, password)
    except UserError as exc:
        fail(f"{exc} (nothing saved)", EXIT_CONFIG)
    finally:
        store.close()
    if json_output:
        emit_json({"name": name, "role": role.value, "added": added})
    else:
        console.print(f"{'added' if added else 'updated'} console user {name} ({role.value})", highlight=False)


@app.command("remove-user")
def remove_user(
    name: str = typer.Argument(..., help="The user name."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Remove a console user: their sessions stop working at their next request."""
    from tgflow.service.users import remove_user as remove

    settings = load_settings(one_shop=False)  # console users are the deployment's, not a shop's
    store = open_store(settings)
    removed = remove(store, name)
    store.close()
    if json_output:
        emit_json({"name": name, "removed": removed})
    elif removed:
        console.print(f"removed console user {name}", highlight=False)
    if not removed:
        if not json_output:
            fail(f"no console user named {name} (see `tgflow console users`)", EXIT_FAILURES)
        raise typer.Exit(EXIT_FAILURES)


@app.command("users")
def list_users(json_output: bool = typer.Option(False, "--json", help="Print the users as JSON.")) -> None:
    """The console's users and their roles (never their passwords)."""
    from tgflow.service.users import list_users as users

    settings = load_settings(one_shop=False)  # console users are the deployment's, not a shop's
    store = open_store(settings)
    rows = users(store)
    store.close()
    if json_output:
        emit_json(rows)
        return
    if not rows:
        console.print("no console user yet: `tgflow console add-user NAME --role admin`")
        return
    table = Table(title=f"Console users ({len(rows)})")
    for col in ("Name", "Role", "Added", "Changed"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["role"], when(r["created_at"]), when(r["updated_at"]))
    console.print(table)
