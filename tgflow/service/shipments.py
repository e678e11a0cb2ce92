"""Use cases of the parcels TotalGest -> Framework360: run the shipment import now, keep its Schedule,
re-drive failed shipments (used by the CLI, ``tgflow dev`` and tests)."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from tgflow import search_attributes as attrs
from tgflow.activities.shipments import shipment_input, start_shipment
from tgflow.config import Settings
from tgflow.contracts.ids import manual_shipment_import_id, shipment_import_workflow_id, shipment_workflow_id
from tgflow.contracts.shipments import (
    SYNC_KIND,
    ShipmentImportInput,
    ShipmentImportReport,
    ShipmentSyncResult,
)
from tgflow.jobs import job
from tgflow.service.schedules import ensure_schedule, running_scheduled_workflow
from tgflow.store import Store
from tgflow.store import orders as ostore
from tgflow.store import shipments as sstore
from tgflow.workflows.shipments import ShipmentImportWorkflow


def schedule_id(settings: Settings) -> str:
    return job(settings, "shipments").schedule_id


def import_input(settings: Settings) -> ShipmentImportInput:
    s = settings.shipments
    return ShipmentImportInput(
        shop_id=settings.totalgest.shop_id, retry_initial_seconds=s.retry_initial_seconds,
        retry_max_seconds=s.retry_max_seconds, pass_timeout_hours=s.pass_timeout_hours,
        heartbeat_timeout_seconds=s.heartbeat_timeout_seconds, shipment_retry_for_hours=s.shipment_retry_for_hours)


def search_attributes(settings: Settings) -> TypedSearchAttributes:
    return TypedSearchAttributes([
        SearchAttributePair(attrs.SHOP_ID, settings.totalgest.shop_id),
        SearchAttributePair(attrs.SYNC_KIND, SYNC_KIND),
        SearchAttributePair(attrs.SYNC_STATUS, "running"),
    ])


async def running_scheduled_import(client: Client, settings: Settings) -> str | None:
    """The workflow id of the schedule's shipment import running now, if any."""
    return await running_scheduled_workflow(client, schedule_id(settings))


async def start_import(client: Client, settings: Settings, *, wait: bool = False,
                       ) -> ShipmentImportReport | WorkflowHandle[Any, ShipmentImportReport]:
    """Run a shipment import now; joins the one in progress (the schedule's, or a manual one) instead of
    starting a second. Returns the handle, or the report when ``wait``."""
    scheduled = await running_scheduled_import(client, settings)
    if scheduled is not None:
        handle = client.get_workflow_handle(scheduled, result_type=ShipmentImportReport)
    else:
        shop = settings.totalgest.shop_id
        handle = await client.start_workflow(
            ShipmentImportWorkflow.run, import_input(settings), id=manual_shipment_import_id(shop),
            task_queue=settings.temporal.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=search_attributes(settings),
            static_summary=f"Shipment import TotalGest → Framework360 (parcels and tracking), shop {shop}")
    return await handle.result() if wait else handle


async def ensure_import_schedule(client: Client, settings: Settings) -> bool:
    """Create or update ``shipment-import-<shop>`` (every ``shipments.every_minutes``, overlap SKIP)."""
    target = job(settings, "shipments")
    return await ensure_schedule(
        client, schedule_id=target.schedule_id, workflow=ShipmentImportWorkflow.run, arg=import_input(settings),
        workflow_id=shipment_import_workflow_id(settings.totalgest.shop_id), task_queue=settings.temporal.task_queue,
        every=target.every, search_attributes=search_attributes(settings), note="tgflow shipment import")


async def retry_failed(client: Client, settings: Settings, store: Store,
                       f360_order_ids: list[int] | None = None, *, wait: bool = True) -> list[ShipmentSyncResult]:
    """Run the failed shipments (of these orders, or all) again and wait for them: each first looks for its
    fulfillment, so re-driving never sends a parcel twice."""
    shop = settings.totalgest.shop_id
    failed = sstore.failed_shipments(store, shop, f360_order_ids)
    numbers = {link.f360_order_id: link.f360_number
               for link in ostore.load_links(store, shop, {f.f360_order_id for f in failed}).values()}
    handles = []
    for link in failed:
        sstore.mark_pending(store, shop, link.tg_shipment_id, tg_order_id=link.tg_order_id,
                            f360_order_id=link.f360_order_id,
                            workflow_id=shipment_workflow_id(shop, link.tg_shipment_id))
        params = shipment_input(shop, link.tg_order_id, link.tg_shipment_id, link.f360_order_id, settings)
        handles.append(await start_shipment(client, settings.temporal.task_queue, params,
                                            numbers.get(link.f360_order_id)))
    return [await h.result() for h in handles] if wait else []


def parcels(settings: Settings, f360_order_id: int) -> list[dict[str, Any]]:
    """The order's TotalGest parcels and where each stands (for ``orders show``)."""
    store = Store(settings.database_url)
    try:
        return [sstore.shipment_dict(link) for link in sstore.shipments_of(store, settings.totalgest.shop_id,
                                                                            f360_order_id)]
    finally:
        store.close()


async def redrive_orders(client: Client, settings: Settings, f360_order_ids: list[int], *,
                         wait: bool) -> list[ShipmentSyncResult]:
    """``orders retry``: the failed parcels of these orders run again."""
    store = Store(settings.database_url)
    try:
        return await retry_failed(client, settings, store, f360_order_ids, wait=wait)
    finally:
        store.close()
