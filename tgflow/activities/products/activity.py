"""The product import's three activities (begin, the pass, finish) and the order of the pass's phases.

Activity names are part of running workflows' histories: they are pinned with ``name=``."""

from __future__ import annotations

from datetime import timedelta, timezone

from temporalio import activity

from tgflow import metrics
from tgflow.activities.calls import temporal_errors
from tgflow.activities.deps import Deps
from tgflow.activities.products.articles import articles_phase
from tgflow.activities.products.common import beat
from tgflow.activities.products.draft import draft_phase
from tgflow.activities.products.flush import flush_phase
from tgflow.activities.products.reserved import reserved_phase, reserved_stock
from tgflow.activities.products.retry import retry_phase
from tgflow.activities.products.statuses import statuses_phase
from tgflow.activities.products.stock import stock_phase
from tgflow.activities.starts import is_running
from tgflow.contracts.ids import manual_import_id
from tgflow.contracts.products import (
    BeginImportInput,
    BeginImportResult,
    FinishImportInput,
    ImportPassInput,
    ImportPassResult,
    PassProgress,
)
from tgflow.store import products as pstore
from tgflow.store.models import utcnow


class ProductActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    # ---- begin / finish ------------------------------------------------------------------------------------------

    @activity.defn(name="product_import_begin")
    async def begin_import(self, params: BeginImportInput) -> BeginImportResult:
        """Record the run and read the cursors (what changed since the last successful pass).

        A scheduled run while a manual one is going steps aside: two passes would do the same work and
        race on the cursors (the schedule's SKIP policy only knows its own runs)."""
        manual = manual_import_id(params.shop_id)
        if params.workflow_id != manual and await is_running(manual):
            return BeginImportResult(skipped_for=manual)
        await self.deps.db(pstore.start_run, self.deps.store, params.shop_id, params.workflow_id, params.run_id,
                           params.started_at)
        articles = await self.deps.db(pstore.get_cursor, self.deps.store, params.shop_id, pstore.ARTICLES_CURSOR)
        stock = await self.deps.db(pstore.get_cursor, self.deps.store, params.shop_id, pstore.STOCK_CURSOR)
        return BeginImportResult(articles_since=articles, stock_since=stock)

    @activity.defn(name="product_import_finish")
    async def finish_import(self, params: FinishImportInput) -> None:
        """Close the run; after a successful pass move both cursors to its start minus the overlap."""
        store, shop = self.deps.store, params.shop_id
        if params.succeeded:
            overlap = timedelta(seconds=self.deps.settings.products.cursor_overlap_seconds)
            value = params.started_at.astimezone(timezone.utc) - overlap
            await self.deps.db(pstore.set_cursor, store, shop, pstore.ARTICLES_CURSOR, value)
            await self.deps.db(pstore.set_cursor, store, shop, pstore.STOCK_CURSOR, value)
        errors = list(params.error_samples)
        if params.failure:
            errors.insert(0, params.failure)
        counts = params.counts.model_dump() | {"full": params.full}
        await self.deps.db(pstore.finish_run, store, shop, params.workflow_id, params.run_id,
                           "completed" if params.succeeded else "failed", params.started_at, counts, errors)
        _record_metrics(params)

    # ---- the pass --------------------------------------------------------------------------------------------------

    @activity.defn(name="product_import_pass")
    async def import_products_pass(self, params: ImportPassInput) -> ImportPassResult:
        details = activity.info().heartbeat_details
        progress = PassProgress.model_validate(details[0]) if details else PassProgress()
        if details:
            activity.logger.info("resuming product import at phase %s", progress.phase)
        with temporal_errors():
            await self._run_pass(params, progress)
        return ImportPassResult(counts=progress.counts, error_samples=progress.error_samples)

    async def _run_pass(self, params: ImportPassInput, progress: PassProgress) -> None:
        """The phases in order (``tgflow.contracts.products.PHASES``); each advances ``progress`` to the next,
        so a retried attempt resumes at the phase (and page) its last heartbeat names."""
        deps, shop = self.deps, params.shop_id
        beat(progress)
        # The reserved quantities are recomputed on every attempt (cheap, bounded) and used by all phases.
        reserved = await reserved_stock(deps.settings, deps.framework360, deps.store)
        if progress.phase == "reserved":
            await reserved_phase(deps, shop, progress, reserved)
        if progress.phase == "stock":
            await stock_phase(deps, params, progress, reserved)
        if progress.phase == "articles":
            await articles_phase(deps, params, progress, reserved)
        if progress.phase == "statuses":
            await statuses_phase(deps, shop, progress)
        if progress.phase == "retry":
            await retry_phase(deps, params, progress, reserved)
        if progress.phase == "flush":
            await flush_phase(deps, params, progress)
        if progress.phase == "draft":
            await draft_phase(deps, params, progress)


def _record_metrics(params: FinishImportInput) -> None:
    """Products per outcome and the run's duration (Prometheus, when the worker exports metrics)."""
    c = params.counts
    outcome = "failed" if not params.succeeded else "completed_with_errors" if c.errors else "completed"
    mode = "full" if params.full else "incremental"
    for name, value in (("created", c.created), ("updated", c.updated), ("stock_updated", c.stock_updated),
                        ("unchanged", c.unchanged), ("drafted", c.drafted), ("failed", c.errors)):
        metrics.count("tgflow_products", value, "Products handled by the product import, by outcome",
                      outcome=name)
    metrics.count("tgflow_product_imports", 1, "Product import runs by result", result=outcome, mode=mode)
    metrics.observe_seconds("tgflow_product_import_duration", (utcnow() - params.started_at).total_seconds(),
                            "Duration of a product import run (start to finish)", result=outcome, mode=mode)

