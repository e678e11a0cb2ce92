"""Client side of the operator's schedules: the daily drift report and the health check (alerts).

``ensure_schedule_for`` creates or updates any of the four schedules by its ``--which`` name, so the
CLI, ``tgflow dev`` and tests create them the same way.
"""

from __future__ import annotations

import uuid

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from tgflow import search_attributes as attrs
from tgflow.config import Settings
from tgflow.contracts.ids import manual_run_workflow_id
from tgflow.contracts.ops import DRIFT_SYNC_KIND, HEALTH_SYNC_KIND, DriftReportParams, HealthCheckParams
from tgflow.jobs import job, jobs
from tgflow.service.schedules import ensure_schedule
from tgflow.workflows.ops import DriftReportWorkflow, HealthCheckWorkflow

_WORKFLOWS = {
    "drift": (DriftReportWorkflow.run, DriftReportParams, DRIFT_SYNC_KIND, "Drift report"),
    "health": (HealthCheckWorkflow.run, HealthCheckParams, HEALTH_SYNC_KIND, "Health check and alerts"),
}


def _attrs(settings: Settings, kind: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(attrs.SHOP_ID, settings.totalgest.shop_id),
                                  SearchAttributePair(attrs.SYNC_KIND, kind),
                                  SearchAttributePair(attrs.SYNC_STATUS, "running")])


async def ensure_schedule_for(client: Client, settings: Settings, which: str) -> bool:
    """Create or update the schedule ``which`` (import | reconcile | shipments | drift | health). True when created."""
    if which == "import":
        from tgflow.service.products import ensure_import_schedule

        return await ensure_import_schedule(client, settings)
    if which == "shipments":
        from tgflow.service.shipments import ensure_import_schedule as ensure_shipment_schedule

        return await ensure_shipment_schedule(client, settings)
    if which == "reconcile":
        from tgflow.service.orders import ensure_reconcile_schedule

        return await ensure_reconcile_schedule(client, settings)
    run, params, kind, title = _WORKFLOWS[which]
    target = job(settings, which)
    return await ensure_schedule(
        client, schedule_id=target.schedule_id, workflow=run, arg=params(shop_id=settings.totalgest.shop_id),
        workflow_id=target.schedule_id, task_queue=settings.temporal.task_queue, every=target.every,
        search_attributes=_attrs(settings, kind), note=f"tgflow {title.lower()}")


async def ensure_all_schedules(client: Client, settings: Settings) -> dict[str, bool]:
    return {j.which: await ensure_schedule_for(client, settings, j.which) for j in jobs(settings)}


async def run_now(client: Client, settings: Settings, which: str):
    """One drift report or health check now, waited for (``tgflow alerts check``, tests)."""
    run, params, kind, title = _WORKFLOWS[which]
    shop = settings.totalgest.shop_id
    return await client.execute_workflow(
        run, params(shop_id=shop), id=manual_run_workflow_id(job(settings, which).schedule_id, uuid.uuid4().hex[:8]),
        task_queue=settings.temporal.task_queue, search_attributes=_attrs(settings, kind),
        static_summary=f"{title} of shop {shop} (manual)")
