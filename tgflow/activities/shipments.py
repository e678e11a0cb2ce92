"""Shipment activities: TotalGest parcels -> Framework360 fulfillments.

* ``shipment_import_begin`` / ``shipment_import_finish``: the run's row and the ``/order-changes``
  cursor (moved to the run's start minus ``shipments.cursor_overlap_seconds`` after a successful pass,
  so the next run re-reads an overlap window: reading a change twice does nothing twice).
* ``shipment_import_pass``: one heartbeating activity per run. It streams ``/order-changes`` page by
  page; orders tgflow did not export are left alone; for exported ones it stores the TotalGest status
  (``invoiced FA-…``, ``partly shipped``, ``shipped``), writes it to the order's status column when it
  changed, and starts one ``OrderShipmentWorkflow`` per shipment not yet linked to a fulfillment
  (id ``order-shipment-<shop>-<shipment id>``; a running one is joined, never doubled), waits for them
  and heartbeats the next page. A retried attempt resumes at the page it was on.
* ``sync_shipment``: one shipment -> one fulfillment. It reads the shop order's fulfillments first and
  links the one with the same carrier and tracking number if an earlier attempt created it (lost
  answer, killed worker): the customer gets one e-mail per parcel. What a person must fix (Framework360
  refuses the parcel, a code the order does not have, more than is left to ship) is non-retryable.
* ``record_shipment_failure``: the reason, for ``orders show``, ``orders list --status failed``,
  ``tgflow status`` and the alerts; ``orders retry`` re-drives it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta, timezone
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError

from tgflow import search_attributes as attrs
from tgflow.activities.calls import temporal_errors
from tgflow.activities.deps import Deps
from tgflow.activities.starts import is_running
from tgflow.clients.errors import ApiError, NotFoundError, PermanentError, RateLimitedError
from tgflow.clients.framework360 import IntegrationStatus
from tgflow.clients.totalgest import Order as TgOrder
from tgflow.contracts.ids import manual_shipment_import_id, shipment_workflow_id
from tgflow.contracts.shipments import (
    MAX_ERROR_SAMPLES,
    RUN_KIND,
    SHIPMENT_KIND,
    BeginShipmentImportInput,
    BeginShipmentImportResult,
    FinishShipmentImportInput,
    RecordShipmentFailureInput,
    ShipmentCounts,
    ShipmentPassInput,
    ShipmentPassProgress,
    ShipmentPassResult,
    ShipmentSyncInput,
    ShipmentSyncResult,
    shipment_summary,
)
from tgflow.mapping.shipments import (
    ShipmentMappingError,
    find_fulfillment,
    fulfillment_input,
    progress_text,
    shipping_state,
)
from tgflow.store import runs
from tgflow.store import shipments as sstore
from tgflow.store.models import OrderLink, utcnow

log = logging.getLogger(__name__)

#: The workflow the pass starts per shipment (by name: activities do not import workflows).
SHIPMENT_WORKFLOW = "OrderShipmentWorkflow"
#: Longest status-column message Framework360 takes.
MAX_STATUS_MESSAGE = 500


def shipment_input(shop_id: str, tg_order_id: int, tg_shipment_id: int, f360_order_id: int,
                   settings: Any) -> ShipmentSyncInput:
    s = settings.shipments
    return ShipmentSyncInput(shop_id=shop_id, tg_order_id=tg_order_id, tg_shipment_id=tg_shipment_id,
                             f360_order_id=f360_order_id, retry_initial_seconds=s.retry_initial_seconds,
                             retry_max_seconds=s.retry_max_seconds, retry_for_hours=s.shipment_retry_for_hours,
                             attempt_timeout_seconds=s.attempt_timeout_seconds)


async def start_shipment(client: Client, task_queue: str, params: ShipmentSyncInput,
                         order_number: str | None) -> Any:
    """Start (or join, while it runs) the workflow of one shipment. A finished one may run again (``orders
    retry``): it finds its fulfillment before creating one."""
    pairs = [SearchAttributePair(attrs.SHOP_ID, params.shop_id), SearchAttributePair(attrs.SYNC_KIND, SHIPMENT_KIND),
             SearchAttributePair(attrs.SYNC_STATUS, "running")]
    if order_number:
        pairs.append(SearchAttributePair(attrs.ORDER_NUMBER, order_number))
    return await client.start_workflow(
        SHIPMENT_WORKFLOW, params, id=shipment_workflow_id(params.shop_id, params.tg_shipment_id),
        task_queue=task_queue, result_type=ShipmentSyncResult,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes(pairs),
        static_summary=shipment_summary(params.shop_id, params.tg_order_id, params.tg_shipment_id,
                                        params.f360_order_id))


class ShipmentActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    # ---- begin / finish ------------------------------------------------------------------------------------------

    @activity.defn(name="shipment_import_begin")
    async def begin_import(self, params: BeginShipmentImportInput) -> BeginShipmentImportResult:
        """Record the run and read the cursor. A scheduled run while a manual one is going steps aside."""
        manual = manual_shipment_import_id(params.shop_id)
        if params.workflow_id != manual and await is_running(manual):
            return BeginShipmentImportResult(skipped_for=manual)
        await self.deps.db(runs.start_run, self.deps.store, params.shop_id, RUN_KIND, params.workflow_id,
                           params.run_id, params.started_at)
        since = await self.deps.db(sstore.get_cursor, self.deps.store, params.shop_id)
        return BeginShipmentImportResult(since=since)

    @activity.defn(name="shipment_import_finish")
    async def finish_import(self, params: FinishShipmentImportInput) -> None:
        """Close the run; after a successful pass move the cursor to its start minus the overlap."""
        store, shop = self.deps.store, params.shop_id
        if params.succeeded:
            overlap = timedelta(seconds=self.deps.settings.shipments.cursor_overlap_seconds)
            await self.deps.db(sstore.set_cursor, store, shop,
                               params.started_at.astimezone(timezone.utc) - overlap)
        errors = list(params.error_samples)
        if params.failure:
            errors.insert(0, params.failure)
        await self.deps.db(runs.finish_run, store, shop, RUN_KIND, params.workflow_id, params.run_id,
                           "completed" if params.succeeded else "failed", params.started_at,
                           params.counts.model_dump(), errors)

    # ---- the pass ------------------------------------------------------------------------------------------------

    @activity.defn(name="shipment_import_pass")
    async def import_pass(self, params: ShipmentPassInput) -> ShipmentPassResult:
        details = activity.info().heartbeat_details
        progress = ShipmentPassProgress.model_validate(details[0]) if details else ShipmentPassProgress()
        with temporal_errors("reading TotalGest order changes"):
            await self._run_pass(params, progress)
        return ShipmentPassResult(counts=progress.counts, error_samples=progress.error_samples)

    def _beat(self, progress: ShipmentPassProgress) -> None:
        activity.heartbeat(progress.model_dump(mode="json"))

    async def _run_pass(self, params: ShipmentPassInput, progress: ShipmentPassProgress) -> None:
        tg = self.deps.totalgest
        self._beat(progress)
        pages = tg.iter_order_changes(updated_since=params.since, cursor=progress.cursor,
                                      limit=self.deps.settings.shipments.page_size)
        async for page in pages:
            latest: dict[int, TgOrder] = {}
            for order in page.items:  # an order changed twice on a page: its last appearance is its state
                latest[order.id] = order
            progress.counts.changes_read += len(page.items)
            counts, errors = await self._handle_orders(params, list(latest.values()))
            progress.counts.add(counts)
            room = MAX_ERROR_SAMPLES - len(progress.error_samples)
            if room > 0:
                progress.error_samples.extend(errors[:room])
            progress.cursor = page.next_cursor
            self._beat(progress)

    async def _handle_orders(self, params: ShipmentPassInput, orders: list[TgOrder]) -> tuple[ShipmentCounts, list[str]]:
        counts = ShipmentCounts()
        errors: list[str] = []
        shop = params.shop_id
        links = await self.deps.db(sstore.exported_orders, self.deps.store, shop, [o.id for o in orders])
        exported = [o for o in orders if o.id in links]
        counts.not_exported = len(orders) - len(exported)
        if not exported:
            return counts, errors
        await self._record_progress(shop, exported, links)

        shipment_ids = [s.id for o in exported for s in o.shipments]
        known = await self.deps.db(sstore.load_shipments, self.deps.store, shop, shipment_ids)
        client = activity.client()
        handles: list[tuple[int, Any]] = []
        for order in exported:
            link = links[order.id]
            for shipment in order.shipments:
                done = known.get(shipment.id)
                if done is not None and done.status == sstore.FULFILLED:
                    counts.already_fulfilled += 1
                    continue
                if done is not None and done.status == sstore.FAILED:
                    continue  # waits for a person: `tgflow orders retry` re-drives it
                sync = shipment_input(shop, order.id, shipment.id, link.f360_order_id, self.deps.settings)
                workflow_id = shipment_workflow_id(shop, shipment.id)
                await self.deps.db(sstore.mark_pending, self.deps.store, shop, shipment.id, tg_order_id=order.id,
                                   f360_order_id=link.f360_order_id, workflow_id=workflow_id)
                handles.append((shipment.id, await start_shipment(client, params.task_queue, sync, link.f360_number)))

        results = await self._wait_all([h for _, h in handles])
        for (shipment_id, _), result in zip(handles, results):
            if isinstance(result, ShipmentSyncResult):
                if result.status == "fulfilled":
                    counts.fulfilled += 1
                elif result.status == "already_fulfilled":
                    counts.already_fulfilled += 1
                else:
                    counts.failed += 1
                    errors.append(f"shipment {shipment_id}: {result.reason}")
            else:
                counts.failed += 1
                errors.append(f"shipment {shipment_id}: its workflow ended without a result: {result}")
        return counts, errors

    async def _wait_all(self, handles: list[Any]) -> list[Any]:
        """Every started shipment workflow's result (or the error it ended with), heartbeating meanwhile."""
        if not handles:
            return []

        async def one(handle: Any) -> Any:
            try:
                return await handle.result()
            except WorkflowFailureError as exc:
                return exc.cause or exc

        tasks = [asyncio.ensure_future(one(h)) for h in handles]
        while True:
            done, pending = await asyncio.wait(tasks, timeout=5.0)
            if not pending:
                return [t.result() for t in tasks]
            activity.heartbeat()

    async def _record_progress(self, shop: str, orders: list[TgOrder], links: dict[int, OrderLink]) -> None:
        """The TotalGest status of exported orders: in the status store and, when it changed, in the order's
        status column in Framework360 (``invoiced FA-…``, ``partly shipped``, ``shipped``)."""
        progress: dict[int, tuple[str, str | None, str | None]] = {}
        for order in orders:
            progress[links[order.id].f360_order_id] = (order.status, order.invoice_number, shipping_state(order))
        stale = {links[o.id].f360_order_id: links[o.id] for o in orders
                 if (links[o.id].tg_status, links[o.id].tg_invoice_number, links[o.id].tg_shipping)
                 != progress[links[o.id].f360_order_id]}
        f360 = self.deps.framework360
        for f360_id, link in stale.items():
            text = progress_text(*progress[f360_id])
            if text is None or link.status != "linked":
                continue
            try:
                await f360.set_order_status(f360_id, IntegrationStatus(
                    status="linked", remote_id=link.tg_order_number, message=text[:MAX_STATUS_MESSAGE],
                    synced_at=utcnow()))
            except NotFoundError:
                log.warning("Framework360 order %s is gone; its status column was not updated", f360_id)
            except RateLimitedError:
                raise
            except PermanentError as exc:  # the column is informative: never a reason to stop the parcels
                log.warning("status column of Framework360 order %s not updated: %s", f360_id, exc)
        await self.deps.db(sstore.set_order_progress, self.deps.store, shop, progress)

    # ---- one shipment ----------------------------------------------------------------------------------------------

    @activity.defn(name="sync_shipment")
    async def sync_shipment(self, params: ShipmentSyncInput) -> ShipmentSyncResult:
        with temporal_errors(_step_of):
            return await self._sync(params)

    async def _sync(self, params: ShipmentSyncInput) -> ShipmentSyncResult:
        shop = params.shop_id
        tg_order = await self.deps.totalgest.get_order(params.tg_order_id)
        shipment = next((s for s in tg_order.shipments if s.id == params.tg_shipment_id), None)
        if shipment is None:
            raise ApplicationError(f"TotalGest order {tg_order.number} has no shipment {params.tg_shipment_id} "
                                   "any more", type="ShipmentGone", non_retryable=True)
        f360 = self.deps.framework360
        order = await f360.get_order(params.f360_order_id)
        existing = find_fulfillment(order, shipment)
        status = "already_fulfilled"
        if existing is None:
            if order.status == "cancelled":
                raise ApplicationError(
                    f"Framework360 order {order.number} is cancelled but TotalGest order {tg_order.number} shipped "
                    f"parcel {shipment.tracking_number}: check the order in both systems", type="OrderCancelled",
                    non_retryable=True)
            try:
                body = fulfillment_input(order, shipment, tg_order.number)
            except ShipmentMappingError as exc:
                raise ApplicationError(str(exc), type="ShipmentNotMappable", non_retryable=True) from None
            try:
                existing = await f360.create_fulfillment(order.id, body)
            except PermanentError as exc:
                raise ApplicationError(f"Framework360 refused parcel {shipment.tracking_number} of order "
                                       f"{order.number}: {exc}", type="FulfillmentRefused", non_retryable=True) from None
            status = "fulfilled"
        await self.deps.db(sstore.mark_fulfilled, self.deps.store, shop, shipment.id, tg_order_id=tg_order.id,
                           f360_order_id=order.id, f360_fulfillment_id=existing.id, carrier=shipment.carrier,
                           tracking_number=shipment.tracking_number, at=utcnow())
        return ShipmentSyncResult(tg_shipment_id=shipment.id, status=status, f360_fulfillment_id=existing.id)

    @activity.defn(name="record_shipment_failure")
    async def record_failure(self, params: RecordShipmentFailureInput) -> None:
        await self.deps.db(sstore.mark_failed, self.deps.store, params.shop_id, params.tg_shipment_id,
                           tg_order_id=params.tg_order_id, f360_order_id=params.f360_order_id,
                           reason=params.reason, workflow_id=params.workflow_id)


def _step_of(exc: ApiError) -> str:
    return "reading the TotalGest order" if exc.api == "TotalGest" else "reading the Framework360 order"

