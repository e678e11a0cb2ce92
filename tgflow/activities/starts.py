"""Starting workflows from below the workflow layer: by workflow type name and id, never by class.

The order reconciliation activity enqueues orders and starts cancellations/refunds; the use cases
(``tgflow.service``: the CLI, the webhook receiver, ``tgflow dev``) do the same. Both call these
primitives, so activities never import the use-case layer and nothing here imports a workflow module.
Every start is idempotent: the queue is signalled-with-start, an order's adjustments scan joins a
running one (``USE_EXISTING``).
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from tgflow import search_attributes as attrs
from tgflow.config import Settings
from tgflow.contracts.adjustments import (
    CANCEL_KIND,
    REFUND_KIND,
    SCAN_WORKFLOW,
    RetryParams,
    ScanInput,
    ScanResult,
)
from tgflow.contracts.ids import order_queue_workflow_id, scan_workflow_id
from tgflow.contracts.orders import (
    QUEUE_KIND,
    QUEUE_SIGNAL,
    QUEUE_WORKFLOW,
    EnqueueOrders,
    ExportParams,
    OrderQueueInput,
)

#: Ids per enqueue signal (keeps each signal payload small).
SIGNAL_BATCH = 500


def sync_attributes(shop_id: str, kind: str, status: str | None = None) -> TypedSearchAttributes:
    """``TgShopId``, ``TgSyncKind`` (and ``TgSyncStatus``) of a workflow started for a shop."""
    pairs = [SearchAttributePair(attrs.SHOP_ID, shop_id), SearchAttributePair(attrs.SYNC_KIND, kind)]
    if status:
        pairs.append(SearchAttributePair(attrs.SYNC_STATUS, status))
    return TypedSearchAttributes(pairs)


# ---- the order queue ---------------------------------------------------------------------------------------------

def export_params(settings: Settings) -> ExportParams:
    o = settings.orders
    return ExportParams(retry_for_hours=o.retry_for_hours, retry_initial_seconds=o.retry_initial_seconds,
                        retry_max_seconds=o.retry_max_seconds, attempt_timeout_seconds=o.attempt_timeout_seconds)


def queue_input(settings: Settings) -> OrderQueueInput:
    return OrderQueueInput(shop_id=settings.totalgest.shop_id, max_concurrent=settings.orders.max_concurrent,
                           export=export_params(settings),
                           continue_after_events=settings.orders.queue_continue_after_events)


async def enqueue_orders(client: Client, settings: Settings, order_ids: list[int]) -> WorkflowHandle[Any, Any]:
    """Signal-with-start the shop's queue: it need not be running; ids it already holds are ignored."""
    shop = settings.totalgest.shop_id
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    handle = None
    for start in range(0, max(len(ids), 1), SIGNAL_BATCH):
        batch = EnqueueOrders(order_ids=ids[start:start + SIGNAL_BATCH],
                              max_concurrent=settings.orders.max_concurrent, export=export_params(settings))
        handle = await client.start_workflow(
            QUEUE_WORKFLOW, queue_input(settings),
            id=order_queue_workflow_id(shop), task_queue=settings.temporal.task_queue,
            start_signal=QUEUE_SIGNAL, start_signal_args=[batch],
            search_attributes=sync_attributes(shop, QUEUE_KIND),
            static_summary=f"Order export queue of shop {shop} (Framework360 → TotalGest)",
        )
    assert handle is not None
    return handle


# ---- cancellations and refunds -----------------------------------------------------------------------------------

def retry_params(settings: Settings) -> RetryParams:
    o = settings.orders
    return RetryParams(retry_for_hours=o.retry_for_hours, retry_initial_seconds=o.retry_initial_seconds,
                       retry_max_seconds=o.retry_max_seconds, attempt_timeout_seconds=o.attempt_timeout_seconds)


def adjustment_attributes(shop_id: str, kind: str) -> TypedSearchAttributes:
    return sync_attributes(shop_id, CANCEL_KIND if kind == "cancel" else REFUND_KIND, "running")


async def start_adjustments(client: Client, settings: Settings, order_id: int) -> WorkflowHandle[Any, ScanResult]:
    """Handle whatever the shop order needs in TotalGest (its refunds, its cancellation); idempotent."""
    shop = settings.totalgest.shop_id
    return await client.start_workflow(
        SCAN_WORKFLOW, ScanInput(shop_id=shop, f360_order_id=int(order_id), retry=retry_params(settings)),
        id=scan_workflow_id(shop, int(order_id)), task_queue=settings.temporal.task_queue, result_type=ScanResult,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=adjustment_attributes(shop, "refund"),
        static_summary=f"Cancellation and refunds of Framework360 order {order_id} → TotalGest (shop {shop})")


async def is_running(workflow_id: str) -> bool:
    """Whether a workflow of that id is running now (from inside an activity)."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    try:
        desc = await activity.client().get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return desc.status == WorkflowExecutionStatus.RUNNING
