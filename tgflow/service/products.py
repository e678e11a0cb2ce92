"""Starting product imports and keeping their Schedule (used by the CLI, ``tgflow dev`` and tests)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from tgflow import search_attributes as attrs
from tgflow.config import Settings
from tgflow.service.schedules import ensure_schedule
from tgflow.workflows.products import (
    SYNC_KIND,
    ProductImportInput,
    ProductImportReport,
    ProductImportWorkflow,
)


def schedule_id(settings: Settings) -> str:
    return f"product-import-{settings.totalgest.shop_id}"


def import_input(settings: Settings, *, full: bool = False) -> ProductImportInput:
    p = settings.products
    return ProductImportInput(
        shop_id=settings.totalgest.shop_id, full=full,
        retry_initial_seconds=p.retry_initial_seconds, retry_max_seconds=p.retry_max_seconds,
        pass_timeout_hours=p.pass_timeout_hours, heartbeat_timeout_seconds=p.heartbeat_timeout_seconds,
    )


def search_attributes(settings: Settings) -> TypedSearchAttributes:
    return TypedSearchAttributes([
        SearchAttributePair(attrs.SHOP_ID, settings.totalgest.shop_id),
        SearchAttributePair(attrs.SYNC_KIND, SYNC_KIND),
        SearchAttributePair(attrs.SYNC_STATUS, "running"),
    ])


async def start_import(client: Client, settings: Settings, *, full: bool = False, wait: bool = False,
                       workflow_id: str | None = None,
                       ) -> ProductImportReport | WorkflowHandle[Any, ProductImportReport]:
    """Start an import now (manual run). Returns the handle, or the report when ``wait``.

    The id is ``product-import-<shop>-manual``: starting while a manual run is
    going attaches to it instead of running two at once.
    """
    shop = settings.totalgest.shop_id
    handle = await client.start_workflow(
        ProductImportWorkflow.run,
        import_input(settings, full=full),
        id=workflow_id or f"product-import-{shop}-manual",
        task_queue=settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=search_attributes(settings),
        static_summary=f"Product import{' (full)' if full else ''} TotalGest → Framework360, shop {shop}",
    )
    if wait:
        return await handle.result()
    return handle


async def ensure_import_schedule(client: Client, settings: Settings) -> bool:
    """Create or update ``product-import-<shop_id>`` (every ``products.every_minutes``, overlap SKIP).
    Returns True when created."""
    return await ensure_schedule(
        client,
        schedule_id=schedule_id(settings),
        workflow=ProductImportWorkflow.run,
        arg=import_input(settings),
        workflow_id=f"product-import-{settings.totalgest.shop_id}",
        task_queue=settings.temporal.task_queue,
        every=timedelta(minutes=settings.products.every_minutes),
        search_attributes=search_attributes(settings),
        note="tgflow product import",
    )


async def live_progress(client: Client, handle: WorkflowHandle) -> dict[str, Any]:
    """Counts so far of a running import: the pass activity's last heartbeat, else the workflow's query."""
    desc = await handle.describe()
    out: dict[str, Any] = {"status": desc.status.name if desc.status else None}
    for pending in desc.raw_description.pending_activities:
        if pending.heartbeat_details and pending.heartbeat_details.payloads:
            values = await client.data_converter.decode(pending.heartbeat_details.payloads)
            if values and isinstance(values[0], dict):
                out.update({"phase": values[0].get("phase"), **(values[0].get("counts") or {})})
                out["attempt"] = pending.attempt
    return out
