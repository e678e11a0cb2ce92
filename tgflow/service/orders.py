"""Client side of the order export: enqueue, export now with a report, the order reconciliation schedule.

Used by the CLI, the webhook receiver, ``tgflow dev`` and tests (the order reconciliation activity
enqueues through ``tgflow.activities.starts``, as ``enqueue_orders`` here does).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, WorkflowHandle

from tgflow.activities import starts
from tgflow.activities.starts import export_params, sync_attributes
from tgflow.config import Settings
from tgflow.contracts.ids import bulk_export_workflow_id, manual_run_workflow_id, order_reconcile_workflow_id
from tgflow.contracts.orders import (
    BULK_KIND,
    RECONCILE_KIND,
    BulkExportInput,
    ExportReport,
    OrderReconcileInput,
    OrderReconcileResult,
)
from tgflow.jobs import job
from tgflow.service.schedules import ensure_schedule
from tgflow.workflows.orders import ExportOrdersWorkflow, OrderReconcileWorkflow

#: Ids per bulk export workflow (keeps its history far from Temporal's limits).
BULK_MAX = 2000


def _attrs(settings: Settings, kind: str, status: str | None = None):
    return sync_attributes(settings.totalgest.shop_id, kind, status)


async def enqueue_orders(client: Client, settings: Settings, order_ids: list[int]) -> WorkflowHandle:
    """Signal-with-start the shop's queue: it need not be running; ids it already holds are ignored.
    The same start as the order reconciliation activity's (``tgflow.activities.starts``)."""
    return await starts.enqueue_orders(client, settings, order_ids)


async def start_export(client: Client, settings: Settings, order_ids: list[int],
                       *, workflow_id: str | None = None) -> WorkflowHandle[Any, ExportReport]:
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    if len(ids) > BULK_MAX:
        raise ValueError(f"at most {BULK_MAX} orders per export; split the list")
    shop = settings.totalgest.shop_id
    return await client.start_workflow(
        ExportOrdersWorkflow.run,
        BulkExportInput(shop_id=shop, order_ids=ids, max_concurrent=settings.orders.max_concurrent,
                          export=export_params(settings)),
        id=workflow_id or bulk_export_workflow_id(shop, uuid.uuid4().hex[:10]),
        task_queue=settings.temporal.task_queue,
        search_attributes=_attrs(settings, BULK_KIND, "running"),
        static_summary=f"Export {len(ids)} Framework360 order(s) to TotalGest now (shop {shop})",
    )


async def export_orders_now(client: Client, settings: Settings, order_ids: list[int]) -> ExportReport:
    """Export these orders now (bypassing the queue's pacing, never the exactly-once rule) and wait for the report."""
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    report = ExportReport()
    for start in range(0, len(ids), BULK_MAX):
        part = await (await start_export(client, settings, ids[start:start + BULK_MAX])).result()
        report.total += part.total
        report.succeeded += part.succeeded
        report.already_linked += part.already_linked
        report.failed += part.failed
        report.linked += part.linked
        report.already += part.already
        report.failures += part.failures
        report.cancelled += part.cancelled
    return report


def reconcile_schedule_id(settings: Settings) -> str:
    return job(settings, "reconcile").schedule_id


def reconcile_input(settings: Settings) -> OrderReconcileInput:
    return OrderReconcileInput(shop_id=settings.totalgest.shop_id)


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> bool:
    """Create or update ``order-reconcile-<shop_id>`` (every ``orders.reconcile_every_minutes``). True when created."""
    return await ensure_schedule(
        client,
        schedule_id=reconcile_schedule_id(settings),
        workflow=OrderReconcileWorkflow.run,
        arg=reconcile_input(settings),
        workflow_id=order_reconcile_workflow_id(settings.totalgest.shop_id),
        task_queue=settings.temporal.task_queue,
        every=job(settings, "reconcile").every,
        search_attributes=_attrs(settings, RECONCILE_KIND, "running"),
        note="tgflow order reconciliation",
    )


async def reconcile_now(client: Client, settings: Settings) -> OrderReconcileResult:
    """One order reconciliation run now, waited for (tests, manual use)."""
    return await client.execute_workflow(
        OrderReconcileWorkflow.run, reconcile_input(settings),
        id=manual_run_workflow_id(reconcile_schedule_id(settings), uuid.uuid4().hex[:8]),
        task_queue=settings.temporal.task_queue,
        search_attributes=_attrs(settings, RECONCILE_KIND, "running"),
        static_summary=f"Order reconciliation of shop {settings.totalgest.shop_id} (manual)",
    )


def pending_order_ids(store, settings: Settings) -> list[int]:
    """Every order the status store knows that is not linked (not linked, pending or failed)."""
    from tgflow.store import orders as ostore

    return ostore.unlinked_ids(store, settings.totalgest.shop_id)


# ---- naming orders: ids or shop numbers, checked against Framework360 ------------------------------------------

#: Framework360 look-ups at once when checking ids the status store does not know.
CHECK_CONCURRENCY = 8


@dataclass
class ResolvedOrders:
    """What a person named: the Framework360 ids found, and each value that names no order, with why."""

    ids: list[int] = field(default_factory=list)
    unknown: dict[str, str] = field(default_factory=dict)


def resolve_in_store(store, shop_id: str, values: list[str]) -> tuple[list[int], list[str]]:
    """Ids (``17``) or shop numbers (``F360-10017``) the status store knows -> their ids; the rest as given."""
    from tgflow.store import orders as ostore

    ids: list[int] = []
    rest: list[str] = []
    for value in values:
        link = ostore.find_link(store, shop_id, value)
        if link is not None:
            ids.append(link.f360_order_id)
        else:
            rest.append(value)
    return ids, rest


async def resolve_orders(settings: Settings, store, values: list[str]) -> ResolvedOrders:
    """The one resolver of every command that takes orders: Framework360 ids or shop numbers, in any mix.

    The status store answers first. An id it does not know is checked in Framework360 (an id Framework360
    does not know is reported, never exported nor stored); a number it does not know is looked for in
    Framework360's order list. When Framework360 does not answer, an id is kept (the export retries it and
    reports the outcome) and a number is reported as not found with the reason.
    """
    from tgflow.clients.errors import ApiError, NotFoundError
    from tgflow.clients.framework360 import Framework360Client

    cleaned = [v.strip() for v in values if v.strip()]
    known, rest = await asyncio.to_thread(resolve_in_store, store, settings.totalgest.shop_id, cleaned)
    found: dict[str, int] = {}
    unknown: dict[str, str] = {}
    digits = [v for v in rest if v.isdigit()]
    numbers = [v for v in rest if not v.isdigit()]
    if digits or numbers:
        async with Framework360Client(settings.f360) as f360:
            slots = asyncio.Semaphore(CHECK_CONCURRENCY)

            async def check(value: str) -> None:
                async with slots:
                    try:
                        await f360.get_order(int(value))
                    except NotFoundError:
                        unknown[value] = f"Framework360 has no order with id {int(value)}: check the id"
                        return
                    except ApiError:
                        pass  # not answering now: the export retries and reports
                    found[value] = int(value)

            await asyncio.gather(*(check(v) for v in digits))
            wanted = {n.casefold(): n for n in numbers}
            try:
                async for page in f360.iter_orders():
                    for order in page.items:
                        value = wanted.pop((order.number or "").casefold(), None)
                        if value is not None:
                            found[value] = order.id
                    if not wanted:
                        break
            except ApiError as exc:
                for value in list(wanted.values()):
                    unknown[value] = f"cannot look up order {value} in Framework360 ({exc}); give its Framework360 id"
                wanted = {}
            for value in wanted.values():
                unknown[value] = (f"Framework360 has no order numbered {value}: check the number "
                                  "(or give its Framework360 id)")
    ids = known + [found[v] for v in rest if v in found]
    return ResolvedOrders(ids=list(dict.fromkeys(ids)), unknown=unknown)


def empty_report() -> ExportReport:
    return ExportReport()
