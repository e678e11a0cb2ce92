"""The Temporal worker: every tgflow workflow and activity on one task queue per shop.

With ``[[shops]]`` and no ``--shop``, one process serves every shop: one :class:`Worker` per shop on
that shop's task queue, each with its own :class:`Deps` (that shop's settings and API clients) over
one shared status store and one Temporal client. They start and stop together. Idle per-shop workers
are kept cheap: few pollers, a small workflow cache and a modest activity limit each.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    PollerBehaviorSimpleMaximum,
    Worker,
)

from tgflow.activities import Deps, build_activities
from tgflow.activities.calls import current_shop
from tgflow.config import Settings
from tgflow.store import Store
from tgflow.workflows.adjustments import OrderAdjustmentsWorkflow, OrderAdjustmentWorkflow
from tgflow.workflows.export_requests import ExportRequestWorkflow
from tgflow.workflows.ops import DriftReportWorkflow, HealthCheckWorkflow
from tgflow.workflows.order_export import OrderExportWorkflow
from tgflow.workflows.orders import ExportOrdersWorkflow, OrderQueueWorkflow, OrderReconcileWorkflow
from tgflow.workflows.products import ProductImportWorkflow
from tgflow.workflows.shipments import OrderShipmentWorkflow, ShipmentImportWorkflow

log = logging.getLogger(__name__)

WORKFLOWS: list[type] = [
    OrderExportWorkflow,
    OrderQueueWorkflow,
    ExportOrdersWorkflow,
    OrderReconcileWorkflow,
    ProductImportWorkflow,
    DriftReportWorkflow,
    HealthCheckWorkflow,
    OrderAdjustmentsWorkflow,
    OrderAdjustmentWorkflow,
    ShipmentImportWorkflow,
    OrderShipmentWorkflow,
    ExportRequestWorkflow,
]

#: One shop's worker among many (``[[shops]]`` served from one process). Idle, each holds 2 workflow-task
#: polls (1 sticky, 1 normal) and 2 activity-task polls: 50 shops are 200 long polls, not 500. The
#: workflow cache and the activity slots are per shop too, so 50 shops stay within one process's memory;
#: a shop's own order concurrency (``orders.max_concurrent``) stays the real limit of its exports.
SHOP_WORKER_OPTIONS: dict[str, Any] = {
    "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(maximum=2),
    "activity_task_poller_behavior": PollerBehaviorSimpleMaximum(maximum=2),
    "max_cached_workflows": 200,
    "max_concurrent_local_activities": 20,
}
#: Activity slots of one shop's worker among many (a lone shop's worker has 50).
SHOP_ACTIVITY_SLOTS = 20


class _ShopLabel(Interceptor):
    """Every activity of this worker runs with ``current_shop`` set: a refusal names the shop to fix."""

    def __init__(self, shop: str) -> None:
        self.shop = shop

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ShopActivity(next, self.shop)


class _ShopActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, shop: str) -> None:
        super().__init__(next)
        self.shop = shop

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        token = current_shop.set(self.shop)
        try:
            return await super().execute_activity(input)
        finally:
            current_shop.reset(token)


def _one_of_many(settings: Settings) -> dict[str, Any]:
    """The options of a ``[[shops]]`` shop's worker (``settings`` is its view, :meth:`Settings.for_shop`);
    none for the single-shop form, whose one worker keeps the SDK's defaults."""
    shop = settings.view_shop
    if shop is None:
        return {}
    return SHOP_WORKER_OPTIONS | {"interceptors": [_ShopLabel(shop)]}


def build_worker(client: Client, settings: Settings, deps: Deps, *, task_queue: str | None = None) -> Worker:
    from tgflow.config import activity_rate_for

    return Worker(
        client,
        **_one_of_many(settings),
        task_queue=task_queue or settings.temporal.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(deps),
        max_concurrent_activities=50 if settings.view_shop is None else SHOP_ACTIVITY_SLOTS,
        # this shop's share of its TotalGest endpoint's [totalgest_rate_limits], enforced by the server per queue
        max_task_queue_activities_per_second=activity_rate_for(settings, settings.shop_key),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def shop_views(settings: Settings) -> list[Settings]:
    """The settings of every shop this process serves: each ``[[shops]]`` shop's view, or the one shop."""
    if not settings.multi_shop:
        return [settings]
    return [settings.for_shop(shop_id) for shop_id in settings.shop_ids()]


async def run_worker(settings: Settings, *, client: Client | None = None, stop: asyncio.Event | None = None) -> None:
    """Serve every shop in ``settings`` (one, or each ``[[shops]]`` shop) until SIGINT/SIGTERM (or
    ``stop``), then shut every shop's worker down together, finishing in-flight work, and exit."""
    from tgflow.temporal import connect

    client = client or await connect(settings.temporal)
    store = Store(settings.database_url)
    views = shop_views(settings)
    all_deps = [Deps(view, store) for view in views]
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    workers = [build_worker(client, view, deps) for view, deps in zip(views, all_deps)]
    if settings.multi_shop:
        shops = {shop.id: shop for shop in settings.shops()}
        log.info("worker serving %d shops: %s", len(views), ", ".join(
            view.shop_key + ("" if shops[view.shop_key].enabled else " (disabled)") for view in views))
    for view in views:
        log.info("worker polling task queue %s for shop %s on %s", view.temporal.task_queue, view.shop_key,
                 settings.temporal.address)
    runs = [asyncio.create_task(worker.run(), name=f"worker-{view.shop_key}") for worker, view in zip(workers, views)]
    stopped = asyncio.create_task(stop.wait())
    try:
        # A worker that ends by itself (a fatal error: the namespace is gone, …) ends them all.
        await asyncio.wait([stopped, *runs], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        # Every worker whose run has not ended, started or not yet: a stop right after start-up comes before
        # some have started, and shutdown() is what makes their run() return.
        await asyncio.gather(*(worker.shutdown() for worker, task in zip(workers, runs) if not task.done()),
                             return_exceptions=True)
        results = await asyncio.gather(*runs, return_exceptions=True)
        for deps in all_deps:
            await deps.aclose()
        store.close()
    for view, result in zip(views, results):
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise RuntimeError(f"the worker of shop {view.shop_key} stopped: {result}") from result
