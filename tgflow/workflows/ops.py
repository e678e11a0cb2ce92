"""The operator's schedules: ``DriftReportWorkflow`` (daily, ``drift-report-<shop>``) and
``HealthCheckWorkflow`` (every few minutes, ``health-check-<shop>``), one activity each.

The drift report only compares the two systems (read-only); it is not the order reconciliation
(``OrderReconcileWorkflow``). Histories hold counts and alert keys only; the findings themselves go to
the status store. Inputs and results: ``tgflow.contracts.ops``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from tgflow import search_attributes as attrs
    from tgflow.activities.ops import OpsActivities
    from tgflow.contracts.ops import (
        DRIFT_WORKFLOW,
        HEALTH_WORKFLOW,
        DriftReportInput,
        DriftReportParams,
        DriftSummary,
        HealthCheckInput,
        HealthCheckParams,
        HealthCheckResult,
    )


@workflow.defn(name=DRIFT_WORKFLOW)
class DriftReportWorkflow:
    @workflow.run
    async def run(self, params: DriftReportParams) -> DriftSummary:
        info = workflow.info()
        summary: DriftSummary = await workflow.execute_activity_method(
            OpsActivities.drift_report,
            DriftReportInput(shop_id=params.shop_id, workflow_id=info.workflow_id, run_id=info.run_id,
                             started_at=workflow.now()),
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=5),
            summary="compare Framework360 and TotalGest (read-only)")
        drift = summary.counts.get("drift", 0)
        workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("drift" if drift else "in_sync")])
        workflow.set_current_details(
            f"**{drift}** differences · {summary.counts.get('orders_checked', 0)} orders and "
            f"{summary.counts.get('products_checked', 0)} products checked · details: `tgflow status`, "
            "`tgflow drift-report`")
        return summary


@workflow.defn(name=HEALTH_WORKFLOW)
class HealthCheckWorkflow:
    @workflow.run
    async def run(self, params: HealthCheckParams) -> HealthCheckResult:
        result: HealthCheckResult = await workflow.execute_activity_method(
            OpsActivities.health_check,
            HealthCheckInput(shop_id=params.shop_id),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=3),
            summary="evaluate alert conditions, send what changed")
        workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("alerting" if result.firing else "ok")])
        workflow.set_current_details(
            f"firing: {', '.join(result.firing) or 'nothing'}"
            + (f" · sent: {', '.join(result.sent)}" if result.sent else "")
            + (f" · {result.delivery_error}" if result.delivery_error else ""))
        return result
