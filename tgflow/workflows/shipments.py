"""Parcels TotalGest -> Framework360: the import pass and one workflow per shipment.

* ``ShipmentImportWorkflow`` (``shipment-import-<shop>`` from its schedule, ``…-manual`` from
  ``tgflow import-shipments``): three activities per run whatever the number of changes (begin, one
  heartbeating pass over ``/order-changes``, finish), so its history stays a few dozen events. The pass
  starts the shipments' workflows itself.
* ``OrderShipmentWorkflow`` (``order-shipment-<shop>-<TotalGest shipment id>``): one idempotent activity
  turning the shipment into one Framework360 fulfillment; what a person must fix is recorded by a
  second one and the workflow completes with ``failed`` and the reason.

Histories hold ids, statuses, counts and reasons only, never customer data or credentials.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tgflow import search_attributes as attrs
    from tgflow.activities.shipments import ShipmentActivities
    from tgflow.contracts.shipments import (
        SYNC_KIND,
        BeginShipmentImportInput,
        FinishShipmentImportInput,
        RecordShipmentFailureInput,
        ShipmentImportInput,
        ShipmentImportReport,
        ShipmentPassInput,
        ShipmentPassResult,
        ShipmentSyncInput,
        ShipmentSyncResult,
    )


def _reason(err: BaseException) -> str:
    cause = err.__cause__ or getattr(err, "cause", None)
    while isinstance(cause, ActivityError) and cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause) if cause is not None else str(err)
    return text or type(cause or err).__name__


_SHORT = dict(start_to_close_timeout=timedelta(seconds=60),
              retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)))


@workflow.defn(name="ShipmentImportWorkflow")
class ShipmentImportWorkflow:
    @workflow.run
    async def run(self, params: ShipmentImportInput) -> ShipmentImportReport:
        info = workflow.info()
        started = workflow.now()
        workflow.upsert_search_attributes([
            attrs.SHOP_ID.value_set(params.shop_id),
            attrs.SYNC_KIND.value_set(SYNC_KIND),
            attrs.SYNC_STATUS.value_set("running"),
        ])
        workflow.set_current_details("Reading TotalGest order changes for parcels…")
        begin = await workflow.execute_activity_method(
            ShipmentActivities.begin_import,
            BeginShipmentImportInput(shop_id=params.shop_id, workflow_id=info.workflow_id, run_id=info.run_id,
                                     started_at=started),
            summary="record run, read cursor", **_SHORT)
        if begin.skipped_for:
            workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("skipped")])
            workflow.set_current_details(f"Skipped: import {begin.skipped_for} was running")
            return ShipmentImportReport(shop_id=params.shop_id, status="skipped", skipped_for=begin.skipped_for,
                                        started_at=started, finished_at=workflow.now())
        try:
            result: ShipmentPassResult = await workflow.execute_activity_method(
                ShipmentActivities.import_pass,
                ShipmentPassInput(shop_id=params.shop_id, since=begin.since, task_queue=info.task_queue,
                                  shipment_retry_for_hours=params.shipment_retry_for_hours),
                schedule_to_close_timeout=timedelta(hours=params.pass_timeout_hours),
                heartbeat_timeout=timedelta(seconds=params.heartbeat_timeout_seconds),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=params.retry_initial_seconds),
                                         maximum_interval=timedelta(seconds=params.retry_max_seconds)),
                summary="order changes pass")
        except ActivityError as err:
            reason = _reason(err)
            await workflow.execute_activity_method(
                ShipmentActivities.finish_import,
                FinishShipmentImportInput(shop_id=params.shop_id, workflow_id=info.workflow_id, run_id=info.run_id,
                                          started_at=started, succeeded=False, failure=reason),
                summary="record failure", **_SHORT)
            workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("failed")])
            workflow.set_current_details(f"Failed: {reason}")
            raise ApplicationError(f"shipment import failed: {reason}", type="ShipmentImportFailed",
                                   non_retryable=True) from err
        counts = result.counts
        await workflow.execute_activity_method(
            ShipmentActivities.finish_import,
            FinishShipmentImportInput(shop_id=params.shop_id, workflow_id=info.workflow_id, run_id=info.run_id,
                                      started_at=started, succeeded=True, counts=counts,
                                      error_samples=result.error_samples),
            summary="save cursor, close run", **_SHORT)
        status = "completed_with_errors" if counts.failed else "completed"
        finished = workflow.now()
        workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set(status)])
        workflow.set_current_details(
            f"**{counts.changes_read}** order changes read · **{counts.fulfilled}** parcels sent · "
            f"**{counts.already_fulfilled}** already there · **{counts.failed}** failed · "
            f"**{counts.not_exported}** orders not exported by tgflow left alone")
        return ShipmentImportReport(shop_id=params.shop_id, status=status, **counts.model_dump(),
                                    error_samples=result.error_samples, started_at=started, finished_at=finished,
                                    duration_seconds=(finished - started).total_seconds())


@workflow.defn(name="OrderShipmentWorkflow")
class OrderShipmentWorkflow:
    @workflow.run
    async def run(self, params: ShipmentSyncInput) -> ShipmentSyncResult:
        workflow.set_current_details(f"Sending TotalGest shipment {params.tg_shipment_id} to Framework360 order "
                                     f"{params.f360_order_id}…")
        try:
            result: ShipmentSyncResult = await workflow.execute_activity_method(
                ShipmentActivities.sync_shipment, params,
                start_to_close_timeout=timedelta(seconds=params.attempt_timeout_seconds),
                schedule_to_close_timeout=timedelta(hours=params.retry_for_hours),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=params.retry_initial_seconds),
                                         maximum_interval=timedelta(seconds=params.retry_max_seconds)),
                summary="find or create the fulfillment")
        except ActivityError as err:
            reason = _reason(err)
            await workflow.execute_activity_method(
                ShipmentActivities.record_failure,
                RecordShipmentFailureInput(shop_id=params.shop_id, tg_shipment_id=params.tg_shipment_id,
                                           tg_order_id=params.tg_order_id, f360_order_id=params.f360_order_id,
                                           reason=reason, workflow_id=workflow.info().workflow_id),
                summary="record failure", **_SHORT)
            workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("failed")])
            workflow.set_current_details(f"Failed: {reason}")
            return ShipmentSyncResult(tg_shipment_id=params.tg_shipment_id, status="failed", reason=reason)
        workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set(result.status)])
        workflow.set_current_details(
            f"TotalGest shipment {params.tg_shipment_id} is Framework360 fulfillment {result.f360_fulfillment_id}"
            + (" (found: an earlier attempt had created it)" if result.status == "already_fulfilled" else ""))
        return result
