"""Client side of the order export: enqueue, export now with a report, the reconciliation schedule.

Used by the CLI, the webhook receiver, ``tgflow dev``, the reconciliation activity and tests.
"""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from tgflow import search_attributes as attrs
from tgflow.config import Settings
from tgflow.service.jobs import job
from tgflow.service.schedules import ensure_schedule
from tgflow.workflows.orders import (
    BULK_KIND,
    QUEUE_KIND,
    QUEUE_SIGNAL,
    RECONCILE_KIND,
    EnqueueOrders,
    ExportOrdersInput,
    ExportOrdersWorkflow,
    ExportParams,
    ExportReport,
    OrderQueueInput,
    OrderQueueWorkflow,
    OrderReconcileInput,
    OrderReconcileWorkflow,
    queue_workflow_id,
)

#: Ids per enqueue signal (keeps each signal payload small).
SIGNAL_BATCH = 500
#: Ids per bulk export workflow (keeps its history far from Temporal's limits).
BULK_MAX = 2000


def export_params(settings: Settings) -> ExportParams:
    o = settings.orders
    return ExportParams(retry_for_hours=o.retry_for_hours, retry_initial_seconds=o.retry_initial_seconds,
                        retry_max_seconds=o.retry_max_seconds, attempt_timeout_seconds=o.attempt_timeout_seconds)


def _attrs(settings: Settings, kind: str, status: str | None = None) -> TypedSearchAttributes:
    pairs = [SearchAttributePair(attrs.SHOP_ID, settings.totalgest.shop_id),
             SearchAttributePair(attrs.SYNC_KIND, kind)]
    if status:
        pairs.append(SearchAttributePair(attrs.SYNC_STATUS, status))
    return TypedSearchAttributes(pairs)


def queue_input(settings: Settings) -> OrderQueueInput:
    return OrderQueueInput(shop_id=settings.totalgest.shop_id, max_concurrent=settings.orders.max_concurrent,
                           export=export_params(settings),
                           continue_after_events=settings.orders.queue_continue_after_events)


async def enqueue_orders(client: Client, settings: Settings, order_ids: list[int]) -> WorkflowHandle:
    """Signal-with-start the shop's queue: it need not be running; ids it already holds are ignored."""
    shop = settings.totalgest.shop_id
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    handle = None
    for start in range(0, max(len(ids), 1), SIGNAL_BATCH):
        batch = EnqueueOrders(order_ids=ids[start:start + SIGNAL_BATCH],
                              max_concurrent=settings.orders.max_concurrent, export=export_params(settings))
        handle = await client.start_workflow(
            OrderQueueWorkflow.run, queue_input(settings),
            id=queue_workflow_id(shop), task_queue=settings.temporal.task_queue,
            start_signal=QUEUE_SIGNAL, start_signal_args=[batch],
            search_attributes=_attrs(settings, QUEUE_KIND),
            static_summary=f"Order export queue of shop {shop} (Framework360 → TotalGest)",
        )
    assert handle is not None
    return handle


async def start_export(client: Client, settings: Settings, order_ids: list[int],
                       *, workflow_id: str | None = None) -> WorkflowHandle[Any, ExportReport]:
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    if len(ids) > BULK_MAX:
        raise ValueError(f"at most {BULK_MAX} orders per export; split the list")
    shop = settings.totalgest.shop_id
    return await client.start_workflow(
        ExportOrdersWorkflow.run,
        ExportOrdersInput(shop_id=shop, order_ids=ids, max_concurrent=settings.orders.max_concurrent,
                          export=export_params(settings)),
        id=workflow_id or f"order-bulk-export-{shop}-{uuid.uuid4().hex[:10]}",
        task_queue=settings.temporal.task_queue,
        search_attributes=_attrs(settings, BULK_KIND, "running"),
        static_summary=f"Export {len(ids)} Framework360 order(s) to TotalGest now (shop {shop})",
    )


async def export_orders_now(client: Client, settings: Settings, order_ids: list[int]) -> ExportReport:
    """Export these orders now (bypassing the queue's pacing, never the exactly-once rule) and wait for the report."""
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    report = ExportReport()
    for start in range(0, len(ids), BULK_MAX):
        part = await (await start_export(client, settings, ids[start:start + BULK_MAX])).result()
        report.total += part.total
        report.succeeded += part.succeeded
        report.already_linked += part.already_linked
        report.failed += part.failed
        report.linked += part.linked
        report.already += part.already
        report.failures += part.failures
        report.cancelled += part.cancelled
    return report


def reconcile_schedule_id(settings: Settings) -> str:
    return job(settings, "reconcile").schedule_id


def reconcile_input(settings: Settings) -> OrderReconcileInput:
    return OrderReconcileInput(shop_id=settings.totalgest.shop_id)


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> bool:
    """Create or update ``order-reconcile-<shop_id>`` (every ``orders.reconcile_every_minutes``). True when created."""
    return await ensure_schedule(
        client,
        schedule_id=reconcile_schedule_id(settings),
        workflow=OrderReconcileWorkflow.run,
        arg=reconcile_input(settings),
        workflow_id=f"order-reconcile-{settings.totalgest.shop_id}",
        task_queue=settings.temporal.task_queue,
        every=job(settings, "reconcile").every,
        search_attributes=_attrs(settings, RECONCILE_KIND, "running"),
        note="tgflow order reconciliation",
    )


async def reconcile_now(client: Client, settings: Settings):
    """One reconciliation run now, waited for (tests, manual use)."""
    return await client.execute_workflow(
        OrderReconcileWorkflow.run, reconcile_input(settings),
        id=f"order-reconcile-{settings.totalgest.shop_id}-manual-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal.task_queue,
        search_attributes=_attrs(settings, RECONCILE_KIND, "running"),
        static_summary=f"Order reconciliation of shop {settings.totalgest.shop_id} (manual)",
    )


def pending_order_ids(store, settings: Settings) -> list[int]:
    """Every order the status store knows that is not linked (not linked, pending or failed)."""
    from tgflow.store import orders as ostore

    return ostore.unlinked_ids(store, settings.totalgest.shop_id)
