"""The drift report's use cases: compare both systems now (``tgflow drift-report``), and re-drive the drift.

The comparison itself (read-only I/O) is ``tgflow.activities.drift``, shared with the daily drift report
schedule's activity; ``fix`` re-drives what it found through the normal workflows and waits: the orders are
exported (``export_orders_now``), then the products are marked for a full rewrite and an import runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tgflow.activities import drift
from tgflow.config import Settings
from tgflow.contracts.ops import DriftReport
from tgflow.service.orders import export_orders_now
from tgflow.service.products import mark_and_reimport


async def build_report(settings: Settings, *, since: datetime | None = None, store=None,
                       orders: bool = True, products: bool = True) -> DriftReport:
    """Compare both systems now (read-only). ``since`` limits the orders to those updated after it."""
    return await drift.build_report(settings, since=since, store=store, orders=orders, products=products)


async def fix(client, settings: Settings, store, report: DriftReport) -> dict[str, Any]:
    """Re-drive the drift through the normal workflows and wait for them; returns what was done.

    Orders first (an export, exactly once by ``external_ref``: an order TotalGest has is only re-linked),
    then the products: marked for a full rewrite (content and stock) and an import run
    (``service.products.mark_and_reimport``), which then sees the orders as exported and no longer
    reserves their stock.
    """
    out: dict[str, Any] = {"orders": None, "products_marked": [], "import": None, "import_workflow_id": None,
                           "not_fixable": [f"{sku}: no TotalGest article; draft or delete it in Framework360"
                                           for sku in report.only_in_framework360]}
    ids = list(dict.fromkeys(d.order_id for d in [*report.missing_in_totalgest, *report.not_linked]))
    if ids:
        exported = await export_orders_now(client, settings, ids)
        out["orders"] = exported.model_dump(mode="json")
    skus = [d.sku for d in report.products] + list(report.only_in_totalgest)
    if skus:
        async def connected():
            return client

        done = await mark_and_reimport(connected, settings, store, skus, create_unknown=True)
        result = await done.handle.result()
        out["products_marked"] = done.marked
        out["import_workflow_id"] = done.handle.id
        out["import"] = {"created": result.created, "updated": result.updated,
                         "stock_updated": result.stock_updated, "errors": result.errors,
                         "error_samples": result.error_samples}
    return out
