"""What an order looks like to a person: the status column, a list row, one order's page with its attempts.

``tgflow orders list/show`` and the web console show orders through these same functions.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle

from tgflow.config import Settings
from tgflow.store import Store
from tgflow.store import adjustments as astore
from tgflow.store import orders as ostore
from tgflow.store.models import OrderLink

#: Rows per page of the console's order list.
PER_PAGE = 50


def status_column(status: str, tg_number: str | None, reason: str | None) -> str:
    if status == "linked":
        return f"Linked {tg_number}" if tg_number else "Linked"
    if status == "failed":
        return f"Failed: {reason}" if reason else "Failed"
    return {"pending": "Pending", "not_linked": "Not linked"}.get(status, status)


def order_row(link: OrderLink, adjustment_error: str | None = None) -> dict[str, Any]:
    """One order as `tgflow orders list --json` shows it: the link's fields and its status ``column``;
    ``adjustment_error`` a refused cancellation/refund ("Refund 3 failed: reason")."""
    row = ostore.link_dict(link)
    row["adjustment_error"] = adjustment_error
    row["column"] = status_column(link.status, link.tg_order_number, link.last_error)
    if row["progress"]:  # the order's life in TotalGest: invoiced FA-…, partly shipped, shipped
        row["column"] += f" · {row['progress']}"
    if row["parcel_error"]:
        row["column"] += f" · Parcel failed: {row['parcel_error']}"
    if adjustment_error:  # first: what a person must act on, before the (long) progress of the export
        row["column"] = f"{adjustment_error} · {row['column']}"
    return row


def order_rows(store: Store, shop_id: str, links: list[OrderLink]) -> list[dict[str, Any]]:
    """Rows of these orders, each with its refused cancellation/refund if any (one query for them all)."""
    refused = astore.failed_reasons(store, shop_id, [link.f360_order_id for link in links])
    return [order_row(link, refused.get(link.f360_order_id)) for link in links]


def order_page(store: Store, shop_id: str, *, status: str | None = None, q: str | None = None,
               page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
    """One page of the order list, filtered and paged in the database."""
    page = max(page, 1)
    links, total = ostore.page_links(store, shop_id, status=status, q=q, offset=(page - 1) * per_page,
                                     limit=per_page)
    return {"orders": order_rows(store, shop_id, links), "total": total, "page": page, "per_page": per_page,
            "pages": max((total + per_page - 1) // per_page, 1), "status": status, "q": q or ""}


def order_detail(settings: Settings, store: Store, ident: str) -> dict[str, Any] | None:
    """One order (by Framework360 id or shop number) as `tgflow orders show --json` shows it: its row, each
    attempt, its parcels, its cancellation and refunds and the Web UI link of its workflow; None when the
    status store does not know it."""
    from tgflow.service.shipments import parcels
    from tgflow.temporal import workflow_url

    shop = settings.totalgest.shop_id
    view = ostore.get_with_attempts(store, shop, ident)
    if view is None:
        return None
    row = order_rows(store, shop, [view.link])[0]
    row["adjustments"] = [astore.adjustment_dict(a) for a in astore.for_order(store, shop, view.link.f360_order_id)]
    row["attempt_history"] = [ostore.attempt_dict(a) for a in view.attempts]
    row["parcels"] = parcels(settings, view.link.f360_order_id)
    row["url"] = workflow_url(settings.temporal, row["workflow_id"]) if row["workflow_id"] else None
    return row


def failed_order_ids(store: Store, shop_id: str) -> list[int]:
    """Every order whose export, a parcel, a cancellation or a refund failed: what `tgflow orders retry --failed`
    re-drives."""
    return [link.f360_order_id for link in ostore.list_links(store, shop_id, "failed")]


async def start_retry(client: Client, settings: Settings, store: Store, order_ids: list[int]) -> WorkflowHandle:
    """Re-drive these orders: their failed parcels and refused cancellations/refunds run again, and a bulk
    export starts for them."""
    from tgflow.service.adjustments import redrive_adjustments
    from tgflow.service.orders import start_export
    from tgflow.service.shipments import redrive_orders

    await redrive_orders(client, settings, order_ids, wait=False)
    await redrive_adjustments(client, settings, store, order_ids, wait=False)
    return await start_export(client, settings, order_ids)


def order_page_across(store: Store, views: list[Settings], *, status: str | None = None, q: str | None = None,
                      page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
    """One page of the order list of every shop (``views``: each shop's settings), shop after shop, each row with
    its ``shop``; filtered and paged in the database, shop by shop."""
    from tgflow.service.across import page_across

    def part(shop_id: str, offset: int, limit: int | None) -> tuple[list[dict[str, Any]], int]:
        links, count = ostore.page_links(store, shop_id, status=status, q=q, offset=offset, limit=limit or 0)
        return order_rows(store, shop_id, links), count

    page = max(page, 1)
    rows, total = page_across(views, part, offset=(page - 1) * per_page, limit=per_page)
    return {"orders": rows, "total": total, "page": page, "per_page": per_page,
            "pages": max((total + per_page - 1) // per_page, 1), "status": status, "q": q or ""}
