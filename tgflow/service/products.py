"""Starting product imports and keeping their Schedule (used by the CLI, ``tgflow dev`` and tests)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from tgflow import search_attributes as attrs
from tgflow.config import Settings
from tgflow.contracts.ids import manual_import_id, scheduled_import_workflow_id
from tgflow.contracts.products import ProductImportInput, ProductImportReport
from tgflow.jobs import job
from tgflow.service.schedules import ensure_schedule, running_scheduled_workflow
from tgflow.store import products as pstore
from tgflow.store.models import utcnow
from tgflow.workflows.products import SYNC_KIND, ProductImportWorkflow


def schedule_id(settings: Settings) -> str:
    return job(settings, "import").schedule_id


def import_input(settings: Settings, *, full: bool = False) -> ProductImportInput:
    p = settings.products
    return ProductImportInput(
        shop_id=settings.totalgest.shop_id, full=full,
        retry_initial_seconds=p.retry_initial_seconds, retry_max_seconds=p.retry_max_seconds,
        pass_timeout_hours=p.pass_timeout_hours, heartbeat_timeout_seconds=p.heartbeat_timeout_seconds,
    )


def search_attributes(settings: Settings) -> TypedSearchAttributes:
    return TypedSearchAttributes([
        SearchAttributePair(attrs.SHOP_ID, settings.totalgest.shop_id),
        SearchAttributePair(attrs.SYNC_KIND, SYNC_KIND),
        SearchAttributePair(attrs.SYNC_STATUS, "running"),
    ])


async def start_import(client: Client, settings: Settings, *, full: bool = False, wait: bool = False,
                       workflow_id: str | None = None,
                       ) -> ProductImportReport | WorkflowHandle[Any, ProductImportReport]:
    """Start an import now (manual run). Returns the handle, or the report when ``wait``.

    Never two imports of a shop at once: the id is ``product-import-<shop>-manual``, so starting while a
    manual run is going attaches to it; while the schedule's run is going, an incremental request attaches
    to that run and a full one waits for it to end first (a scheduled run starting during a manual one
    steps aside by itself, see ``begin_import``).
    """
    shop = settings.totalgest.shop_id
    scheduled = await running_scheduled_import(client, settings) if workflow_id is None else None
    if scheduled is not None:
        running = client.get_workflow_handle(scheduled, result_type=ProductImportReport)
        if not full:
            return await running.result() if wait else running
        try:
            await running.result()
        except Exception:  # its failure is recorded with it; the full run goes ahead
            pass
    handle = await client.start_workflow(
        ProductImportWorkflow.run,
        import_input(settings, full=full),
        id=workflow_id or manual_import_id(shop),
        task_queue=settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=search_attributes(settings),
        static_summary=f"Product import{' (full)' if full else ''} TotalGest → Framework360, shop {shop}",
    )
    if wait:
        return await handle.result()
    return handle


@dataclass
class Reimport:
    """What ``mark_and_reimport`` did."""

    #: SKUs the import rewrites in full.
    marked: list[str] = field(default_factory=list)
    #: SKUs asked for that the import does not know (skipped; empty with ``create_unknown``).
    unknown: list[str] = field(default_factory=list)
    #: The articles cursor was reset: the import re-reads the TotalGest catalog.
    catalog_reread: bool = False
    #: The import that honours the marks (None when nothing was marked), and the client it was started with.
    handle: WorkflowHandle[Any, ProductImportReport] | None = None
    client: Client | None = None


async def mark_and_reimport(connect: Callable[[], Awaitable[Client]], settings: Settings, store,
                            skus: list[str] | None, *, create_unknown: bool = False) -> Reimport:
    """Make an import rewrite these products in full (content and stock), and start it now; the one way
    to re-drive products (``tgflow products retry``, ``tgflow drift-report --fix``).

    ``skus=None`` means every product in error. What was last written is forgotten, so the import writes
    everything again. Products Framework360 refused keep their mapped content and are retried from it; for
    the others the articles cursor is reset (the import re-reads the catalog and still writes only these and
    real changes). SKUs the import does not know are skipped, or with ``create_unknown`` (articles only in
    TotalGest) marked too and created when the catalog is re-read. Nothing marked: nothing is started and
    ``connect`` is not called. A manual import already running read its cursors before the marks: it is let
    finish and another one started. The caller waits for ``handle`` if it wants the outcome.
    """
    shop = settings.totalgest.shop_id
    marked_at = utcnow()
    links = pstore.links_in_error(store, shop) if skus is None else list(pstore.load_links(store, shop, skus).values())
    found = {link.sku for link in links}
    unknown = [sku for sku in (skus or []) if sku not in found]
    pstore.save_links(store, shop, {link.sku: {"content_hash": None, "field_hashes_json": None,
                                               "stock_quantity": None} for link in links})
    reread = any(link.retry_json is None for link in links) or (create_unknown and bool(unknown))
    if reread:
        pstore.reset_cursor(store, shop, pstore.ARTICLES_CURSOR)
    out = Reimport(marked=sorted(found | set(unknown)) if create_unknown else sorted(found),
                   unknown=[] if create_unknown else unknown, catalog_reread=reread)
    if not out.marked:
        return out
    out.client = client = await connect()
    handle = await start_import(client, settings)
    desc = await handle.describe()
    if desc.start_time and desc.start_time < marked_at:
        await handle.result()  # a manual import already running read its cursors before the marks
        handle = await start_import(client, settings)
    out.handle = handle
    return out


async def running_scheduled_import(client: Client, settings: Settings) -> str | None:
    """The workflow id of the schedule's import running now, if any."""
    return await running_scheduled_workflow(client, schedule_id(settings))


async def ensure_import_schedule(client: Client, settings: Settings) -> bool:
    """Create or update ``product-import-<shop_id>`` (every ``products.every_minutes``, overlap SKIP).
    Returns True when created."""
    return await ensure_schedule(
        client,
        schedule_id=schedule_id(settings),
        workflow=ProductImportWorkflow.run,
        arg=import_input(settings),
        workflow_id=scheduled_import_workflow_id(settings.totalgest.shop_id),
        task_queue=settings.temporal.task_queue,
        every=job(settings, "import").every,
        search_attributes=search_attributes(settings),
        note="tgflow product import",
    )


async def live_progress(client: Client, handle: WorkflowHandle) -> dict[str, Any]:
    """Counts so far of a running import: the pass activity's last heartbeat, else the workflow's query."""
    desc = await handle.describe()
    out: dict[str, Any] = {"status": desc.status.name if desc.status else None}
    for pending in desc.raw_description.pending_activities:
        if pending.heartbeat_details and pending.heartbeat_details.payloads:
            values = await client.data_converter.decode(pending.heartbeat_details.payloads)
            if values and isinstance(values[0], dict):
                out.update({"phase": values[0].get("phase"), **(values[0].get("counts") or {})})
                out["attempt"] = pending.attempt
    return out

