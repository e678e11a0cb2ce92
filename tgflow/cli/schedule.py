"""`tgflow schedule ...`: the Temporal Schedules that run the sync without anyone touching it."""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Any

import typer

from tgflow.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURES,
    connect_or_fail,
    console,
    emit_json,
    fail,
    load_settings,
    run,
)

app = typer.Typer(
    help=(
        "Manage the Temporal Schedules that run the sync by themselves. --which picks one: "
        "import = `product-import-<shop>` (every 5 min by default, products.every_minutes); "
        "reconcile = `order-reconcile-<shop>` (order reconciliation: enqueues completed orders not exported, every 5 min, "
        "orders.reconcile_every_minutes); shipments = `shipment-import-<shop>` (parcels and tracking TotalGest → "
        "Framework360, every 5 min, shipments.every_minutes); drift = `drift-report-<shop>` (daily read-only drift report for `tgflow status`, "
        "drift.every_hours, formerly reconcile.every_hours); health = `health-check-<shop>` (alerts, every 5 min, alerts.check_every_minutes). "
        "`tgflow schedule create --which all` creates or updates the five. With several shops and no --shop, "
        "each command acts on every shop and reports one row per shop and schedule (exit 1 when any failed). "
        "A run still going when the next is due makes the next one skip."
    ),
    no_args_is_help=True,
)


class Which(str, Enum):
    import_ = "import"
    reconcile = "reconcile"
    shipments = "shipments"
    drift = "drift"
    health = "health"
    all = "all"


WHICH = typer.Option(Which.import_, "--which", help="import: product import; reconcile: order reconciliation; "
                                                    "shipments: shipment import; drift: daily drift report; health: health check and alerts; "
                                                    "all: the five. Without --shop and with several shops: every shop's.")
JSON = typer.Option(False, "--json", help="Print the result as JSON.")


def _missing(schedule_id: str, exc: Exception) -> None:
    from temporalio.service import RPCError, RPCStatusCode

    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        fail(f"schedule {schedule_id} does not exist; create it with `tgflow schedule create`", EXIT_FAILURES)
    raise exc


def _across(settings) -> bool:
    """No ``--shop`` and several shops: the command acts on every shop, one row per shop × schedule."""
    from tgflow.cli.common import chosen_shop

    return chosen_shop() is None and len(settings.shops()) > 1


def _load():
    """Every shop's settings, and the shops this command acts on (``--shop`` or all of them)."""
    from tgflow.cli.common import chosen_shop
    from tgflow.config import ConfigError
    from tgflow.service.shop_schedules import targets

    settings = load_settings(one_shop=False)
    try:
        return settings, targets(settings, chosen_shop())
    except ConfigError as exc:
        fail(f"configuration: {exc}", EXIT_CONFIG)


def _table(title: str, rows: list[dict[str, Any]], result) -> None:
    """The across-shops report: one line per shop × schedule, then what failed counted."""
    from rich.text import Text

    from tgflow.cli.common import fit_table

    lines = []
    for row in rows:
        text = Text(result(row), style=None if row["ok"] else "red")
        lines.append([row["shop"], row["schedule_id"], text])
    console.print(fit_table(title, ["Shop", "Schedule", "Result"], lines, flexible=2, caps={1: 40}))
    failed = [r for r in rows if not r["ok"]]
    shops = len({r["shop"] for r in rows})
    console.print(f"{len(rows) - len(failed)} of {len(rows)} schedules ok on {shops} shops"
                  + (f", {len(failed)} failed" if failed else ""), highlight=False)


def _report_across(rows: list[dict[str, Any]], json_output: bool, title: str, result) -> None:
    """Print the across-shops rows (``--json`` or the table) and exit: 0 when every row is done, else 1."""
    if json_output:
        emit_json(rows)
    else:
        _table(title, rows, result)
    raise typer.Exit(0 if all(r["ok"] for r in rows) else EXIT_FAILURES)


def _created_text(row: dict[str, Any]) -> str:
    if not row["ok"]:
        return f"failed: {row['error']}"
    text = f"{'created' if row['created'] else 'updated'}, every {row['every_minutes']:g} min"
    if row["paused_for_disabled"]:
        text += "; paused: the shop is disabled in settings"
    elif not row["enabled"]:
        text += "; stays paused (the shop is disabled in settings)"
    if row["unpaused_for_enabled"]:
        text += "; unpaused: the shop is enabled again"
    return text


@app.command()
def create(which: Which = WHICH, json_output: bool = JSON) -> None:
    """Create the schedule, or update it to the current settings (safe to run again; a pause is kept). A shop
    with `enabled = false` gets its schedules paused (note: shop disabled in settings); once it is enabled
    again, create unpauses those, and leaves paused the ones a person paused. Without --shop and with several
    shops: every shop's, one row per shop and schedule."""
    from tgflow.jobs import minutes
    from tgflow.service.shop_schedules import create_rows

    settings, chosen = _load()

    async def _go() -> list[dict[str, Any]]:
        client = await connect_or_fail(settings)
        return await create_rows(client, chosen, which.value)

    rows = run(_go())
    if _across(settings):
        _report_across(rows, json_output, f"Schedules created or updated ({which.value})", _created_text)
    failed = [r for r in rows if not r["ok"]]
    if failed:
        fail(f"schedule {failed[0]['schedule_id']}: {failed[0]['error']}", EXIT_FAILURES)
    plain = []
    for row in rows:
        out = {"schedule_id": row["schedule_id"], "created": row["created"], "every_minutes": row["every_minutes"]}
        if row["paused_for_disabled"] or row["unpaused_for_enabled"]:
            out |= {k: True for k in ("paused_for_disabled", "unpaused_for_enabled") if row[k]}
        plain.append(out)
    if json_output:
        emit_json(plain[0] if which != Which.all else plain)
    else:
        titles = {j.schedule_id: j for j in _jobs(chosen[0].view)}
        for row in rows:
            j = titles[row["schedule_id"]]
            console.print(f"schedule {j.schedule_id} {'created' if row['created'] else 'updated'}: {j.title} every "
                          f"{minutes(j.every)}, overlapping runs skipped", highlight=False)
            if row["paused_for_disabled"]:
                console.print(f"  paused: shop {chosen[0].shop.id} is disabled in settings (enabled = false)",
                              highlight=False)
            elif not row["enabled"]:
                console.print(f"  stays paused: shop {chosen[0].shop.id} is disabled in settings", highlight=False)
            if row["unpaused_for_enabled"]:
                console.print(f"  unpaused: shop {chosen[0].shop.id} is enabled again", highlight=False)
    raise typer.Exit(0)


def _jobs(view):
    from tgflow.jobs import jobs

    return jobs(view)


DESCRIBE_WHICH = typer.Option(Which.import_, "--which", help="import (the default): product import; reconcile: "
                                                              "order reconciliation; drift: daily drift report; "
                                                              "health: health check and alerts; all: the five.")


async def _describe_one(client, schedule_id: str, *, missing_ok: bool) -> dict[str, Any]:
    from tgflow.service.shop_schedules import describe_schedule

    try:
        data = await describe_schedule(client, schedule_id)
    except Exception as exc:
        _missing(schedule_id, exc)
    if not data["exists"] and not missing_ok:
        fail(f"schedule {schedule_id} does not exist; create it with `tgflow schedule create`", EXIT_FAILURES)
    return data


def _described_text(row: dict[str, Any]) -> str:
    from tgflow.jobs import minutes

    if not row["ok"]:
        return f"failed: {row['error']}"
    if not row["exists"]:
        return f"not created: `tgflow --shop {row['shop']} schedule create --which {row['which']}`"
    every = ", ".join(minutes(timedelta(seconds=s)) for s in row["every_seconds"])
    state = f"PAUSED {row['note'] or ''}".rstrip() if row["paused"] else "active"
    return f"{state}, every {every}, {row['total_runs']} runs" + (", running now" if row["running"] else "")


@app.command()
def describe(which: Which = DESCRIBE_WHICH, json_output: bool = JSON) -> None:
    """Show a schedule (--which, the product import by default) or all four (`--which all`): interval, paused
    or not, next and recent runs. Example: `tgflow schedule describe --which all`."""
    from tgflow.jobs import jobs, minutes

    settings, targets = _load()
    if _across(settings):
        from tgflow.service.shop_schedules import describe_rows

        async def _all() -> list[dict[str, Any]]:
            return await describe_rows(await connect_or_fail(settings), targets, which.value)

        _report_across(run(_all()), json_output, f"Schedules ({which.value})", _described_text)
    settings = targets[0].view
    chosen = [j for j in jobs(settings) if which in (Which.all, Which(j.which))]

    async def _go() -> list[dict[str, Any]]:
        client = await connect_or_fail(settings)
        return [await _describe_one(client, j.schedule_id, missing_ok=which == Which.all) for j in chosen]

    rows = run(_go())
    if json_output:
        emit_json(rows if which == Which.all else rows[0])
        raise typer.Exit(0)
    for job, data in zip(chosen, rows):
        if not data["exists"]:
            console.print(f"[bold]{data['schedule_id']}[/]  ({job.title}) [yellow]not created[/]: "
                          f"`tgflow schedule create --which {job.which}`", highlight=False, soft_wrap=True)
            continue
        every = ", ".join(minutes(timedelta(seconds=s)) for s in data["every_seconds"])
        console.print(f"[bold]{data['schedule_id']}[/]  ({job.title}) every {every}  overlap {data['overlap']}  "
                      f"{'[yellow]PAUSED[/] ' + (data['note'] or '') if data['paused'] else '[green]active[/]'}",
                      highlight=False)
        console.print(f"  runs: {data['total_runs']} (skipped because still running: {data['skipped_overlaps']})"
                      f"{'  running now: ' + ', '.join(data['running']) if data['running'] else ''}", highlight=False)
        for t in data["next_runs"]:
            console.print(f"  next: {t}", highlight=False)
    raise typer.Exit(0)


_DONE = {"pause": "paused", "unpause": "unpaused", "trigger": "triggered (a run starts now)", "delete": "deleted"}


def _action_text(row: dict[str, Any]) -> str:
    if not row["ok"]:
        return f"failed: {row['error']}"
    if row.get("existed") is False:
        return "not there (already deleted)"
    return _DONE[row["action"]]


def _simple(which: Which, action: str, json_output: bool, note: str | None = None) -> None:
    """One schedule of one shop (today's form), or ``--which all`` / every shop: one row per shop × schedule;
    exit 1 when any failed."""
    from tgflow.service.shop_schedules import action_rows

    settings, targets = _load()

    async def _go() -> list[dict[str, Any]]:
        return await action_rows(await connect_or_fail(settings), targets, which.value, action, note)

    rows = run(_go())
    if _across(settings):
        _report_across(rows, json_output, f"Schedules {_DONE[action].split()[0]} ({which.value})", _action_text)
    if which != Which.all:
        [row] = rows
        if not row["ok"]:
            fail(row["error"], EXIT_FAILURES)
        if json_output:
            emit_json({"schedule_id": row["schedule_id"], "action": action, "ok": True})
        else:
            console.print(f"schedule {row['schedule_id']} {_DONE[action]}", highlight=False)
        raise typer.Exit(0)
    if json_output:
        emit_json([{k: v for k, v in row.items() if k != "shop"} for row in rows])
    else:
        for row in rows:
            console.print(f"schedule {row['schedule_id']} {_action_text(row)}", highlight=False,
                          style=None if row["ok"] else "red")
    raise typer.Exit(0 if all(r["ok"] for r in rows) else EXIT_FAILURES)


@app.command()
def pause(which: Which = WHICH, note: str = typer.Option("", help="Why (shown in describe and the Web UI)."),
          json_output: bool = JSON) -> None:
    """Stop starting runs until `tgflow schedule unpause` (a running import finishes)."""
    _simple(which, "pause", json_output, note or None)


@app.command()
def unpause(which: Which = WHICH, json_output: bool = JSON) -> None:
    """Start running on the interval again."""
    _simple(which, "unpause", json_output)


@app.command()
def trigger(which: Which = WHICH, json_output: bool = JSON) -> None:
    """Start one run now through the schedule (skipped if one is still running)."""
    _simple(which, "trigger", json_output)


@app.command()
def delete(which: Which = WHICH, json_output: bool = JSON) -> None:
    """Remove the schedule (runs already started continue; `tgflow schedule create` brings it back)."""
    _simple(which, "delete", json_output)
