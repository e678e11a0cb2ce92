"""The Temporal worker: every tgflow workflow and activity on one task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from tgflow.activities import Deps, build_activities
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


def build_worker(client: Client, settings: Settings, deps: Deps, *, task_queue: str | None = None) -> Worker:
    from tgflow.config import activity_rate_for

    return Worker(
        client,
        task_queue=task_queue or settings.temporal.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(deps),
        max_concurrent_activities=50,
        # this shop's share of its TotalGest endpoint's [totalgest_rate_limits], enforced by the server per queue
        max_task_queue_activities_per_second=activity_rate_for(settings, settings.shop_key),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run_worker(settings: Settings, *, client: Client | None = None, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop``), then finish in-flight work and exit."""
    from tgflow.temporal import connect

    client = client or await connect(settings.temporal)
    store = Store(settings.database_url)
    deps = Deps(settings, store)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    worker = build_worker(client, settings, deps)
    log.info("worker polling task queue %s on %s", settings.temporal.task_queue, settings.temporal.address)
    try:
        async with worker:
            await stop.wait()
    finally:
        await deps.aclose()
        store.close()
