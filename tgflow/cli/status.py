"""`tgflow status`: is the sync healthy, in one screen."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tgflow.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURES,
    EXIT_UNAVAILABLE,
    chosen_shop,
    console,
    emit_json,
    fail,
    load_settings,
    open_store,
    run,
    when,
)


def status(json_output: bool = typer.Option(False, "--json", help="Print the overview as JSON.")) -> None:
    """Health of everything: last product import, schedules, order queue, counts by status,
    the oldest failure, firing alerts, the last drift report and whether TotalGest and Framework360 answer.
    Exit 1 when something needs a person, 3 when Temporal does not answer (the schedules and the queue
    cannot be read then; the rest is shown all the same). With several shops and no --shop: Temporal once and
    one section per shop (--json: `shops`, a list), the exit code the worst of the shops'."""
    from tgflow.config import ConfigError, select_shop
    from tgflow.service.status import shops_status_report, status_report

    settings = load_settings(one_shop=False)
    several = not chosen_shop() and len(settings.shop_ids()) > 1
    if not several:
        try:
            settings = select_shop(settings, chosen_shop())
        except ConfigError as exc:
            fail(f"configuration: {exc}", EXIT_CONFIG)
    store = open_store(settings)
    data = run(shops_status_report(settings, store) if several else status_report(settings, store))
    store.close()
    temporal_ok = data["services"]["temporal"]["ok"]
    unhealthy = not data.pop("healthy")
    if json_output:
        emit_json(data | {"healthy": not unhealthy})
    elif several:
        _print_shops(data)
    else:
        _print(data)
    if not temporal_ok:
        raise typer.Exit(EXIT_UNAVAILABLE)
    if unhealthy:
        raise typer.Exit(EXIT_FAILURES)


def _print_shops(data: dict[str, Any]) -> None:
    """Temporal once, then one section per shop naming it."""
    temporal = data["services"]["temporal"]
    state = "[green]ok[/]" if temporal["ok"] else "[red]down[/]"
    console.print(f"temporal {state} {escape(temporal.get('message', ''))}", highlight=False, soft_wrap=True)
    for shop in data["shops"]:
        tg = f" (TotalGest shop {shop['totalgest_shop_id']})" if shop["totalgest_shop_id"] != shop["shop"] else ""
        health = "[green]healthy[/]" if shop["healthy"] else "[red]needs a person[/]"
        disabled = ", [yellow]disabled[/]" if not shop["enabled"] else ""
        console.rule(f"shop [bold]{escape(shop['shop'])}[/]{escape(tg)}: {health}{disabled}", align="left")
        _print(shop)


def _print(data: dict[str, Any]) -> None:
    services = Table(title="Services", show_header=False, box=None)
    for name, result in data["services"].items():
        ok = result.get("ok")
        services.add_row(name, "[green]ok[/]" if ok else "[red]down[/]", Text(result.get("message", "")))
    console.print(services)
    counts = Table(title="Sync status")
    counts.add_column("")
    for col in ("linked", "pending", "failed / error", "not linked"):
        counts.add_column(col, justify="right")
    o, p = data["orders"], data["products"]
    counts.add_row("orders", str(o["linked"]), str(o["pending"]), str(o["failed"]), str(o["not_linked"]))
    counts.add_row("products", str(p["linked"]), str(p["pending"]), str(p["error"]), str(p["not_linked"]))
    parcels = data["parcels"]
    counts.add_row("parcels", str(parcels["fulfilled"]), str(parcels["pending"]), str(parcels["failed"]), "—")
    a = data["adjustments"]  # cancellations and refunds into TotalGest: done (or nothing to do), pending, refused
    counts.add_row("cancels/refunds", str(a["done"] + a["skipped"]), str(a["pending"]), str(a["failed"]), "—")
    console.print(counts)
    if o["changed_after_export"]:
        console.print(f"[yellow]{o['changed_after_export']} exported order(s) changed after export[/] "
                      "(cancelled or refunded on Framework360): handle them in TotalGest")
    imp = data.get("last_product_import")
    if imp:
        c = imp["counts"]
        summary = ", ".join(f"{c[k]} {label}" for k, label in (
            ("articles_read", "read"), ("created", "created"), ("updated", "updated"),
            ("stock_updated", "stock updated"), ("unchanged", "unchanged"), ("drafted", "drafted"),
            ("errors", "errors")) if k in c)
        console.print(f"last product import: {when(imp['started_at'])}, {imp['status']}, "
                      f"{imp['duration_seconds'] or 0:.1f} s{', ' + summary if summary else ''}", highlight=False)
        for reason in imp.get("errors") or []:
            console.print(f"  [red]error[/] {reason}", highlight=False, soft_wrap=True)
        if imp.get("url"):
            console.print(f"  {imp['url']}", highlight=False)
    else:
        console.print("last product import: none yet")
    drift = data.get("last_drift_report")
    if drift:
        c = drift["counts"]
        text = (f"[yellow]{c.get('drift', 0)} difference(s)[/]" if c.get("drift") else "[green]in sync[/]") \
            if drift["status"] == "completed" else f"[yellow]{drift['status']}[/]"
        console.print(f"last drift report: {when(drift['started_at'])}, {text} ({c.get('orders_checked', 0)} orders, "
                      f"{c.get('products_checked', 0)} products checked)", highlight=False)
        for line in drift["samples"][:5]:
            console.print(f"  {line}", highlight=False, soft_wrap=True)
        if c.get("drift"):
            console.print("  all of them: `tgflow drift-report`; re-drive: `tgflow drift-report --fix`")
    else:
        console.print("last drift report: none yet")
    if "schedules" not in data:
        console.print("schedules, order queue: [yellow]unknown[/] (Temporal does not answer, see above)",
                      highlight=False)
    for sched in data.get("schedules", []):
        if not sched["exists"]:
            console.print(f"schedule {sched['id']}: [yellow]not created[/] (tgflow schedule create --which all)")
        else:
            state = "[yellow]paused[/]" if sched["paused"] else "active"
            console.print(f"schedule {sched['id']}: {state}, next run {when(sched['next_run'])}, "
                          f"last run {when(sched['last_run'])}", highlight=False)
    queue = data.get("order_queue")
    if queue:
        if not queue["running"]:
            text = "not running (starts with the first order)"
        elif queue.get("error"):
            text = f"running, [yellow]{queue['error']}[/]"
        else:
            backlog = queue.get("backlog") or {}
            text = f"running, {backlog.get('queued', 0)} queued, {backlog.get('running', 0)} exporting now"
        console.print(f"order queue: {text}", highlight=False)
    for alert in data.get("alerts", []):
        sent = (f"sent {when(alert['delivered_at'])}" if alert["delivered"]
                else alert["delivery_error"] or "not sent yet")
        console.print(f"[red]ALERT[/] [bold]{alert['key']}[/] since {when(alert['since'])}: {alert['message']} "
                      f"({sent})", highlight=False, soft_wrap=True)
    for key, label in (("oldest_failed_order", "oldest failed order"), ("oldest_failed_product", "oldest failed product"),
                       ("oldest_failed_parcel", "oldest failed parcel of order")):
        item = data.get(key)
        if item:
            ident = item.get("number") or item.get("order_id") or item.get("sku")
            console.print(f"[red]{label}[/]: {ident} since {when(item['since'])}: {item['reason']}", highlight=False)
    adjust = data.get("oldest_failed_adjustment")
    if adjust:
        what = "cancellation" if adjust["kind"] == "cancel" else f"refund {adjust['refund_id']}"
        console.print(f"[red]oldest refused {what}[/] of order {adjust['number'] or adjust['order_id']} since "
                      f"{when(adjust['since'])}: {adjust['reason']} (then `tgflow orders retry --failed --wait`)",
                      highlight=False)
