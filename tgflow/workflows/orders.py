"""Order export workflows: one per order, a per-shop queue, a bulk manual export, the order reconciliation.

Histories hold ids, numbers, statuses and reasons only (never customer data or
credentials): the activities read the order themselves.

* ``OrderExportWorkflow`` (``order-export-<shop>-<order id>``, in ``order_export.py``): an exported order is one local activity (export and record), with
  retries; a failure adds the record activity and fails the workflow with the reason
  (``OrderExportFailed``), so the Web UI shows it Failed; the parents below count it as failed.
* ``OrderQueueWorkflow`` (``order-queue-<shop>``): long-running, fed by ``enqueue``
  signals (callers use signal-with-start), runs at most ``max_concurrent`` exports,
  continues as new carrying its backlog.
* ``ExportOrdersWorkflow``: ``tgflow export-orders``; runs the given orders now and
  returns the report.
* ``OrderReconcileWorkflow``: the order reconciliation schedule's run; one activity enqueues what is
  not linked (not the drift report, which only compares: ``workflows/ops.py``).

Inputs and results: ``tgflow.contracts.orders``; ids: ``tgflow.contracts.ids``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError

from tgflow.workflows.order_export import OrderExportWorkflow

with workflow.unsafe.imports_passed_through():
    from tgflow import search_attributes as attrs
    from tgflow.activities.orders import OrderActivities
    from tgflow.contracts.ids import order_export_workflow_id
    from tgflow.contracts.orders import (
        BULK_EXPORT_WORKFLOW,
        ORDER_RECONCILE_WORKFLOW,
        QUEUE_SIGNAL,
        QUEUE_WAITING_SIGNAL,
        QUEUE_WORKFLOW,
        BulkExportInput,
        EnqueueOrders,
        ExportParams,
        ExportReport,
        ExportWaiting,
        OrderExportInput,
        OrderExportResult,
        OrderFailure,
        OrderLinked,
        OrderQueueInput,
        OrderReconcileActivityInput,
        OrderReconcileInput,
        OrderReconcileResult,
    )

    # Helpers live outside this module so the sandbox does not rebuild them for every run.
    from tgflow.workflows.order_helpers import (
        SLOT_FREE_WHILE_WAITING_PATCH,
        child_search_attributes,
        export_summary,
        failure_reason,
        is_failed_export,
    )

#: After Temporal suggests continue-as-new, the queue waits this long for running exports to finish.
DRAIN_TIMEOUT = timedelta(minutes=10)


# ---- the queue ------------------------------------------------------------------------------------------------------


async def _run_child(shop_id: str, order_id: int, export: ExportParams) -> OrderExportResult:
    return await workflow.execute_child_workflow(
        OrderExportWorkflow.run,
        OrderExportInput(shop_id=shop_id, f360_order_id=order_id, **export.model_dump()),
        id=order_export_workflow_id(shop_id, order_id),
        # A finished export (linked or failed) may run again: the new run finds the order by external_ref.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        # Continue-as-new or cancelling the parent never stops an export half-way.
        parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        search_attributes=child_search_attributes(shop_id),
        static_summary=export_summary(shop_id, order_id),
    )


@workflow.defn(name=QUEUE_WORKFLOW)
class OrderQueueWorkflow:
    def __init__(self) -> None:
        self._queued: dict[int, None] = {}
        self._running: dict[int, None] = {}
        #: Running exports that said they are waiting out a Retry-After: they do not count against ``_max``.
        self._waiting: dict[int, None] = {}
        self._done: dict[str, int] = {}
        self._max = 10
        self._export = ExportParams()

    @workflow.signal(name=QUEUE_SIGNAL)
    def enqueue(self, batch: EnqueueOrders) -> None:
        """Add order ids; ids already queued or running are ignored."""
        if batch.max_concurrent:
            self._max = max(1, batch.max_concurrent)
        if batch.export is not None:
            self._export = batch.export
        for order_id in batch.order_ids:
            if order_id not in self._queued and order_id not in self._running:
                self._queued[order_id] = None

    @workflow.signal(name=QUEUE_WAITING_SIGNAL)
    def export_waiting(self, note: ExportWaiting) -> None:
        """A running export starts or ends a Retry-After wait (sent by its activity). While it waits its slot
        takes the next order; when it resumes, no new export starts until the running ones are back under
        the cap. Notes for orders this run is not exporting (a bulk export's, a previous run's) are ignored."""
        if not workflow.patched(SLOT_FREE_WHILE_WAITING_PATCH):
            return
        if note.waiting and note.order_id in self._running:
            self._waiting[note.order_id] = None
        else:
            self._waiting.pop(note.order_id, None)

    def _busy(self) -> int:
        """Exports holding a slot: running and not waiting out a Retry-After."""
        return len(self._running) - len(self._waiting)

    @workflow.query
    def backlog(self) -> dict[str, Any]:
        """Queued and running exports (``waiting``: running ones waiting out a Retry-After, not holding a
        slot), the next ids, and the outcomes counted so far."""
        return {"queued": len(self._queued), "running": len(self._running), "waiting": len(self._waiting),
                "next": list(self._queued)[:20], "running_ids": list(self._running)[:50], "done": dict(self._done)}

    def _continue_due(self, params: OrderQueueInput) -> bool:
        info = workflow.info()
        if params.continue_after_events and info.get_current_history_length() >= params.continue_after_events:
            return True
        return info.is_continue_as_new_suggested()

    async def _export_one(self, shop_id: str, order_id: int) -> None:
        outcome = "error"
        try:
            result = await _run_child(shop_id, order_id, self._export)
            outcome = result.status
        except WorkflowAlreadyStartedError:
            outcome = "already_running"  # another run (a bulk export, the previous queue run) is exporting it
        except ChildWorkflowError as err:
            if is_failed_export(err):
                outcome = "failed"  # recorded by the export; the reason is its failure message
            else:
                workflow.logger.warning("export of order %s ended abnormally: %s", order_id, err)
        finally:
            self._running.pop(order_id, None)
            self._waiting.pop(order_id, None)
            self._done[outcome] = self._done.get(outcome, 0) + 1

    @workflow.run
    async def run(self, params: OrderQueueInput) -> None:
        self._max = max(1, params.max_concurrent)
        self._export = params.export
        self._done = dict(params.done)
        for order_id in params.backlog:
            self._queued.setdefault(order_id, None)
        workflow.set_current_details("Exporting completed Framework360 orders to TotalGest as they arrive.")
        while True:
            await workflow.wait_condition(
                lambda: (bool(self._queued) and self._busy() < self._max) or self._continue_due(params))
            if self._continue_due(params):
                break
            while self._queued and self._busy() < self._max:
                order_id = next(iter(self._queued))
                del self._queued[order_id]
                self._running[order_id] = None
                asyncio.create_task(self._export_one(params.shop_id, order_id))
        # Let running exports and signal handlers finish so nothing is lost, then start afresh.
        try:
            await workflow.wait_condition(lambda: not self._running and workflow.all_handlers_finished(),
                                          timeout=DRAIN_TIMEOUT)
        except asyncio.TimeoutError:
            pass  # still-running exports were abandoned to themselves; carrying their ids is harmless
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(OrderQueueInput(
            shop_id=params.shop_id, max_concurrent=self._max, export=self._export,
            backlog=list(self._running) + list(self._queued),
            continue_after_events=params.continue_after_events, done=self._done))


# ---- bulk export with a report -----------------------------------------------------------------------------------


@workflow.defn(name=BULK_EXPORT_WORKFLOW)
class ExportOrdersWorkflow:
    def __init__(self) -> None:
        self._report = ExportReport()

    @workflow.query
    def progress(self) -> dict[str, int]:
        r = self._report
        return {"total": r.total, "succeeded": r.succeeded, "already_linked": r.already_linked, "failed": r.failed}

    async def _one(self, params: BulkExportInput, order_id: int, slots: asyncio.Semaphore) -> None:
        async with slots:
            wait = 1.0
            while True:
                try:
                    result = await _run_child(params.shop_id, order_id, params.export)
                    break
                except WorkflowAlreadyStartedError:
                    # The queue is exporting it right now: wait, then run again (it then reports already linked
                    # or fails with its own reason). Never two exports of one order at once.
                    await workflow.sleep(timedelta(seconds=wait))
                    wait = min(wait * 2, 30.0)
                except ChildWorkflowError as err:
                    # A failed export fails with its reason as the message; anything else ended abnormally.
                    reason, number = failure_reason(err, params.export)
                    if not is_failed_export(err):
                        reason = f"export did not finish: {reason}"
                    result = OrderExportResult(shop_id=params.shop_id, f360_order_id=order_id, status="failed",
                                               f360_number=number, reason=reason)
                    break
        r = self._report
        if result.status == "failed":
            r.failed += 1
            r.failures.append(OrderFailure(order_id=order_id, number=result.f360_number,
                                           reason=result.reason or "failed"))
        elif result.status == "cancelled":
            r.cancelled.append(OrderLinked(order_id=order_id, number=result.f360_number))
        elif result.status == "already_linked":
            r.already_linked += 1
            r.already.append(OrderLinked(order_id=order_id, number=result.f360_number,
                                         tg_order_number=result.tg_order_number))
        else:
            r.succeeded += 1
            r.linked.append(OrderLinked(order_id=order_id, number=result.f360_number,
                                        tg_order_number=result.tg_order_number))

    @workflow.run
    async def run(self, params: BulkExportInput) -> ExportReport:
        ids = list(dict.fromkeys(params.order_ids))
        self._report.total = len(ids)
        workflow.set_current_details(f"Exporting {len(ids)} order(s) now…")
        slots = asyncio.Semaphore(max(1, params.max_concurrent))
        await asyncio.gather(*(self._one(params, order_id, slots) for order_id in ids))
        r = self._report
        r.failures.sort(key=lambda f: f.order_id)
        r.linked.sort(key=lambda f: f.order_id)
        r.already.sort(key=lambda f: f.order_id)
        workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("failed" if r.failed else "completed")])
        workflow.set_current_details(
            f"**{r.succeeded}** exported · **{r.already_linked}** already linked · **{r.failed}** failed"
            + "".join(f"\n- {f.number or f.order_id}: {f.reason}" for f in r.failures[:20]))
        return r


# ---- order reconciliation --------------------------------------------------------------------------------------


@workflow.defn(name=ORDER_RECONCILE_WORKFLOW)
class OrderReconcileWorkflow:
    @workflow.run
    async def run(self, params: OrderReconcileInput) -> OrderReconcileResult:
        result: OrderReconcileResult = await workflow.execute_activity_method(
            OrderActivities.reconcile_orders,
            OrderReconcileActivityInput(shop_id=params.shop_id),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(seconds=params.heartbeat_timeout_seconds),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=5),
            summary="enqueue completed orders not linked yet")
        workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("completed")])
        workflow.set_current_details(
            f"**{result.seen}** completed orders read · **{result.enqueued}** enqueued · "
            f"**{result.already_linked}** already linked · **{result.skipped_failed}** failed earlier (unchanged)")
        return result
