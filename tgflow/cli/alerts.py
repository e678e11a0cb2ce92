"""`tgflow alerts ...`: what is firing, a health check now, a test message to the alert webhook."""

from __future__ import annotations

from typing import Any

import typer

from tgflow.cli.common import (
    EXIT_FAILURES,
    connect_or_fail,
    console,
    emit_json,
    load_settings,
    open_store,
    run,
    when,
)

app = typer.Typer(
    help=(
        "Alerts: failed orders/products at or above alerts.failure_threshold, a schedule that has not completed a "
        "run for alerts.stale_intervals intervals, drift found by the daily drift report. The `health-check-<shop>` "
        "schedule (`tgflow schedule create --which health`) evaluates them every alerts.check_every_minutes and POSTs "
        "changes as JSON to TGFLOW_ALERTS__WEBHOOK_URL (Slack-style incoming webhooks work as they are)."
    ),
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print the result as JSON.")


def _row(alert) -> dict[str, Any]:
    return {"key": alert.key, "active": alert.active, "message": alert.message, "since": alert.since,
            "resolved_at": alert.resolved_at, "last_checked_at": alert.last_checked_at,
            "delivered": alert.notified_state, "delivered_at": alert.notified_at,
            "delivery_error": alert.notify_error}


@app.command("list")
def list_(all_: bool = typer.Option(False, "--all", help="Also the resolved ones."), json_output: bool = JSON) -> None:
    """The alerts recorded by the last health check (firing ones; --all adds resolved). Exit 1 when one fires.
    With several shops and no --shop: every shop's, each naming its shop."""
    from tgflow.cli.across import covered_shops
    from tgflow.service.across import page_across
    from tgflow.store.alerts import list_alerts

    views = covered_shops()
    several = len(views) > 1
    store = open_store(views[0])

    def part(shop_id: str, _start: int, _room: int | None) -> tuple[list[dict[str, Any]], int]:
        found = [_row(a) for a in list_alerts(store, shop_id, active_only=not all_)]
        return found, len(found)

    rows, _ = page_across(views, part)
    store.close()
    if json_output:
        emit_json(rows)
    elif not rows:
        console.print("no alert firing" if not all_ else "no alert recorded yet")
    for row in rows if not json_output else []:
        state = "[red]FIRING[/]" if row["active"] else f"resolved {when(row['resolved_at'])}"
        shop = f"shop {row['shop']}: " if several else ""
        console.print(f"{state} {shop}[bold]{row['key']}[/] since {when(row['since'])}: {row['message']}",
                      highlight=False, soft_wrap=True)
        sent = (f"sent ({row['delivered']}) {when(row['delivered_at'])}" if row["delivered"]
                else "not sent yet")
        console.print(f"  {sent}{'; ' + row['delivery_error'] if row['delivery_error'] else ''}", highlight=False)
    raise typer.Exit(EXIT_FAILURES if any(r["active"] for r in rows) else 0)


@app.command()
def check(json_output: bool = JSON) -> None:
    """Run one health check now through the worker (what the schedule does): evaluate, record, send changes.
    Exit 1 when an alert fires."""
    from tgflow.service.monitoring import run_now

    settings = load_settings()

    async def _go():
        client = await connect_or_fail(settings)
        return await run_now(client, settings, "health")

    result = run(_go())
    if json_output:
        emit_json(result.model_dump(mode="json"))
    else:
        console.print(f"firing: {', '.join(result.firing) or 'nothing'}", highlight=False)
        if result.sent:
            console.print(f"sent: {', '.join(result.sent)}", highlight=False)
        if result.delivery_error:
            console.print(f"[yellow]{result.delivery_error}[/]", highlight=False)
        if result.firing:
            console.print("details: `tgflow alerts list`")
    raise typer.Exit(EXIT_FAILURES if result.firing else 0)


@app.command()
def test(json_output: bool = JSON) -> None:
    """Send a test message to TGFLOW_ALERTS__WEBHOOK_URL from here. Exit 1 when it is not delivered."""
    from tgflow.activities.alerts import deliver

    settings = load_settings()
    body = {"text": f"tgflow shop {settings.shop_key}: test alert, delivery works",
            "shop_id": settings.totalgest.shop_id, "shop": settings.shop_key, "alerts": []}
    error = run(deliver(settings, body))
    if json_output:
        emit_json({"delivered": error is None, "error": error})
    elif error:
        console.print(f"[red]{error}[/]", highlight=False)
    else:
        console.print("test alert delivered")
    raise typer.Exit(EXIT_FAILURES if error else 0)
