"""Workflow and schedule ids: one home, low enough for activities, workflows and use cases alike.

Changing a string here orphans running workflows and existing schedules: these are part of
what must not change (``tgflow schedule ...``, ``tgflow import-products``, dashboards). Every
id tgflow starts a workflow or a schedule under is built by a function of this module.
"""

from __future__ import annotations

from typing import Literal

# ---- schedules (``tgflow schedule ... --which``) -----------------------------------------------------------------

def product_import_schedule_id(shop_id: str) -> str:
    """The product import's Schedule (every ``products.every_minutes``)."""
    return f"product-import-{shop_id}"


def order_reconcile_schedule_id(shop_id: str) -> str:
    """The order reconciliation's Schedule (re-enqueues completed orders that are not linked)."""
    return f"order-reconcile-{shop_id}"


def drift_report_schedule_id(shop_id: str) -> str:
    """The drift report's Schedule (read-only comparison of both systems)."""
    return f"drift-report-{shop_id}"


def health_check_schedule_id(shop_id: str) -> str:
    return f"health-check-{shop_id}"


def shipment_import_schedule_id(shop_id: str) -> str:
    """The shipment import's Schedule (every ``shipments.every_minutes``)."""
    return f"shipment-import-{shop_id}"


def manual_run_workflow_id(schedule_id: str, token: str) -> str:
    """A one-off run of a schedule's workflow now (``tgflow alerts check``, tests): ``<schedule id>-manual-<token>``."""
    return f"{schedule_id}-manual-{token}"


# ---- products ----------------------------------------------------------------------------------------------------

def scheduled_import_workflow_id(shop_id: str) -> str:
    """The workflow id the schedule's import runs under (Temporal appends the start time)."""
    return f"product-import-{shop_id}"


def manual_import_id(shop_id: str) -> str:
    """The one workflow id of manual imports (``tgflow import-products``): starting another joins it."""
    return f"product-import-{shop_id}-manual"


# ---- orders ------------------------------------------------------------------------------------------------------

def order_export_workflow_id(shop_id: str, order_id: int) -> str:
    """``OrderExportWorkflow`` of one Framework360 order."""
    return f"order-export-{shop_id}-{order_id}"


def order_queue_workflow_id(shop_id: str) -> str:
    """The shop's ``OrderQueueWorkflow`` (signal-with-start)."""
    return f"order-queue-{shop_id}"


def bulk_export_workflow_id(shop_id: str, token: str) -> str:
    """One ``ExportOrdersWorkflow`` (``tgflow export-orders``)."""
    return f"order-bulk-export-{shop_id}-{token}"


def is_bulk_export_workflow_id(shop_id: str, workflow_id: str) -> bool:
    """Whether ``workflow_id`` names a bulk export of this shop (the console looks reports up by it)."""
    return workflow_id.startswith(bulk_export_workflow_id(shop_id, ""))


def order_reconcile_workflow_id(shop_id: str) -> str:
    """The workflow id the order reconciliation schedule's runs start under."""
    return f"order-reconcile-{shop_id}"


# ---- cancellations and refunds -----------------------------------------------------------------------------------

def adjustment_workflow_id(shop_id: str, order_id: int, kind: Literal["cancel", "refund"],
                           refund_id: int | None = None) -> str:
    """``order-cancel-<shop>-<order>`` or ``order-refund-<shop>-<order>-<refund>`` (business keys only)."""
    if kind == "cancel":
        return f"order-cancel-{shop_id}-{order_id}"
    if refund_id is None:
        raise ValueError("a refund adjustment needs its refund id")
    return f"order-refund-{shop_id}-{order_id}-{refund_id}"


def scan_workflow_id(shop_id: str, order_id: int) -> str:
    """``order-adjust-<shop>-<order>``: reads the shop order and runs its cancel/refund workflows in turn."""
    return f"order-adjust-{shop_id}-{order_id}"


# ---- shipments ---------------------------------------------------------------------------------------------------

def shipment_import_workflow_id(shop_id: str) -> str:
    """The shipment schedule's runs: ``shipment-import-<shop>`` (the schedule id too)."""
    return f"shipment-import-{shop_id}"


def manual_shipment_import_id(shop_id: str) -> str:
    """The one id of manual shipment imports (``tgflow import-shipments``): starting another joins it."""
    return f"shipment-import-{shop_id}-manual"


def shipment_workflow_id(shop_id: str, tg_shipment_id: int) -> str:
    """``OrderShipmentWorkflow`` of one TotalGest shipment."""
    return f"order-shipment-{shop_id}-{tg_shipment_id}"


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
