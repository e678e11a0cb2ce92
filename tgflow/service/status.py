"""The health overview behind ``tgflow status``: one read of the store (``store.overview``), Temporal and
both APIs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from tgflow.config import Settings
from tgflow.contracts.ids import order_queue_workflow_id
from tgflow.jobs import jobs
from tgflow.store import Store
from tgflow.store.overview import store_overview

RPC_TIMEOUT = timedelta(seconds=5)


async def schedule_overview(client, schedule_id: str) -> dict[str, Any]:
    try:
        desc = await client.get_schedule_handle(schedule_id).describe(rpc_timeout=RPC_TIMEOUT)
    except Exception as exc:  # not created yet, or Temporal down
        return {"id": schedule_id, "exists": False, "error": type(exc).__name__}
    info = desc.info
    upcoming: list[datetime] = list(info.next_action_times[:1])
    recent = info.recent_actions[-1] if info.recent_actions else None
    return {
        "id": schedule_id, "exists": True, "paused": desc.schedule.state.paused,
        "note": desc.schedule.state.note or None,
        "next_run": upcoming[0] if upcoming else None,
        "last_run": recent.started_at if recent else None,
        "running": len(info.running_actions),
    }


async def queue_overview(client, shop_id: str) -> dict[str, Any]:
    try:
        handle = client.get_workflow_handle(order_queue_workflow_id(shop_id))
        desc = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    except Exception as exc:  # never started, or Temporal down
        return {"running": False, "error": type(exc).__name__}
    if desc.status != WorkflowExecutionStatus.RUNNING:
        return {"running": False}
    try:
        # A query needs a worker to answer; with none polling it would wait for a long time.
        backlog = await handle.query("backlog", rpc_timeout=RPC_TIMEOUT)
    except Exception:
        return {"running": True, "backlog": None, "error": "no worker answered within 5 s: is `tgflow worker` running?"}
    return {"running": True, "backlog": backlog}


async def overview(settings: Settings, store: Store, client) -> dict[str, Any]:
    from tgflow.service.check import check_framework360, check_totalgest

    shop = settings.totalgest.shop_id
    tg, f360 = await asyncio.gather(check_totalgest(settings), check_framework360(settings))
    data: dict[str, Any] = await asyncio.to_thread(store_overview, store, shop)
    if data["last_product_import"] and data["last_product_import"]["workflow_id"]:
        from tgflow.temporal import workflow_url

        data["last_product_import"]["url"] = workflow_url(settings.temporal, data["last_product_import"]["workflow_id"])
    data["services"] = {"totalgest": tg.as_dict(), "framework360": f360.as_dict(), "temporal": {"ok": client is not None}}
    if client is not None:
        data["schedules"] = [await schedule_overview(client, job.schedule_id) | {"job": job.title}
                             for job in jobs(settings)]
        data["order_queue"] = await queue_overview(client, shop)
    return data


async def status_report(settings: Settings, store: Store, client=None) -> dict[str, Any]:
    """Everything `tgflow status --json` shows (and the console's overview): :func:`overview`, what is down and
    where when Temporal does not answer, and ``healthy`` (False when something needs a person).
    ``client``: a connected Temporal client, else one is connected here (10 s at most)."""
    from tgflow.service.check import check_temporal

    if client is None:
        client = await _connect(settings)
    data = await overview(settings, store, client)
    if client is None:  # say what is down, where, and which setting to check, as `tgflow check` does
        data["services"]["temporal"] = (await check_temporal(settings)).as_dict()
    else:
        t = settings.temporal
        data["services"]["temporal"]["message"] = f"Temporal at {t.address}, namespace {t.namespace}"
    data["healthy"] = _healthy(data)
    return data


def _healthy(data: dict[str, Any]) -> bool:
    """False when something needs a person."""
    services = data["services"]
    return not (not services["totalgest"]["ok"] or not services["framework360"]["ok"]
                or not services["temporal"]["ok"] or data["orders"]["failed"] or data["products"]["error"]
                or data["parcels"]["failed"] or data["adjustments"]["failed"] or data["alerts"])


async def _connect(settings: Settings):
    """A Temporal client, or None when Temporal does not answer within 10 s."""
    from tgflow.temporal import connect

    try:
        return await asyncio.wait_for(connect(settings.temporal), timeout=10)
    except Exception:
        return None



async def shops_status_report(settings: Settings, store: Store, client=None) -> dict[str, Any]:
    """`tgflow status --json` with several shops: ``shops``, one :func:`status_report` per shop (in the file's
    order) with its ``shop`` id, ``totalgest_shop_id`` and ``enabled``, without the Temporal part, which is
    shared and said once in ``services.temporal``; ``healthy`` when every shop is. ``settings``: as loaded."""
    from tgflow.service.check import check_temporal

    views = [settings.for_shop(shop_id) for shop_id in settings.shop_ids()]
    if client is None:
        client = await _connect(settings)
    temporal = (await check_temporal(settings)).as_dict() if client is None else None
    reports = await asyncio.gather(*(_shop_report(view, store, client, temporal) for view in views))
    for shop, report in zip(settings.shops(), reports):
        report.update(shop=shop.id, totalgest_shop_id=shop.totalgest.shop_id, enabled=shop.enabled)
        temporal = report["services"].pop("temporal")
    return {"shops": [{key: r.pop(key) for key in ("shop", "totalgest_shop_id", "enabled")} | r for r in reports],
            "services": {"temporal": temporal}, "healthy": all(r["healthy"] for r in reports)}


async def _shop_report(view: Settings, store: Store, client, temporal: dict[str, Any] | None) -> dict[str, Any]:
    """One shop's part; ``temporal``: what `tgflow check` says of Temporal when it does not answer (checked
    once for every shop)."""
    if client is not None:
        return await status_report(view, store, client)
    data = await overview(view, store, None)
    data["services"]["temporal"] = temporal
    data["healthy"] = _healthy(data)
    return data
