"""`tgflow import-shipments`: parcels and tracking TotalGest → Framework360, now."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from tgflow.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    connect_or_fail,
    console,
    emit_json,
    err_console,
    fail,
    load_settings,
    run,
)


def import_shipments(
    wait: bool = typer.Option(False, "--wait", help="Wait for the end and print the report."),
    json_output: bool = typer.Option(False, "--json", help="Print the result (handle or report) as JSON."),
) -> None:
    """Run the shipment import now (a worker must be running: `tgflow worker`): each TotalGest parcel of an
    order tgflow exported becomes one Framework360 fulfillment with carrier and tracking (the customer gets one
    e-mail per parcel). Joins the import already running instead of starting a second one.

    With --wait it prints order changes read, parcels sent, parcels already there, failures with reasons and
    the duration; exit code 1 when some parcels failed (`tgflow orders list --status failed`).
    """
    from tgflow.service.shipments import start_import
    from tgflow.temporal import workflow_url

    settings = load_settings()

    async def _go() -> Any:
        client = await connect_or_fail(settings)
        handle = await start_import(client, settings)
        if not wait:
            return {"workflow_id": handle.id, "url": workflow_url(settings.temporal, handle.id)}
        return await handle.result()

    try:
        result = run(_go())
    except typer.Exit:
        raise
    except Exception as exc:
        fail(f"the shipment import failed: {_failure_text(exc)}", EXIT_FAILURES)
    if not wait:
        if json_output:
            emit_json(result)
        else:
            what = ("shipment import started" if result["workflow_id"].endswith("-manual")
                    else "the scheduled shipment import is running; attached to it")
            console.print(f"{what}: {result['workflow_id']}\n{result['url']}", highlight=False)
        raise typer.Exit(EXIT_OK)
    report = result.model_dump(mode="json")
    if json_output:
        emit_json(report)
    else:
        _print_report(report)
    raise typer.Exit(EXIT_FAILURES if result.failed else EXIT_OK)


def print_parcels(rows: list[dict[str, Any]]) -> None:
    """The parcels table of `orders show`."""
    if not rows:
        return
    table = Table(title="Parcels (TotalGest → Framework360)")
    for col in ("Shipment", "Carrier", "Tracking", "Status", "Fulfillment", "Reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = {"fulfilled": "green", "failed": "red"}.get(r["status"], "yellow")
        table.add_row(str(r["tg_shipment_id"]), r["carrier"] or "—", r["tracking_number"] or "—",
                      f"[{style}]{r['status']}[/]", str(r["f360_fulfillment_id"] or "—"), r["reason"] or "")
    console.print(table)


async def redrive(client: Any, settings: Any, order_ids: list[int], *, wait: bool) -> None:
    """`orders retry`: re-drive the failed parcels of these orders and say what became of them."""
    from tgflow.service.shipments import redrive_orders

    results = await redrive_orders(client, settings, order_ids, wait=wait)
    for r in results:
        if r.status == "failed":
            err_console.print(f"[red]parcel failed[/] shipment {r.tg_shipment_id}: {r.reason}", highlight=False,
                              soft_wrap=True)
        else:
            err_console.print(f"parcel of shipment {r.tg_shipment_id}: Framework360 fulfillment "
                              f"{r.f360_fulfillment_id}", highlight=False)


def _failure_text(exc: BaseException) -> str:
    cause = exc
    while getattr(cause, "cause", None) is not None or cause.__cause__ is not None:
        cause = getattr(cause, "cause", None) or cause.__cause__
    return str(cause) or type(cause).__name__


def _print_report(r: dict[str, Any]) -> None:
    if r["status"] == "skipped":
        console.print(f"shipment import skipped: {r['skipped_for']} was running", highlight=False)
        return
    table = Table(title=f"Shipment import — {r['status']}", show_header=False)
    for label, key in (("order changes read", "changes_read"), ("parcels sent to the shop", "fulfilled"),
                       ("parcels already there", "already_fulfilled"), ("failed", "failed"),
                       ("orders not exported by tgflow (left alone)", "not_exported")):
        table.add_row(label, str(r[key]))
    table.add_row("duration", f"{r['duration_seconds']:.1f} s")
    console.print(table)
    for reason in r["error_samples"]:
        err_console.print(f"[red]error[/] {reason}", highlight=False, soft_wrap=True)
    if r["failed"]:
        err_console.print("fix the cause, then `tgflow orders retry --failed` re-drives the failed parcels")
