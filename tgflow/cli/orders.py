"""`tgflow orders ...`, `tgflow export-orders` and `tgflow enqueue-order`: Framework360 orders -> TotalGest."""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from tgflow.cli.adjustments import print_adjustments, print_redriven
from tgflow.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURES,
    EXIT_OK,
    connect_or_fail,
    console,
    emit_json,
    err_console,
    fail,
    fit_table,
    interactive,
    load_settings,
    open_store,
    run,
    when,
)
from tgflow.cli.shipments import print_parcels, redrive

app = typer.Typer(
    help=(
        "Completed Framework360 orders and their export to TotalGest: the status column (`Linked OV-…`, "
        "`Not linked`, `Pending`, `Failed: reason`) and each order's attempts. Export now with "
        "`tgflow export-orders ID...`; hand an order to the queue with `tgflow enqueue-order ID...`; re-drive "
        "failures once fixed with `tgflow orders retry --failed --wait`."
    ),
    no_args_is_help=True,
)


class OrderStatus(str, Enum):
    linked = "linked"
    not_linked = "not_linked"
    pending = "pending"
    failed = "failed"


@app.command("list")
def list_orders(
    status: Optional[OrderStatus] = typer.Option(None, "--status", help="Only orders in this state."),
    limit: int = typer.Option(0, help="Show at most this many, newest first (0 = all)."),
    json_output: bool = typer.Option(False, "--json", help="Print the orders as JSON."),
) -> None:
    """Orders with their sync status column, read from the status store.

    `Linked OV-…` (the TotalGest number), `Not linked` (seen, not exported yet), `Pending` (queued or being
    exported, e.g. retrying while TotalGest is down) or `Failed: reason` (what to fix; then
    `tgflow export-orders ID`). Example: `tgflow orders list --status failed`. With several shops and no
    --shop: every shop's orders, shop after shop, with a Shop column ("shop" in --json).
    """
    from tgflow.cli.across import covered_shops
    from tgflow.service.across import page_across
    from tgflow.service.order_rows import order_rows
    from tgflow.store import orders as ostore

    views = covered_shops()
    several = len(views) > 1
    store = open_store(views[0])

    def part(shop_id: str, offset: int, room: int | None) -> tuple[list[dict[str, Any]], int]:
        if room == 0:
            return [], 0
        links = ostore.list_links(store, shop_id, status.value if status else None, room)
        return order_rows(store, shop_id, links), len(links)

    rows, _ = page_across(views, part, limit=limit or None)
    store.close()
    if json_output:
        emit_json(rows)
        return
    cells = []
    for r in rows:
        style = "red" if r["adjustment_error"] else {"linked": "green", "failed": "red"}.get(r["status"], "yellow")
        flag = " (changed after export)" if r["changed_after_export"] else ""
        column = r["column"]
        if r["number"]:  # the row names the order already
            column = column.replace(f"Failed: order {r['number']}: ", "Failed: ", 1)
        cells.append(([r["shop"]] if several else []) + [
            str(r["order_id"]), r["number"] or "—", Text(" ".join((column + flag).split()), style=style),
            str(r["attempts"]), when(r["last_attempt_at"])])
    # One line per order: a long reason is cut with "…" (`tgflow orders show` has it in full).
    headers = ["Id", "Number", "Status", "Attempts", "Last attempt"]
    title = f"Orders ({len(rows)})"
    if several:
        headers, title = ["Shop", *headers], f"Orders of {len(views)} shops ({len(rows)})"
    table = fit_table(title, headers, cells, flexible=headers.index("Status"),
                      right=(headers.index("Id"), headers.index("Attempts")))
    console.print(table)
    failed = next((r for r in rows if r["status"] == "failed" or r["adjustment_error"]), None)
    if failed is not None:
        on_shop = f"--shop {failed['shop']} " if several else ""
        console.print(f"the full reason and each attempt: `tgflow {on_shop}orders show "
                      f"{failed['number'] or failed['order_id']}`", highlight=False, soft_wrap=True)


@app.command("show")
def show(
    ident: str = typer.Argument(..., metavar="ID", help="Framework360 order id (17) or number (F360-10017)."),
    json_output: bool = typer.Option(False, "--json", help="Print the order and its attempts as JSON."),
) -> None:
    """One order: its status column, TotalGest number, every export attempt with its outcome, its parcels
    and its cancellation and refunds (status, TotalGest credit note, the reason of a refused one).

    Example: `tgflow orders show F360-10017`.
    """
    from tgflow.service.order_rows import order_detail

    settings = load_settings()
    store = open_store(settings)
    row = order_detail(settings, store, ident)
    store.close()
    if row is None:
        fail(f"order {ident} is not in the status store yet (see `tgflow orders list`); "
             f"export it with `tgflow export-orders {ident}`", EXIT_CONFIG)
    if json_output:
        emit_json(row)
        return
    style = "red" if row["adjustment_error"] else {"linked": "green", "failed": "red"}.get(row["status"], "yellow")
    name = row["number"] or str(row["order_id"])
    table = Table(title=f"Order {name}", show_header=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("status", Text(row["column"], style=style))
    table.add_row("Framework360 id", str(row["order_id"]))
    table.add_row("Framework360 status", row["f360_status"] or "—")
    table.add_row("TotalGest order", f"{row['tg_order_number']} (id {row['tg_order_id']})" if row["tg_order_number"] else "—")
    if row["changed_after_export"]:
        table.add_row("note", "[yellow]cancelled or refunded in Framework360 after the export: check TotalGest[/]")
    console.print(table)
    # On a line of its own, never folded: a link to click or paste.
    console.print(f"Web UI: {row['url'] or '— (no export workflow yet)'}", highlight=False, soft_wrap=True)
    attempts = Table(title="Attempts")
    attempts.add_column("When", no_wrap=True)
    attempts.add_column("Outcome", no_wrap=True)
    attempts.add_column("TotalGest", no_wrap=True)
    attempts.add_column("Message", overflow="fold")
    for a in row["attempt_history"]:
        attempts.add_row(when(a["at"]), a["outcome"], a["tg_order_number"] or "—", Text(a["message"] or ""))
    console.print(attempts)
    print_parcels(row["parcels"])
    print_adjustments(row["adjustments"])
    if row["status"] == "failed" or row["adjustment_error"]:
        console.print(f"fix the cause above, then: `tgflow orders retry {name} --wait`", highlight=False, soft_wrap=True)
    elif row["status"] != "linked":
        console.print(f"export it now: `tgflow export-orders {name}`", highlight=False, soft_wrap=True)


def _resolve(settings, store, values: list[str]) -> tuple[list[int], list[str]]:
    """Order ids or shop numbers -> Framework360 ids (``resolve_orders``, the one resolver of every command);
    each value that names no order is printed with why, and returned as given."""
    from tgflow.service.orders import resolve_orders

    resolved = run(resolve_orders(settings, store, values))
    for value, reason in resolved.unknown.items():
        err_console.print(f"[yellow]unknown[/] {value}: {reason}", highlight=False, soft_wrap=True)
    return resolved.ids, list(resolved.unknown)


def _print_report(report, json_output: bool, unknown: list[str] | None = None,
                  adjustments: list[dict[str, Any]] | None = None) -> None:
    data = report.model_dump(mode="json")
    if json_output:
        extra = ({} if unknown is None else {"unknown": unknown}) | (
            {} if adjustments is None else {"adjustments": adjustments})
        emit_json(data | extra)
        return
    tail = f" · [red]{len(unknown)} unknown[/]" if unknown else ""
    console.print(f"[green]{report.succeeded} exported[/] · {report.already_linked} already linked · "
                  f"[{'red' if report.failed else 'green'}]{report.failed} failed[/] (of {report.total}){tail}",
                  highlight=False)
    for item in report.linked:
        console.print(f"  [green]linked[/]  {item.number or item.order_id} → {item.tg_order_number}", highlight=False)
    for f in report.failures:
        err_console.print(f"  [red]failed[/]  {f.number or f.order_id}: {f.reason}", highlight=False, soft_wrap=True)


async def _export_with_progress(client, settings, ids: list[int], show: bool):
    """``export_orders_now`` with a Rich spinner fed by the export workflow's ``progress`` query."""
    import asyncio

    from tgflow.service.orders import BULK_MAX, export_orders_now, start_export

    if not show or len(ids) > BULK_MAX:
        return await export_orders_now(client, settings, ids)
    handle = await start_export(client, settings, ids)
    task = asyncio.ensure_future(handle.result())
    with console.status(f"exporting {len(ids)} order(s)…") as spinner:
        while not task.done():
            try:
                p = await handle.query("progress")
                spinner.update(f"exporting {p['total']} order(s): {p['succeeded']} exported · "
                               f"{p['already_linked']} already linked · {p['failed']} failed")
            except Exception:
                pass
            await asyncio.wait([task], timeout=1.0)
    return task.result()


@app.command("retry")
def retry_orders(
    ids: Optional[list[str]] = typer.Argument(None, metavar="ID...",
                                              help="Framework360 order ids (17) or numbers (F360-10017)."),
    failed: bool = typer.Option(False, "--failed", help="Every order whose export, parcel, cancellation or refund "
                                                        "failed (see `orders list --status failed`)."),
    wait: bool = typer.Option(False, "--wait", help="Wait and print the report (exported, already linked, failed)."),
    json_output: bool = typer.Option(False, "--json", help="Print the report (or the started workflow) as JSON."),
) -> None:
    """Re-drive failed orders once their cause is fixed: export them again now.

    Same exactly-once rule as every export: an order TotalGest already has (by its Framework360 number) is
    reported `already linked`, never created twice. Typical use: `tgflow orders list --status failed`, fix
    the reason shown (an unknown SKU in TotalGest, a payment method missing in TGFLOW_PAYMENT_METHODS…),
    then `tgflow orders retry --failed --wait`. It also re-drives the orders' failed parcels and the
    cancellations/refunds TotalGest refused (each credit note still created once). Without --wait the
    export runs in a workflow whose Web UI link is printed. Exit code 0 when every order is linked and
    nothing is refused any more, 1 when some still fail (the report says why).
    """
    from tgflow.service.order_rows import failed_order_ids
    from tgflow.service.orders import start_export
    from tgflow.temporal import workflow_url

    if bool(ids) == failed:
        fail("name the orders to retry (`tgflow orders retry 17 F360-10018`) or pass --failed (not both)",
             EXIT_CONFIG)
    settings = load_settings()
    shop = settings.totalgest.shop_id
    store = open_store(settings)
    if failed:
        wanted = failed_order_ids(store, shop)
        unknown: list[str] = []
    else:
        wanted, unknown = _resolve(settings, store, list(ids or []))
    if not wanted:
        store.close()
        if json_output:
            emit_json({"total": 0, "unknown": unknown})
        else:
            console.print("nothing to retry: no failed order" if failed else "nothing to retry")
        raise typer.Exit(EXIT_FAILURES if unknown else EXIT_OK)

    async def _go():
        from tgflow.service.adjustments import redrive_adjustments

        client = await connect_or_fail(settings)
        await redrive(client, settings, wanted, wait=wait)  # failed parcels of these orders, if any
        # refused cancellations/refunds of these orders, if any
        adjusted = [r.model_dump(mode="json") for r in await redrive_adjustments(client, settings, store, wanted,
                                                                                 wait=wait)]
        if wait:
            return await _export_with_progress(client, settings, wanted, interactive() and not json_output), adjusted
        return (await start_export(client, settings, wanted)).id, adjusted

    try:
        result, adjusted = run(_go())
    finally:
        store.close()
    if not json_output:
        print_redriven(adjusted)
    still_refused = any(a["status"] == "failed" for a in adjusted)
    if not wait:
        url = workflow_url(settings.temporal, result)
        if json_output:
            emit_json({"workflow_id": result, "orders": wanted, "unknown": unknown, "url": url,
                       "adjustments": adjusted})
        else:
            console.print(f"retrying {len(wanted)} order(s): {url}", highlight=False)
        raise typer.Exit(EXIT_FAILURES if unknown else EXIT_OK)
    _print_report(result, json_output, unknown, adjusted)
    raise typer.Exit(EXIT_OK if result.failed == 0 and not unknown and not still_refused else EXIT_FAILURES)


def export_orders(
    ids: Optional[list[str]] = typer.Argument(None, metavar="ID...",
                                              help="Framework360 order ids (17) or numbers (F360-10017)."),
    all_pending: bool = typer.Option(False, "--all-pending",
                                     help="Also every order the status store knows that is not linked "
                                          "(not linked, pending or failed)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the report (default) or return at once."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Export these orders to TotalGest now and print a report (exported, already linked, failed with reasons).

    Bypasses the queue's pacing, never the exactly-once rule: an order already in TotalGest is reported
    `already linked`, not created again. An id or number Framework360 does not know is reported as
    `unknown` (and never stored). Exit code 0 when every order is exported or already linked,
    1 otherwise. Examples: `tgflow export-orders F360-10017 18`; fix the cause shown by `tgflow orders list --status failed`, then
    `tgflow export-orders --all-pending`.
    """
    from tgflow.service.orders import empty_report, pending_order_ids, start_export

    settings = load_settings()
    if not ids and not all_pending:
        fail("no orders to export: give ids or numbers (`tgflow export-orders 17 F360-10018`) or --all-pending",
             EXIT_CONFIG)
    store = open_store(settings)
    try:
        wanted, unknown = _resolve(settings, store, list(ids or [])) if ids else ([], [])
        if all_pending:
            wanted += pending_order_ids(store, settings)
    finally:
        store.close()
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        if unknown:
            _print_report(empty_report(), json_output, unknown)
            raise typer.Exit(EXIT_FAILURES)
        if json_output:
            emit_json(empty_report().model_dump(mode="json") | {"unknown": []})
        else:
            console.print("nothing to export: no order is waiting (all linked)")
        raise typer.Exit(EXIT_OK)

    async def _go():
        client = await connect_or_fail(settings)
        if wait:
            return await _export_with_progress(client, settings, wanted, interactive() and not json_output)
        handle = await start_export(client, settings, wanted)
        return handle.id

    result = run(_go())
    if not wait:
        from tgflow.temporal import workflow_url

        if json_output:
            emit_json({"workflow_id": result, "orders": len(wanted), "unknown": unknown,
                       "url": workflow_url(settings.temporal, result)})
        else:
            console.print(f"exporting {len(wanted)} order(s): {workflow_url(settings.temporal, result)}",
                          highlight=False)
        raise typer.Exit(EXIT_FAILURES if unknown else EXIT_OK)
    _print_report(result, json_output, unknown)
    raise typer.Exit(EXIT_OK if result.failed == 0 and not unknown else EXIT_FAILURES)


def enqueue_order(
    ids: list[str] = typer.Argument(..., metavar="ID...", help="Framework360 order ids (17) or numbers (F360-10017)."),
    json_output: bool = typer.Option(False, "--json", help="Print what was sent as JSON."),
) -> None:
    """Hand orders to the shop's export queue (as a webhook would); the queue paces them and ignores
    ids it already holds. See the queue with `tgflow status`; the outcome with `tgflow orders list`.
    An id or number Framework360 does not know is reported as `unknown` (exit code 1), not enqueued."""
    from tgflow.service.orders import enqueue_orders

    settings = load_settings()
    store = open_store(settings)
    try:
        wanted, unknown = _resolve(settings, store, ids)
    finally:
        store.close()
    if not wanted:
        if json_output:
            emit_json({"enqueued": [], "unknown": unknown, "queue": None})
        else:
            console.print("nothing enqueued", highlight=False)
        raise typer.Exit(EXIT_FAILURES)

    async def _go():
        client = await connect_or_fail(settings)
        handle = await enqueue_orders(client, settings, wanted)
        return handle.id

    workflow_id = run(_go())
    if json_output:
        emit_json({"enqueued": wanted, "unknown": unknown, "queue": workflow_id})
    else:
        console.print(f"enqueued {len(wanted)} order(s) on {workflow_id}", highlight=False)
    raise typer.Exit(EXIT_FAILURES if unknown else EXIT_OK)
