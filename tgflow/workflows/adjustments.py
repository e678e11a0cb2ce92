"""Cancellations and refunds, Framework360 → TotalGest: one workflow per business key.

* ``OrderAdjustmentWorkflow`` - ``order-cancel-<shop>-<order>`` or ``order-refund-<shop>-<order>-<refund>``:
  one activity does it (exactly once: it looks before it creates) and records it. A refusal a person must
  fix is recorded by a second activity, then the workflow FAILS with the one-line reason, so the id can be
  run again by ``tgflow orders retry`` (reuse policy "failed only") while a done one never runs twice.
* ``OrderAdjustmentsWorkflow`` - ``order-adjust-<shop>-<order>``, started by the webhook and the order
  order reconciliation: reads what the shop order needs (refunds oldest first, then the cancellation) and runs
  those workflows one after the other (so credit notes of one order never race), then looks once more
  for what arrived meanwhile.

Histories hold ids, numbers, amounts and reasons only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import (
    TimeoutError as TemporalTimeoutError,
)

with workflow.unsafe.imports_passed_through():
    from tgflow import search_attributes as attrs
    from tgflow.activities.adjustments import AdjustmentActivities
    from tgflow.activities.starts import adjustment_attributes
    from tgflow.contracts.adjustments import (
        ADJUSTMENT_REFUSED,
        ADJUSTMENT_WORKFLOW,
        SCAN_WORKFLOW,
        AdjustmentInput,
        AdjustmentResult,
        RecordAdjustmentInput,
        RetryParams,
        ScanInput,
        ScanResult,
        adjustment_key,
        adjustment_summary,
    )
    from tgflow.contracts.ids import adjustment_workflow_id

#: Plans per scan run: the first, plus looks for refunds that arrived while the first ones ran.
SCAN_ROUNDS = 3


def _cause(err: BaseException) -> BaseException:
    while isinstance(err, (ActivityError, ChildWorkflowError)) and err.cause is not None:
        err = err.cause
    return err


def reason_of(err: BaseException, retry: RetryParams) -> tuple[str, str | None]:
    """(one-line reason, order number) of a failed activity or child workflow."""
    cause = _cause(err)
    if isinstance(cause, ApplicationError):
        number = cause.details[0].get("number") if cause.details and isinstance(cause.details[0], dict) else None
        return cause.message or cause.type or "failed", number
    if isinstance(cause, TemporalTimeoutError):
        return (f"gave up after {retry.retry_for_hours:g} h of temporary failures (TotalGest or Framework360 "
                f"unavailable, timeouts or rate limits); retry it once they answer"), None
    return str(cause) or type(cause).__name__, None


def _retry(retry: RetryParams) -> RetryPolicy:
    return RetryPolicy(initial_interval=timedelta(seconds=retry.retry_initial_seconds), backoff_coefficient=2.0,
                       maximum_interval=timedelta(seconds=max(retry.retry_max_seconds, retry.retry_initial_seconds)),
                       non_retryable_error_types=[ADJUSTMENT_REFUSED])


@workflow.defn(name=ADJUSTMENT_WORKFLOW)
class OrderAdjustmentWorkflow:
    @workflow.run
    async def run(self, params: AdjustmentInput) -> AdjustmentResult:
        info = workflow.info()
        what = "cancel" if params.kind == "cancel" else f"refund {params.refund_id}"
        try:
            result: AdjustmentResult = await workflow.execute_activity_method(
                AdjustmentActivities.apply_adjustment, params.model_copy(update={"workflow_id": info.workflow_id}),
                schedule_to_close_timeout=timedelta(hours=params.retry.retry_for_hours),
                start_to_close_timeout=timedelta(seconds=params.retry.attempt_timeout_seconds),
                retry_policy=_retry(params.retry), summary=f"{what} in TotalGest")
        except ActivityError as err:
            reason, number = reason_of(err, params.retry)
            await workflow.execute_activity_method(
                AdjustmentActivities.record_adjustment_failure,
                RecordAdjustmentInput(shop_id=params.shop_id, f360_order_id=params.f360_order_id, kind=params.kind,
                                      refund_id=params.refund_id, reason=reason, f360_number=number,
                                      workflow_id=info.workflow_id),
                start_to_close_timeout=timedelta(seconds=params.retry.attempt_timeout_seconds),
                schedule_to_close_timeout=timedelta(hours=params.retry.retry_for_hours),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)), summary="record the refusal")
            pairs = [attrs.SYNC_STATUS.value_set("failed")]
            if number:
                pairs.append(attrs.ORDER_NUMBER.value_set(number))
            workflow.upsert_search_attributes(pairs)
            workflow.set_current_details(f"**Failed** {number or params.f360_order_id} {what}: {reason}")
            raise ApplicationError(reason, {"number": number}, type=ADJUSTMENT_REFUSED, non_retryable=True) from None
        pairs = [attrs.SYNC_STATUS.value_set(result.status)]
        if result.f360_number:
            pairs.append(attrs.ORDER_NUMBER.value_set(result.f360_number))
        workflow.upsert_search_attributes(pairs)
        workflow.set_current_details(f"**{result.status.capitalize()}** {result.f360_number} {what}: {result.outcome}")
        return result


@workflow.defn(name=SCAN_WORKFLOW)
class OrderAdjustmentsWorkflow:
    @workflow.run
    async def run(self, params: ScanInput) -> ScanResult:
        result = ScanResult(shop_id=params.shop_id, f360_order_id=params.f360_order_id)
        tried: set[str] = set()
        for _ in range(SCAN_ROUNDS):
            plan = await workflow.execute_activity_method(
                AdjustmentActivities.plan_adjustments, params,
                start_to_close_timeout=timedelta(seconds=params.retry.attempt_timeout_seconds),
                schedule_to_close_timeout=timedelta(hours=params.retry.retry_for_hours),
                retry_policy=_retry(params.retry), summary="read the shop order's refunds and cancellation")
            result.f360_number = plan.f360_number
            todo = [p for p in plan.todo if adjustment_key(p.kind, p.refund_id) not in tried]
            if not todo:
                break
            for item in todo:
                tried.add(adjustment_key(item.kind, item.refund_id))
                child = AdjustmentInput(shop_id=params.shop_id, f360_order_id=params.f360_order_id, kind=item.kind,
                                        refund_id=item.refund_id, retry=params.retry)
                try:
                    done = await workflow.execute_child_workflow(
                        OrderAdjustmentWorkflow.run, child,
                        id=adjustment_workflow_id(params.shop_id, params.f360_order_id, item.kind, item.refund_id),
                        # done once: never again; failed: `orders retry` (or a later event) may run it again
                        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                        parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                        search_attributes=adjustment_attributes(params.shop_id, item.kind),
                        static_summary=adjustment_summary(params.shop_id, params.f360_order_id, item.kind,
                                                          item.refund_id))
                    result.results.append(done)
                except WorkflowAlreadyStartedError:
                    result.already_running += 1  # running now, or done already
                except ChildWorkflowError as err:
                    reason, number = reason_of(err, params.retry)
                    result.results.append(AdjustmentResult(
                        shop_id=params.shop_id, f360_order_id=params.f360_order_id, kind=item.kind,
                        refund_id=item.refund_id, status="failed", f360_number=number or plan.f360_number,
                        reason=reason))
        failed = sum(1 for r in result.results if r.status == "failed")
        workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("failed" if failed else "completed")])
        workflow.set_current_details(
            f"{result.f360_number or params.f360_order_id}: **{len(result.results) - failed}** handled · "
            f"**{failed}** failed · **{result.already_running}** already handled or running"
            + "".join(f"\n- {r.kind} {r.refund_id or ''}: {r.outcome or r.reason}" for r in result.results[:20]))
        return result


__all__ = ["OrderAdjustmentWorkflow", "OrderAdjustmentsWorkflow", "reason_of"]
