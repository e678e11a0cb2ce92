"""The health overview behind ``tgflow status``: one read of the store, Temporal and both APIs."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from tgflow.config import Settings
from tgflow.contracts.ids import order_queue_workflow_id
from tgflow.store import Store
from tgflow.store import orders as ostore
from tgflow.store import products as pstore

RPC_TIMEOUT = timedelta(seconds=5)


def store_overview(store: Store, shop_id: str) -> dict[str, Any]:
    orders = ostore.count_by_status(store, shop_id)
    products = pstore.count_by_status(store, shop_id)
    changed = ostore.count_changed_after_export(store, shop_id)
    oldest_order = ostore.oldest_failed(store, shop_id)
    oldest_product = pstore.oldest_error(store, shop_id)
    imports = pstore.last_runs(store, shop_id, limit=1)
    last_import = imports[0] if imports else None
    from tgflow.service.alerts import DRIFT_KIND
    from tgflow.store import adjustments as astore
    from tgflow.store import shipments as sstore
    from tgflow.store.alerts import list_alerts
    from tgflow.store.runs import last_runs

    adjust_counts = astore.counts(store, shop_id)
    oldest_adjust = astore.failed(store, shop_id, limit=1)
    parcels = sstore.overview(store, shop_id)
    drift = last_runs(store, shop_id, DRIFT_KIND, limit=1)
    drift_run = drift[0] if drift else None
    return {
        "alerts": [{"key": a.key, "message": a.message, "since": a.since, "delivered": a.notified_state == "firing",
                    "delivered_at": a.notified_at, "delivery_error": a.notify_error}
                   for a in list_alerts(store, shop_id, active_only=True)],
        "last_drift_report": drift_run and {
            "started_at": drift_run.started_at, "finished_at": drift_run.finished_at, "status": drift_run.status,
            "workflow_id": drift_run.workflow_id, "counts": json.loads(drift_run.counts_json or "{}"),
            "samples": json.loads(drift_run.errors_json or "[]")},
        "orders": {k: orders.get(k, 0) for k in ("linked", "pending", "failed", "not_linked")}
                  | {"changed_after_export": changed},
        "adjustments": adjust_counts,
        "oldest_failed_adjustment": oldest_adjust and {
            "order_id": oldest_adjust[0].f360_order_id, "number": oldest_adjust[0].f360_number,
            "kind": oldest_adjust[0].kind, "refund_id": oldest_adjust[0].refund_id,
            "since": oldest_adjust[0].updated_at, "reason": oldest_adjust[0].last_error} or None,
        "products": {k: products.get(k, 0) for k in ("linked", "pending", "error", "not_linked")},
        "parcels": parcels["counts"],
        "oldest_failed_parcel": parcels["oldest_failed"],
        "oldest_failed_order": oldest_order and {
            "order_id": oldest_order.f360_order_id, "number": oldest_order.f360_number,
            "since": oldest_order.updated_at, "reason": oldest_order.last_error},
        "oldest_failed_product": oldest_product and {
            "sku": oldest_product.sku, "since": oldest_product.updated_at, "reason": oldest_product.last_error},
        "last_product_import": last_import and {
            "started_at": last_import.started_at, "finished_at": last_import.finished_at,
            "duration_seconds": (last_import.finished_at - last_import.started_at).total_seconds()
            if last_import.finished_at and last_import.started_at else None,
            "status": last_import.status, "workflow_id": last_import.workflow_id, "run_id": last_import.run_id,
            "counts": json.loads(last_import.counts_json or "{}"),
            "errors": json.loads(last_import.errors_json or "[]")[:5]},
    }


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
        from tgflow.service.jobs import jobs

        data["schedules"] = [await schedule_overview(client, job.schedule_id) | {"job": job.title}
                             for job in jobs(settings)]
        data["order_queue"] = await queue_overview(client, shop)
    return data
