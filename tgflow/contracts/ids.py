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


#: Longest request id kept verbatim in a workflow id (Temporal allows 1000 bytes; the Web UI wants them short).
REQUEST_ID_MAX = 64


def export_request_workflow_id(shop_id: str, request_id: str) -> str:
    """``export-request-<shop>-<request id>``: one workflow per "Send to TotalGest" request, whatever redelivers it.

    The request id comes from outside: anything but ``A-Z a-z 0-9 _ . -`` becomes ``_`` and it is cut to
    ``REQUEST_ID_MAX``; when that changed it, a short hash of the original keeps different ids apart."""
    import hashlib
    import re

    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", request_id)[:REQUEST_ID_MAX]
    if clean != request_id or not clean:
        clean += "-" + hashlib.sha256(request_id.encode()).hexdigest()[:10]
    return f"export-request-{shop_id}-{clean}"
