""""Send to TotalGest" from the shop: ``ExportRequestWorkflow`` (``export-request-<shop>-<request id>``).

One workflow per Framework360 ``orders.export_requested`` event (its id comes from the request id, so a
redelivered event starts nothing new). It runs the bulk export (``ExportOrdersWorkflow``, the same one
``tgflow export-orders`` runs, as a child) for the requested orders, then one activity posts the one
notification with the report (see ``tgflow.activities.notifications`` for how "once" is kept).

History: ids, counts, order numbers and reasons only; who pressed the button is not in it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ChildWorkflowError

from tgflow.workflows.orders import ExportOrdersWorkflow

with workflow.unsafe.imports_passed_through():
    from tgflow import search_attributes as attrs
    from tgflow.activities.notifications import NOTIFICATION_REFUSED, NotificationActivities
    from tgflow.contracts.export_requests import (
        REQUEST_KIND,
        ExportRequestInput,
        ExportRequestResult,
        NotifyInput,
        RequestFailure,
        RequestOutcome,
        compose_notice,
    )
    from tgflow.contracts.orders import BULK_KIND, BulkExportInput, ExportParams, ExportReport


def bulk_child_id(request_workflow_id: str) -> str:
    """The bulk export run for a request: ``<request workflow id>-export``."""
    return f"{request_workflow_id}-export"


def request_attributes(shop_id: str, kind: str = REQUEST_KIND) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(attrs.SHOP_ID, shop_id),
                                  SearchAttributePair(attrs.SYNC_KIND, kind),
                                  SearchAttributePair(attrs.SYNC_STATUS, "running")])


def outcome_of(report: ExportReport) -> RequestOutcome:
    return RequestOutcome(total=report.total, succeeded=report.succeeded, already_linked=report.already_linked,
                          cancelled=len(report.cancelled),
                          failures=[RequestFailure(order_id=f.order_id, number=f.number, reason=f.reason)
                                    for f in report.failures])


@workflow.defn(name="ExportRequestWorkflow")
class ExportRequestWorkflow:
    @workflow.run
    async def run(self, params: ExportRequestInput) -> ExportRequestResult:
        info = workflow.info()
        ids = list(dict.fromkeys(params.order_ids))
        pacing = params.pacing
        workflow.set_current_details(f"Sending {len(ids)} order(s) to TotalGest (request {params.request_id})…")
        try:
            report: ExportReport = await workflow.execute_child_workflow(
                ExportOrdersWorkflow.run,
                BulkExportInput(shop_id=params.shop_id, order_ids=ids, max_concurrent=pacing.max_concurrent,
                                  export=ExportParams(retry_for_hours=pacing.retry_for_hours,
                                                      retry_initial_seconds=pacing.retry_initial_seconds,
                                                      retry_max_seconds=pacing.retry_max_seconds,
                                                      attempt_timeout_seconds=pacing.attempt_timeout_seconds)),
                id=bulk_child_id(info.workflow_id),
                search_attributes=request_attributes(params.shop_id, BULK_KIND),
                static_summary=f"Export {len(ids)} Framework360 order(s) to TotalGest (shop request "
                               f"{params.request_id})"[:200])
            outcome = outcome_of(report)
        except ChildWorkflowError as err:
            # The bulk export itself ended abnormally (terminated, timed out): the person still gets a report.
            reason = f"the export did not finish ({err.cause or err}); send the orders again"
            outcome = RequestOutcome(total=len(ids), failures=[RequestFailure(order_id=i, reason=reason)
                                                               for i in ids])
        notice = compose_notice(outcome)
        n = params.notify
        sent = await workflow.execute_activity_method(
            NotificationActivities.notify_export_request,
            NotifyInput(shop_id=params.shop_id, request_id=params.request_id, workflow_id=info.workflow_id,
                        notice=notice),
            start_to_close_timeout=timedelta(seconds=n.attempt_timeout_seconds),
            schedule_to_close_timeout=timedelta(hours=n.retry_for_hours),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=n.retry_initial_seconds),
                                     maximum_interval=timedelta(seconds=max(n.retry_max_seconds,
                                                                            n.retry_initial_seconds)),
                                     non_retryable_error_types=[NOTIFICATION_REFUSED]),
            summary=f"notify the shop: {notice.level}")
        workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("failed" if outcome.failed else "completed")])
        workflow.set_current_details(f"**{notice.title}** (notification {sent.notification_id})\n\n{notice.message}")
        return ExportRequestResult(request_id=params.request_id, total=outcome.total, sent=outcome.sent,
                                   already_linked=outcome.already_linked, failed=outcome.failed,
                                   cancelled=outcome.cancelled, level=notice.level,
                                   notification_id=sent.notification_id)
