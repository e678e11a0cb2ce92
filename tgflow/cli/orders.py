"""`tgflow orders ...`, `tgflow export-orders` and `tgflow enqueue-order`: Framework360 orders -> TotalGest."""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

import typer
from rich.table import Table

from tgflow.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURES,
    EXIT_OK,
    connect_or_fail,
    console,
    emit_json,
    err_console,
    fail,
    load_settings,
    open_store,
    run,
    when,
)

app = typer.Typer(
    help=(
        "Completed Framework360 orders and their export to TotalGest: the status column (`Linked OV-…`, "
        "`Not linked`, `Pending`, `Failed: reason`) and each order's attempts. Export now with "
        "`tgflow export-orders ID...`; hand an order to the queue with `tgflow enqueue-order ID...`."
    ),
    no_args_is_help=True,
)


class OrderStatus(str, Enum):
    linked = "linked"
    not_linked = "not_linked"
    pending = "pending"
    failed = "failed"


def status_column(status: str, tg_number: str | None, reason: str | None) -> str:
    if status == "linked":
        return f"Linked {tg_number}" if tg_number else "Linked"
    if status == "failed":
        return f"Failed: {reason}" if reason else "Failed"
    return {"pending": "Pending", "not_linked": "Not linked"}.get(status, status)


def _row(link) -> dict[str, Any]:
    from tgflow.store.orders import link_dict

    row = link_dict(link)
    row["column"] = status_column(link.status, link.tg_order_number, link.last_error)
    return row


@app.command("list")
def list_orders(
    status: Optional[OrderStatus] = typer.Option(None, "--status", help="Only orders in this state."),
    limit: int = typer.Option(0, help="Show at most this many, newest first (0 = all)."),
    json_output: bool = typer.Option(False, "--json", help="Print the orders as JSON."),
) -> None:
    """Orders with their sync status column, read from the status store.

    `Linked OV-…` (the TotalGest number), `Not linked` (seen, not exported yet), `Pending` (queued or being
    exported, e.g. retrying while TotalGest is down) or `Failed: reason` (what to fix; then
    `tgflow export-orders ID`). Example: `tgflow orders list --status failed`.
    """
    from tgflow.store import orders as ostore

    settings = load_settings()
    store = open_store(settings)
    links = ostore.list_links(store, settings.totalgest.shop_id, status.value if status else None, limit or None)
    store.close()
    rows = [_row(link) for link in links]
    if json_output:
        emit_json(rows)
        return
    table = Table(title=f"Orders ({len(rows)})")
    for col in ("Id", "Number", "Status", "Attempts", "Last attempt"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = {"linked": "green", "failed": "red"}.get(r["status"], "yellow")
        flag = " [yellow](changed after export)[/]" if r["changed_after_export"] else ""
        table.add_row(str(r["order_id"]), r["number"] or "—", f"[{style}]{r['column']}[/]{flag}",
                      str(r["attempts"]), when(r["last_attempt_at"]))
    console.print(table)


@app.command("show")
def show(
    ident: str = typer.Argument(..., metavar="ID", help="Framework360 order id (17) or number (F360-10017)."),
    json_output: bool = typer.Option(False, "--json", help="Print the order and its attempts as JSON."),
) -> None:
    """One order: its status column, TotalGest number, and every export attempt with its outcome.

    Example: `tgflow orders show F360-10017`.
    """
    from tgflow.store import orders as ostore
    from tgflow.temporal import workflow_url

    settings = load_settings()
    store = open_store(settings)
    view = ostore.get_with_attempts(store, settings.totalgest.shop_id, ident)
    store.close()
    if view is None:
        fail(f"order {ident} is not in the status store yet (see `tgflow orders list`); "
             f"export it with `tgflow export-orders {ident}`", EXIT_CONFIG)
    row = _row(view.link)
    row["attempt_history"] = [ostore.attempt_dict(a) for a in view.attempts]
    row["url"] = workflow_url(settings.temporal, row["workflow_id"]) if row["workflow_id"] else None
    if json_output:
        emit_json(row)
        return
    style = {"linked": "green", "failed": "red"}.get(row["status"], "yellow")
    table = Table(title=f"Order {row['number'] or row['order_id']}", show_header=False)
    table.add_row("status", f"[{style}]{row['column']}[/]", overflow="fold")
    table.add_row("Framework360 id", str(row["order_id"]))
    table.add_row("Framework360 status", row["f360_status"] or "—")
    table.add_row("TotalGest order", f"{row['tg_order_number']} (id {row['tg_order_id']})" if row["tg_order_number"] else "—")
    if row["changed_after_export"]:
        table.add_row("note", "[yellow]cancelled or refunded in Framework360 after the export: check TotalGest[/]")
    table.add_row("Web UI", row["url"] or "—")
    console.print(table)
    attempts = Table(title="Attempts")
    for col in ("When", "Outcome", "TotalGest", "Message"):
        attempts.add_column(col, overflow="fold")
    for a in row["attempt_history"]:
        attempts.add_row(when(a["at"]), a["outcome"], a["tg_order_number"] or "—", a["message"] or "")
    console.print(attempts)


def _ids(values: list[str]) -> list[int]:
    out = []
    for v in values:
        v = v.strip()
        if not v.isdigit():
            fail(f"{v!r} is not a Framework360 order id (a number such as 17)", EXIT_CONFIG)
        out.append(int(v))
    return out


def _print_report(report, json_output: bool) -> None:
    data = report.model_dump(mode="json")
    if json_output:
        emit_json(data)
        return
    console.print(f"[green]{report.succeeded} exported[/] · {report.already_linked} already linked · "
                  f"[{'red' if report.failed else 'green'}]{report.failed} failed[/] (of {report.total})",
                  highlight=False)
    for item in report.linked:
        console.print(f"  [green]linked[/]  {item.number or item.order_id} → {item.tg_order_number}", highlight=False)
    for f in report.failures:
        err_console.print(f"  [red]failed[/]  {f.number or f.order_id}: {f.reason}", highlight=False, soft_wrap=True)


def export_orders(
    ids: Optional[list[str]] = typer.Argument(None, metavar="ID...", help="Framework360 order ids."),
    all_pending: bool = typer.Option(False, "--all-pending",
                                     help="Also every order the status store knows that is not linked "
                                          "(not linked, pending or failed)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the report (default) or return at once."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Export these orders to TotalGest now and print a report (exported, already linked, failed with reasons).

    Bypasses the queue's pacing, never the exactly-once rule: an order already in TotalGest is reported
    `already linked`, not created again. Exit code 0 when every order is exported or already linked,
    1 otherwise. Example: fix the cause shown by `tgflow orders list --status failed`, then
    `tgflow export-orders --all-pending`.
    """
    from tgflow.service.orders import export_orders_now, pending_order_ids, start_export

    settings = load_settings()
    wanted = _ids(ids or [])
    if all_pending:
        store = open_store(settings)
        wanted += pending_order_ids(store, settings)
        store.close()
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        fail("no orders to export: give ids (`tgflow export-orders 17 18`) or --all-pending", EXIT_CONFIG)

    async def _go():
        client = await connect_or_fail(settings)
        if wait:
            return await export_orders_now(client, settings, wanted)
        handle = await start_export(client, settings, wanted)
        return handle.id

    result = run(_go())
    if not wait:
        from tgflow.temporal import workflow_url

        if json_output:
            emit_json({"workflow_id": result, "orders": len(wanted), "url": workflow_url(settings.temporal, result)})
        else:
            console.print(f"exporting {len(wanted)} order(s): {workflow_url(settings.temporal, result)}",
                          highlight=False)
        raise typer.Exit(EXIT_OK)
    _print_report(result, json_output)
    raise typer.Exit(EXIT_OK if result.failed == 0 else EXIT_FAILURES)


def enqueue_order(
    ids: list[str] = typer.Argument(..., metavar="ID...", help="Framework360 order ids."),
    json_output: bool = typer.Option(False, "--json", help="Print what was sent as JSON."),
) -> None:
    """Hand orders to the shop's export queue (as a webhook would); the queue paces them and ignores
    ids it already holds. See the queue with `tgflow status`; the outcome with `tgflow orders list`."""
    from tgflow.service.orders import enqueue_orders

    settings = load_settings()
    wanted = _ids(ids)

    async def _go():
        client = await connect_or_fail(settings)
        handle = await enqueue_orders(client, settings, wanted)
        return handle.id

    workflow_id = run(_go())
    if json_output:
        emit_json({"enqueued": wanted, "queue": workflow_id})
    else:
        console.print(f"enqueued {len(wanted)} order(s) on {workflow_id}", highlight=False)
    raise typer.Exit(EXIT_OK)


def register(root: typer.Typer) -> None:
    root.command("export-orders")(export_orders)
    root.command("enqueue-order")(enqueue_order)
