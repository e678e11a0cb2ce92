"""ProductImportWorkflow: one incremental (or ``full``) import TotalGest -> Framework360.

Three activities per run whatever the catalog size (begin, ONE long heartbeating
pass, finish), so the history stays a few dozen events: the pass streams the
catalog page by page and resumes from its heartbeat when retried. Cursors move
only after a successful pass (in ``finish``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tgflow import search_attributes as attrs
    from tgflow.activities.products import ProductActivities
    from tgflow.contracts.products import (
        BeginImportInput,
        FinishImportInput,
        ImportCounts,
        ImportPassInput,
        ImportPassResult,
        ProductImportInput,
        ProductImportReport,
    )

SYNC_KIND = "product-import"


def _reason(err: BaseException) -> str:
    cause = err.__cause__ or getattr(err, "cause", None)
    while isinstance(cause, ActivityError) and cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause) if cause is not None else str(err)
    return text or type(cause or err).__name__


@workflow.defn(name="ProductImportWorkflow")
class ProductImportWorkflow:
    def __init__(self) -> None:
        self._state = "starting"
        self._counts: dict[str, int] = {}

    @workflow.query
    def progress(self) -> dict:
        """Where the run stands (live page counts are in the pass activity's heartbeat)."""
        return {"state": self._state, **self._counts}

    @workflow.run
    async def run(self, params: ProductImportInput) -> ProductImportReport:
        info = workflow.info()
        started = workflow.now()
        workflow.upsert_search_attributes([
            attrs.SHOP_ID.value_set(params.shop_id),
            attrs.SYNC_KIND.value_set(SYNC_KIND),
            attrs.SYNC_STATUS.value_set("running"),
        ])
        workflow.set_current_details(f"Importing products ({'full' if params.full else 'incremental'})…")
        short = dict(start_to_close_timeout=timedelta(seconds=60),
                     retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)))
        begin = await workflow.execute_activity_method(
            ProductActivities.begin_import,
            BeginImportInput(shop_id=params.shop_id, workflow_id=info.workflow_id, run_id=info.run_id,
                             started_at=started),
            summary="record run, read cursors", **short)

        if begin.skipped_for:
            self._state = "skipped"
            workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("skipped")])
            workflow.set_current_details(f"Skipped: import {begin.skipped_for} was running")
            return ProductImportReport(shop_id=params.shop_id, full=params.full, status="skipped",
                                       skipped_for=begin.skipped_for, started_at=started,
                                       finished_at=workflow.now())

        self._state = "importing"
        try:
            result: ImportPassResult = await workflow.execute_activity_method(
                ProductActivities.import_products_pass,
                ImportPassInput(shop_id=params.shop_id, full=params.full, started_at=started,
                                articles_since=begin.articles_since, stock_since=begin.stock_since),
                schedule_to_close_timeout=timedelta(hours=params.pass_timeout_hours),
                heartbeat_timeout=timedelta(seconds=params.heartbeat_timeout_seconds),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=params.retry_initial_seconds),
                    maximum_interval=timedelta(seconds=params.retry_max_seconds),
                    backoff_coefficient=2.0,
                ),
                summary="full catalog pass" if params.full else "incremental pass",
            )
        except ActivityError as err:
            reason = _reason(err)
            self._state = "failed"
            await workflow.execute_activity_method(
                ProductActivities.finish_import,
                FinishImportInput(shop_id=params.shop_id, workflow_id=info.workflow_id, run_id=info.run_id,
                                  started_at=started, succeeded=False, full=params.full, failure=reason),
                summary="record failure", **short)
            workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set("failed")])
            workflow.set_current_details(f"Failed: {reason}")
            raise ApplicationError(f"product import failed: {reason}", type="ProductImportFailed",
                                   non_retryable=True) from err

        counts: ImportCounts = result.counts
        await workflow.execute_activity_method(
            ProductActivities.finish_import,
            FinishImportInput(shop_id=params.shop_id, workflow_id=info.workflow_id, run_id=info.run_id,
                              started_at=started, succeeded=True, full=params.full, counts=counts,
                              error_samples=result.error_samples),
            summary="save cursors, close run", **short)
        finished = workflow.now()
        status = "completed_with_errors" if counts.errors else "completed"
        self._state = status
        self._counts = counts.model_dump()
        workflow.upsert_search_attributes([attrs.SYNC_STATUS.value_set(status)])
        workflow.set_current_details(_details(counts))
        return ProductImportReport(
            shop_id=params.shop_id, full=params.full, status=status, **counts.model_dump(),
            error_samples=result.error_samples, started_at=started, finished_at=finished,
            duration_seconds=(finished - started).total_seconds(),
        )


def _details(c: ImportCounts) -> str:
    return (f"**{c.articles_read}** articles read · **{c.created}** created · **{c.updated}** updated · "
            f"**{c.stock_updated}** stock updated · **{c.unchanged}** unchanged · **{c.drafted}** set to draft · "
            f"**{c.errors}** errors")
