"""Workflow and schedule ids: one home, low enough for activities, workflows and use cases alike.

Changing a string here orphans running workflows and existing schedules: these are part of
what must not change (``tgflow schedule ...``, ``tgflow import-products``, dashboards)."""

from __future__ import annotations


def product_import_schedule_id(shop_id: str) -> str:
    """The product import's Schedule (every ``products.every_minutes``)."""
    return f"product-import-{shop_id}"


def scheduled_import_workflow_id(shop_id: str) -> str:
    """The workflow id the schedule's import runs under (Temporal appends the start time)."""
    return f"product-import-{shop_id}"


def manual_import_id(shop_id: str) -> str:
    """The one workflow id of manual imports (``tgflow import-products``): starting another joins it."""
    return f"product-import-{shop_id}-manual"


def order_reconcile_schedule_id(shop_id: str) -> str:
    return f"order-reconcile-{shop_id}"


def drift_report_schedule_id(shop_id: str) -> str:
    return f"drift-report-{shop_id}"


def health_check_schedule_id(shop_id: str) -> str:
    return f"health-check-{shop_id}"


def shipment_import_schedule_id(shop_id: str) -> str:
    """The shipment import's Schedule (every ``shipments.every_minutes``)."""
    return f"shipment-import-{shop_id}"
