"""The shops of one deployment as ``tgflow shops`` shows them: each shop's settings (never a credential) and,
when Temporal answers, whether its schedules exist and are paused."""

from __future__ import annotations

import asyncio
from typing import Any

from tgflow.config import Settings
from tgflow.jobs import jobs
from tgflow.service.status import schedule_overview


def _schedules(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "total": len(rows),
        "created": sum(1 for r in rows if r["exists"]),
        "missing": [r["which"] for r in rows if not r["exists"]],
        "paused": [r["which"] for r in rows if r["exists"] and r["paused"]],
    }


async def shops_report(settings: Settings, client=None) -> dict[str, Any]:
    """Every shop of ``settings`` (all of them, not a view) with its schedules' state; ``temporal.ok`` False
    and ``schedules`` None when Temporal does not answer (connected here, 10 s at most, unless ``client``)."""
    from tgflow.temporal import connect

    t = settings.temporal
    temporal = {"ok": True, "message": f"Temporal at {t.address}, namespace {t.namespace}"}
    if client is None:
        try:
            client = await asyncio.wait_for(connect(t), timeout=10)
        except Exception as exc:
            client = None
            temporal = {"ok": False, "message": f"Temporal at {t.address} (namespace {t.namespace}) is not reachable "
                                                f"({type(exc).__name__}), so the schedules are not shown: start it or "
                                                "check TGFLOW_TEMPORAL__ADDRESS / TGFLOW_TEMPORAL__NAMESPACE"}
    shops: list[dict[str, Any]] = []
    for shop in settings.shops():
        view = settings.for_shop(shop.id)
        row: dict[str, Any] = {
            "id": shop.id,
            "enabled": shop.enabled,
            "totalgest_shop_id": shop.totalgest.shop_id,
            "totalgest_endpoint": shop.totalgest.endpoint,
            "totalgest_url": shop.totalgest.base_url,
            "framework360_url": shop.f360.base_url,
            "task_queue": shop.task_queue,
            "schedules": None,
        }
        if client is not None:
            found = [await schedule_overview(client, job.schedule_id) | {"which": job.which} for job in jobs(view)]
            row["schedules"] = _schedules(found)
        shops.append(row)
    return {"temporal": temporal, "shops": shops}
