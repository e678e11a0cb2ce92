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
        "`tgflow schedule create --which all` creates or updates the five. "
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
                                                    "all: the five (create and describe only).")
JSON = typer.Option(False, "--json", help="Print the result as JSON.")


def _job(settings, which: Which):
    from tgflow.jobs import job

    if which == Which.all:
        fail("--which all only works with `tgflow schedule create` and `describe`; name one schedule", EXIT_CONFIG)
    return job(settings, which.value)


def _missing(schedule_id: str, exc: Exception) -> None:
    from temporalio.service import RPCError, RPCStatusCode

    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        fail(f"schedule {schedule_id} does not exist; create it with `tgflow schedule create`", EXIT_FAILURES)
    raise exc


@app.command()
def create(which: Which = WHICH, json_output: bool = JSON) -> None:
    """Create the schedule, or update it to the current settings (safe to run again; a pause is kept)."""
    from tgflow.jobs import jobs, minutes
    from tgflow.service.monitoring import ensure_schedule_for

    settings = load_settings()
    chosen = [j for j in jobs(settings) if which in (Which.all, Which(j.which))]

    async def _go() -> list[bool]:
        client = await connect_or_fail(settings)
        return [await ensure_schedule_for(client, settings, j.which) for j in chosen]

    created = run(_go())
    rows = [{"schedule_id": j.schedule_id, "created": c, "every_minutes": j.every.total_seconds() / 60}
            for j, c in zip(chosen, created)]
    if json_output:
        emit_json(rows[0] if which != Which.all else rows)
    else:
        for j, c in zip(chosen, created):
            console.print(f"schedule {j.schedule_id} {'created' if c else 'updated'}: {j.title} every "
                          f"{minutes(j.every)}, overlapping runs skipped", highlight=False)
    raise typer.Exit(0)


DESCRIBE_WHICH = typer.Option(Which.import_, "--which", help="import (the default): product import; reconcile: "
                                                              "order reconciliation; drift: daily drift report; "
                                                              "health: health check and alerts; all: the four.")


async def _describe_one(client, schedule_id: str, *, missing_ok: bool) -> dict[str, Any]:
    from temporalio.service import RPCError, RPCStatusCode

    try:
        desc = await client.get_schedule_handle(schedule_id).describe()
    except Exception as exc:
        if missing_ok and isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            return {"schedule_id": schedule_id, "exists": False}
        _missing(schedule_id, exc)
    spec = desc.schedule.spec
    info = desc.info
    return {
        "schedule_id": schedule_id,
        "exists": True,
        "every_seconds": [i.every.total_seconds() for i in spec.intervals],
        "paused": desc.schedule.state.paused,
        "note": desc.schedule.state.note or None,
        "overlap": desc.schedule.policy.overlap.name,
        "next_runs": [t.isoformat() for t in info.next_action_times[:3]],
        "recent_runs": [{"started_at": a.started_at.isoformat(),
                         "workflow_id": getattr(a.action, "workflow_id", None)} for a in info.recent_actions[-5:]],
        "running": [r.workflow_id for r in info.running_actions],
        "total_runs": info.num_actions,
        "skipped_overlaps": info.num_actions_skipped_overlap,
    }


@app.command()
def describe(which: Which = DESCRIBE_WHICH, json_output: bool = JSON) -> None:
    """Show a schedule (--which, the product import by default) or all four (`--which all`): interval, paused
    or not, next and recent runs. Example: `tgflow schedule describe --which all`."""
    from tgflow.jobs import jobs, minutes

    settings = load_settings()
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


def _simple(which: Which, action: str, json_output: bool, note: str | None = None) -> None:
    settings = load_settings()
    schedule_id = _job(settings, which).schedule_id

    async def _go() -> None:
        client = await connect_or_fail(settings)
        from tgflow.service.schedules import schedule_action

        try:
            await schedule_action(client, schedule_id, action, note)
        except Exception as exc:
            _missing(schedule_id, exc)

    run(_go())
    if json_output:
        emit_json({"schedule_id": schedule_id, "action": action, "ok": True})
    else:
        done = {"pause": "paused", "unpause": "unpaused", "trigger": "triggered (a run starts now)",
                "delete": "deleted"}[action]
        console.print(f"schedule {schedule_id} {done}", highlight=False)
    raise typer.Exit(0)


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
