"""`tgflow drift-report [--fix]` (also `tgflow reconcile`, its former name, hidden): what differs between
Framework360 and TotalGest, read-only unless --fix. Not the order reconciliation schedule."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from tgflow.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    connect_or_fail,
    console,
    emit_json,
    err_console,
    fail,
    interactive,
    load_settings,
    open_store,
    run,
)


def _parse_since(value: str | None):
    from datetime import datetime, timezone

    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"--since {value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC unless it has an offset)",
             EXIT_CONFIG)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _print_drift(report) -> None:
    console.print(f"checked {report.orders_checked} completed order(s) and {report.products_checked} product(s): "
                  f"[{'red' if report.drift else 'green'}]{report.drift} drift(s)[/]", highlight=False)
    if report.missing_in_totalgest or report.not_linked:
        table = Table(title="Orders")
        for col in ("Order", "Problem", "Framework360 column", "TotalGest"):
            table.add_column(col, overflow="fold")
        for d in report.missing_in_totalgest:
            table.add_row(d.number or str(d.order_id), "[red]missing in TotalGest[/]", d.f360_column or "—", "—")
        for d in report.not_linked:
            table.add_row(d.number or str(d.order_id), "[yellow]status column not linked[/]", d.f360_column or "—",
                          d.tg_order_number or "—")
        console.print(table)
    if report.products:
        table = Table(title="Products that differ (Framework360 → should be, per TotalGest)")
        for col in ("SKU", "Field", "Framework360", "TotalGest"):
            table.add_column(col, overflow="fold")
        for d in report.products:
            for diff in d.diffs:
                table.add_row(d.sku, diff.field, diff.framework360 or "—", diff.totalgest or "—")
        console.print(table)
    if report.only_in_totalgest:
        console.print(f"[yellow]only in TotalGest[/] ({len(report.only_in_totalgest)}): "
                      + ", ".join(report.only_in_totalgest[:50]), highlight=False, soft_wrap=True)
    if report.only_in_framework360:
        console.print(f"[yellow]only in Framework360[/] ({len(report.only_in_framework360)}): "
                      + ", ".join(report.only_in_framework360[:50]), highlight=False, soft_wrap=True)
    if report.unmappable:
        console.print(f"{report.unmappable} TotalGest article(s) not compared: they cannot become products "
                      "(see `tgflow products list --status error`)", highlight=False)
    if report.fixed:
        f = report.fixed
        if f["orders"]:
            o = f["orders"]
            console.print(f"fixed orders: {o['succeeded']} exported · {o['already_linked']} re-linked · "
                          f"[{'red' if o['failed'] else 'green'}]{o['failed']} failed[/]", highlight=False)
            for failure in o["failures"]:
                err_console.print(f"  [red]failed[/]  {failure['number'] or failure['order_id']}: "
                                  f"{failure['reason']}", highlight=False, soft_wrap=True)
        if f["import"]:
            i = f["import"]
            console.print(f"fixed products: {len(f['products_marked'])} rewritten by import "
                          f"{f['import_workflow_id']} ({i['created']} created · {i['updated']} updated · "
                          f"{i['stock_updated']} stock updated · {i['errors']} errors)", highlight=False)
        console.print("run `tgflow drift-report` again to confirm", highlight=False)
        for note in f["not_fixable"]:
            err_console.print(f"  [yellow]not fixed[/] {note}", highlight=False)


def drift_report(
    since: Optional[str] = typer.Option(None, "--since", metavar="DATE",
                                        help="Only orders updated after this date (YYYY-MM-DD[THH:MM], UTC). "
                                             "Products are always compared in full."),
    fix: bool = typer.Option(False, "--fix", help="Re-drive every drift through the normal workflows and wait: "
                                                  "the orders exported, then the products rewritten by an import."),
    json_output: bool = typer.Option(False, "--json", help="Print the drift report as JSON."),
) -> None:
    """Drift report between Framework360 and TotalGest (read-only unless --fix; also `tgflow reconcile`).

    Lists completed shop orders missing in TotalGest (looked up by their Framework360 number), orders
    TotalGest has whose Framework360 status column is not `linked`, products whose Framework360 price,
    VAT rate, EAN or stock differ from what TotalGest says, and SKUs on one side only. With --fix the
    orders are exported again (never twice: an order TotalGest has is only re-linked), then the products
    rewritten by an import; a worker must be running. Exit code 0 without drift, 1 with drift (the
    report shows the drift found before fixing).
    Example: `tgflow drift-report --since 2026-01-01 --json`, then `tgflow drift-report --fix`.
    Not the order reconciliation schedule (`tgflow schedule ... --which reconcile`), which re-enqueues
    completed orders that are not linked.
    """
    from tgflow.clients.errors import ApiError
    from tgflow.service import drift

    settings = load_settings()
    when_since = _parse_since(since)
    store = open_store(settings)

    async def _go():
        try:
            if interactive() and not json_output:
                with console.status("comparing Framework360 and TotalGest…"):
                    report = await drift.build_report(settings, since=when_since, store=store)
            else:
                report = await drift.build_report(settings, since=when_since, store=store)
        except ApiError as exc:
            fail(f"{exc} - check that it answers (`tgflow check`)", EXIT_UNAVAILABLE)
        if fix and report.drift:
            client = await connect_or_fail(settings)
            if interactive() and not json_output:
                with console.status(f"fixing {report.drift} drift(s): exporting orders, importing products…"):
                    report.fixed = await drift.fix(client, settings, store, report)
            else:
                report.fixed = await drift.fix(client, settings, store, report)
        return report

    try:
        report = run(_go())
    finally:
        store.close()
    if json_output:
        emit_json(report.model_dump(mode="json") | {"drift": report.drift})
    else:
        _print_drift(report)
    raise typer.Exit(EXIT_OK if report.drift == 0 else EXIT_FAILURES)
