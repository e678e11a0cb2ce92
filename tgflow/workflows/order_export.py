"""``OrderExportWorkflow`` (``order-export-<shop>-<order id>``): one Framework360 order to TotalGest.

One activity, ``export_order``, which also records a success (status store, Framework360
status column); ``record_order_result`` follows only for a failure, or for a success the
export could not record. Transient failures retry with exponential backoff for
``retry_for_hours``; a reason a person must fix fails fast. A linked export completes with
``linked`` / ``already_linked``; a failed one is recorded (status store, Framework360 status
column), sets ``TgSyncStatus="failed"``, then fails the workflow with the reason as its failure
message (``OrderExportFailed``, non-retryable, details ``{"number", "order_id"}``), so the Web UI
shows it Failed; parents read the reason from that failure. Histories from before that change
complete with ``status="failed"`` as they did (``FAILED_EXPORT_FAILS_PATCH``).

A module of its own, and small on purpose: the sandbox imports a workflow's module afresh for
every run (compiling it from source where no ``.pyc`` is written), and there is one run per
order. Its models (``tgflow.contracts.orders``) and helpers (``order_helpers``) come through the
pass-through.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tgflow import search_attributes as attrs
    from tgflow.activities.orders import OrderActivities
    from tgflow.contracts.orders import (
        EXPORT_FAILED,
        EXPORT_WORKFLOW,
        NOT_EXPORTABLE,
        ExportActivityInput,
        ExportActivityResult,
        OrderExportInput,
        OrderExportResult,
        record_input,
    )
    from tgflow.workflows.order_helpers import (
        FAILED_EXPORT_FAILS_PATCH,
        ONE_STEP_EXPORT_PATCH,
        failure_reason,
        is_not_exportable,
    )

#: Quick attempts of the local activity before the export falls back to a regular activity
#: (server-side retries for ``retry_for_hours``). A local activity's retries are not bounded by a
#: schedule-to-close timeout in this SDK and each long one adds workflow task heartbeats to the history.
LOCAL_ATTEMPTS = 3


@workflow.defn(name=EXPORT_WORKFLOW)
class OrderExportWorkflow:
    @workflow.run
    async def run(self, params: OrderExportInput) -> OrderExportResult:
        info = workflow.info()
        retry = RetryPolicy(
            initial_interval=timedelta(seconds=params.retry_initial_seconds),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=max(params.retry_max_seconds, params.retry_initial_seconds)),
            non_retryable_error_types=[NOT_EXPORTABLE],
        )
        patience = timedelta(hours=params.retry_for_hours)
        result = OrderExportResult(shop_id=params.shop_id, f360_order_id=params.f360_order_id, status="failed")
        exported: ExportActivityResult | None = None
        # Since this patch an export is one local activity that also records a success (store, status column):
        # no activity task round trips, no record activity. Histories from before it (export_order then
        # record_order_result, both activities) replay the old way.
        merged = workflow.patched(ONE_STEP_EXPORT_PATCH)
        export_input = ExportActivityInput(shop_id=params.shop_id, f360_order_id=params.f360_order_id,
                                        workflow_id=info.workflow_id, run_id=info.run_id, record=merged)
        attempt_timeout = timedelta(seconds=params.attempt_timeout_seconds)
        summary = f"export order {params.f360_order_id} to TotalGest"
        try:
            if merged:
                try:
                    # One deadline for the quick attempts together, no start-to-close: in this SDK each retried
                    # attempt's start-to-close timer outlives its attempt and can cancel a later one
                    # (temporalio/sdk-rust#1454); an attempt's calls are bounded by the clients' own timeouts.
                    exported = await workflow.execute_local_activity_method(
                        OrderActivities.export_order, export_input,
                        schedule_to_close_timeout=attempt_timeout * LOCAL_ATTEMPTS,
                        retry_policy=RetryPolicy(
                            initial_interval=retry.initial_interval, backoff_coefficient=retry.backoff_coefficient,
                            maximum_interval=retry.maximum_interval, maximum_attempts=LOCAL_ATTEMPTS,
                            non_retryable_error_types=[NOT_EXPORTABLE]),
                        summary=summary)
                except (ActivityError, ApplicationError) as err:  # a local activity's failure is the ApplicationError
                    if is_not_exportable(err):
                        raise
                    # Still failing after a few quick attempts (an outage, not a blip): from here on the server
                    # retries it as a regular activity for the rest of the patience, without growing the history.
                    workflow.logger.info("order %s: export still failing after %d quick attempts, retrying "
                                         "as an activity: %s", params.f360_order_id, LOCAL_ATTEMPTS, err)
            if exported is None:
                exported = await workflow.execute_activity_method(
                    OrderActivities.export_order, export_input, schedule_to_close_timeout=patience,
                    start_to_close_timeout=attempt_timeout, retry_policy=retry, summary=summary)
        except (ActivityError, ApplicationError) as err:
            result.reason, result.f360_number = failure_reason(err, params)

        if exported is not None:
            result.status = exported.outcome
            result.f360_number = exported.f360_number
            result.tg_order_number = exported.tg_order_number
            result.tg_order_id = exported.tg_order_id
        if exported is not None and exported.recorded:
            result.note = exported.note
        else:
            recorded = await workflow.execute_activity_method(
                OrderActivities.record_order_result,
                record_input(export_input, exported, reason=result.reason, f360_number=result.f360_number),
                schedule_to_close_timeout=patience,
                start_to_close_timeout=timedelta(seconds=params.attempt_timeout_seconds),
                retry_policy=retry, summary="record the result, set the Framework360 status")
            result.note = recorded.note

        pairs = [attrs.SYNC_STATUS.value_set(result.status)]
        if result.f360_number:
            pairs.append(attrs.ORDER_NUMBER.value_set(result.f360_number))
        workflow.upsert_search_attributes(pairs)
        label = result.f360_number or f"order {params.f360_order_id}"
        if result.status == "failed":
            workflow.set_current_details(f"**Failed** {label}: {result.reason}")
            # Failed in the Web UI (status, Failures, ``ExecutionStatus="Failed"``) with the one-line reason a
            # person reads in `tgflow orders list`. Runs recorded before this patch complete as they did.
            if workflow.patched(FAILED_EXPORT_FAILS_PATCH):
                raise ApplicationError(result.reason or "export failed",
                                       {"number": result.f360_number, "order_id": params.f360_order_id},
                                       type=EXPORT_FAILED, non_retryable=True)
        elif result.status == "cancelled":
            workflow.set_current_details(f"**Not exported** {label}: cancelled in the shop before export")
        else:
            verb = "Already linked" if result.status == "already_linked" else "Linked"
            workflow.set_current_details(f"**{verb}** {label} → TotalGest {result.tg_order_number}")
        return result
