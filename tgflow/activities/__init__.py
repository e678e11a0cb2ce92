"""Activities: all I/O lives here, each safe to run twice."""

from __future__ import annotations

from collections.abc import Callable

from tgflow.activities.deps import Deps


def build_activities(deps: Deps) -> list[Callable]:
    """Every activity the worker registers, bound to the worker's shared dependencies."""
    activities: list[Callable] = []
    from tgflow.activities.products import ProductActivities

    products = ProductActivities(deps)
    activities += [products.begin_import, products.import_products_pass, products.finish_import]
    from tgflow.activities.orders import OrderActivities

    orders = OrderActivities(deps)
    activities += [orders.export_order, orders.record_order_result, orders.reconcile_orders]
    from tgflow.activities.ops import OpsActivities

    ops = OpsActivities(deps)
    activities += [ops.drift_report, ops.health_check]
    from tgflow.activities.adjustments import AdjustmentActivities

    adjustments = AdjustmentActivities(deps)
    activities += [adjustments.plan_adjustments, adjustments.apply_adjustment, adjustments.record_adjustment_failure]
    from tgflow.activities.shipments import ShipmentActivities

    shipments = ShipmentActivities(deps)
    activities += [shipments.begin_import, shipments.import_pass, shipments.finish_import,
                   shipments.sync_shipment, shipments.record_failure]
    from tgflow.activities.notifications import NotificationActivities

    activities += [NotificationActivities(deps).notify_export_request]
    return activities


__all__ = ["Deps", "build_activities"]
