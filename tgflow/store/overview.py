"""One read of the status store for ``tgflow status`` and the health check's ``failures`` alert."""

from __future__ import annotations

import json
from typing import Any

from tgflow.contracts.ops import DRIFT_RUN_KIND
from tgflow.store import adjustments as astore
from tgflow.store import orders as ostore
from tgflow.store import products as pstore
from tgflow.store import shipments as sstore
from tgflow.store.alerts import list_alerts
from tgflow.store.db import Store
from tgflow.store.runs import last_runs


def store_overview(store: Store, shop_id: str) -> dict[str, Any]:
    """Counts, oldest failures, active alerts and the last import and drift report of one shop."""
    orders = ostore.count_by_status(store, shop_id)
    products = pstore.count_by_status(store, shop_id)
    changed = ostore.count_changed_after_export(store, shop_id)
    oldest_order = ostore.oldest_failed(store, shop_id)
    oldest_product = pstore.oldest_error(store, shop_id)
    imports = pstore.last_runs(store, shop_id, limit=1)
    last_import = imports[0] if imports else None
    adjust_counts = astore.counts(store, shop_id)
    oldest_adjust = astore.failed(store, shop_id, limit=1)
    parcels = sstore.overview(store, shop_id)
    drift = last_runs(store, shop_id, DRIFT_RUN_KIND, limit=1)
    drift_run = drift[0] if drift else None
    return {
        "alerts": [{"key": a.key, "message": a.message, "since": a.since, "delivered": a.notified_state == "firing",
                    "delivered_at": a.notified_at, "delivery_error": a.notify_error}
                   for a in list_alerts(store, shop_id, active_only=True)],
        "last_drift_report": drift_run and {
            "started_at": drift_run.started_at, "finished_at": drift_run.finished_at, "status": drift_run.status,
            "workflow_id": drift_run.workflow_id, "counts": json.loads(drift_run.counts_json or "{}"),
            "samples": json.loads(drift_run.errors_json or "[]")},
        "orders": {k: orders.get(k, 0) for k in ("linked", "pending", "failed", "not_linked")}
                  | {"changed_after_export": changed},
        "adjustments": adjust_counts,
        "oldest_failed_adjustment": oldest_adjust and {
            "order_id": oldest_adjust[0].f360_order_id, "number": oldest_adjust[0].f360_number,
            "kind": oldest_adjust[0].kind, "refund_id": oldest_adjust[0].refund_id,
            "since": oldest_adjust[0].updated_at, "reason": oldest_adjust[0].last_error} or None,
        "products": {k: products.get(k, 0) for k in ("linked", "pending", "error", "not_linked")},
        "parcels": parcels["counts"],
        "oldest_failed_parcel": parcels["oldest_failed"],
        "oldest_failed_order": oldest_order and {
            "order_id": oldest_order.f360_order_id, "number": oldest_order.f360_number,
            "since": oldest_order.updated_at, "reason": oldest_order.last_error},
        "oldest_failed_product": oldest_product and {
            "sku": oldest_product.sku, "since": oldest_product.updated_at, "reason": oldest_product.last_error},
        "last_product_import": last_import and {
            "started_at": last_import.started_at, "finished_at": last_import.finished_at,
            "duration_seconds": (last_import.finished_at - last_import.started_at).total_seconds()
            if last_import.finished_at and last_import.started_at else None,
            "status": last_import.status, "workflow_id": last_import.workflow_id, "run_id": last_import.run_id,
            "counts": json.loads(last_import.counts_json or "{}"),
            "errors": json.loads(last_import.errors_json or "[]")[:5]},
    }
