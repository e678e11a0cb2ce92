"""Use case of "Send to TotalGest" from the shop's order list: start one request workflow per request id.

Called by the webhook receiver for ``orders.export_requested``. The workflow id comes from the request id
and the start is idempotent: a running request is joined, a finished one is never started again
(``WorkflowAlreadyStartedError``: the caller answers "duplicate"); one that failed (terminated, Framework360
refused the notification) may run again - the status store still keeps its notification to one.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from tgflow.config import Settings
from tgflow.contracts.export_requests import (
    MAX_REQUEST_ORDERS,
    ExportPacing,
    ExportRequestInput,
    ExportRequestResult,
    NotifyRetry,
)
from tgflow.contracts.ids import export_request_workflow_id
from tgflow.store import Store
from tgflow.store import export_requests as erstore
from tgflow.workflows.export_requests import ExportRequestWorkflow, request_attributes

log = logging.getLogger(__name__)


class BadRequest(ValueError):
    """The event does not name a valid request (one line saying what is wrong)."""


def pacing(settings: Settings) -> ExportPacing:
    o = settings.orders
    return ExportPacing(max_concurrent=o.max_concurrent, retry_for_hours=o.retry_for_hours,
                        retry_initial_seconds=o.retry_initial_seconds, retry_max_seconds=o.retry_max_seconds,
                        attempt_timeout_seconds=o.attempt_timeout_seconds)


def notify_retry(settings: Settings) -> NotifyRetry:
    o = settings.orders
    return NotifyRetry(retry_for_hours=o.retry_for_hours, retry_initial_seconds=o.retry_initial_seconds,
                       retry_max_seconds=o.retry_max_seconds)


def check_request(request_id: object, order_ids: object) -> tuple[str, list[int]]:
    """The request id and the order ids (deduplicated, in order), or BadRequest naming what is wrong."""
    if not isinstance(request_id, str) or not request_id.strip():
        raise BadRequest("data.request_id must be a non-empty string")
    if not isinstance(order_ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in order_ids):
        raise BadRequest("data.order_ids must be a list of integer order ids")
    ids = list(dict.fromkeys(order_ids))
    if not 1 <= len(ids) <= MAX_REQUEST_ORDERS:
        raise BadRequest(f"data.order_ids must hold 1 to {MAX_REQUEST_ORDERS} order ids, not {len(ids)}")
    return request_id, ids


async def start_export_request(client: Client, settings: Settings, store: Store, *, request_id: object,
                               order_ids: object, requested_by: str | None = None
                               ) -> WorkflowHandle[ExportRequestWorkflow, ExportRequestResult]:
    """Record the request (who asked stays in the store, not in Temporal) and start its workflow once.

    Raises BadRequest for an invalid request, ``WorkflowAlreadyStartedError`` when it already finished."""
    rid, ids = check_request(request_id, order_ids)
    shop = settings.totalgest.shop_id
    workflow_id = export_request_workflow_id(shop, rid)
    log.debug("request %s: %d order(s) requested by %s", rid, len(ids), requested_by)
    await asyncio.to_thread(erstore.record_request, store, shop, rid, order_count=len(ids),
                            requested_by=requested_by, workflow_id=workflow_id)
    return await client.start_workflow(
        ExportRequestWorkflow.run,
        ExportRequestInput(shop_id=shop, request_id=rid, order_ids=ids, pacing=pacing(settings),
                           notify=notify_retry(settings)),
        id=workflow_id, task_queue=settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        search_attributes=request_attributes(shop),
        static_summary=f"Send to TotalGest: {len(ids)} order(s) chosen in the shop (request {rid})"[:200])


__all__ = ["BadRequest", "check_request", "start_export_request"]
