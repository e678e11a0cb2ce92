"""What a product looks like to a person: the status column, a list row, one product's page.

A product's name is the one stored with its link (as the import last wrote it to Framework360); ``None`` for
a product not written since names were stored (shown as "—").

``tgflow products list/show`` and the web console show products through these same functions.
"""

from __future__ import annotations

from typing import Any

from tgflow.config import Settings
from tgflow.store import Store
from tgflow.store import products as pstore
from tgflow.store.models import ProductLink, SyncRun

#: Rows per page of the console's product list (and of `tgflow products list` at a terminal).
PER_PAGE = 50


def status_column(status: str, reason: str | None) -> str:
    """The text of the status column: `Linked`, `Not linked`, `Pending`, `Error: reason`."""
    if status == "linked":
        return "Linked"
    if status == "error":
        return f"Error: {reason}" if reason else "Error"
    if status == "pending":
        return "Pending"
    return "Not linked"


def product_row(link: ProductLink) -> dict[str, Any]:
    """One product as `tgflow products list --json` shows it."""
    return {
        "sku": link.sku, "name": link.name, "status": link.status,
        "column": status_column(link.status, link.last_error),
        "error": link.last_error, "f360_product_id": link.f360_product_id, "tg_article_id": link.tg_article_id,
        "stock_quantity": link.stock_quantity, "published": link.active, "last_synced_at": link.last_synced_at,
    }


def product_detail(link: ProductLink, run: SyncRun | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """One product as `tgflow products show --json` shows it, with the import run that last wrote it."""
    from tgflow.temporal import workflow_url

    row: dict[str, Any] = {
        "sku": link.sku, "name": link.name, "status": link.status,
        "column": status_column(link.status, link.last_error),
        "error": link.last_error, "attempts": link.attempts,
        "tg_article_id": link.tg_article_id, "f360_product_id": link.f360_product_id,
        "published": link.active, "stock_quantity": link.stock_quantity, "reserved_quantity": link.reserved_quantity,
        "stock_pending": bool(link.stock_dirty),
        "retried_next_run": link.status == "error" and link.retry_json is not None,
        "last_synced_at": link.last_synced_at, "last_seen_at": link.last_seen_at, "updated_at": link.updated_at,
    }
    if run is not None and settings is not None:
        row["last_import"] = {"workflow_id": run.workflow_id, "run_id": run.run_id, "status": run.status,
                              "started_at": run.started_at, "finished_at": run.finished_at,
                              "url": workflow_url(settings.temporal, run.workflow_id) if run.workflow_id else None}
    return row


def find_product(settings: Settings, store: Store, sku: str) -> dict[str, Any] | None:
    """`tgflow products show --json` of this SKU; None when the import does not know it."""
    shop = settings.totalgest.shop_id
    link = pstore.load_links(store, shop, [sku]).get(sku)
    if link is None:
        return None
    return product_detail(link, pstore.run_that_wrote(store, shop, link), settings)


def product_page(store: Store, shop_id: str, *, status: str | None = None, q: str | None = None,
                 page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
    """One page of the product list, filtered (status, part of the SKU or name) and paged in the database."""
    page = max(page, 1)
    links, total = pstore.page_links(store, shop_id, status=status, q=q, offset=(page - 1) * per_page,
                                     limit=per_page)
    return {"products": [product_row(link) for link in links], "total": total, "page": page,
            "per_page": per_page, "pages": max((total + per_page - 1) // per_page, 1), "status": status,
            "q": q or ""}


def product_page_across(store: Store, views: list[Settings], *, status: str | None = None, q: str | None = None,
                        page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
    """One page of the product list of every shop (``views``: each shop's settings), shop after shop, each row
    with its ``shop``; filtered and paged in the database, shop by shop."""
    from tgflow.service.across import page_across

    def part(shop_id: str, offset: int, limit: int | None) -> tuple[list[dict[str, Any]], int]:
        links, count = pstore.page_links(store, shop_id, status=status, q=q, offset=offset, limit=limit or 0)
        return [product_row(link) for link in links], count

    page = max(page, 1)
    rows, total = page_across(views, part, offset=(page - 1) * per_page, limit=per_page)
    return {"products": rows, "total": total, "page": page, "per_page": per_page,
            "pages": max((total + per_page - 1) // per_page, 1), "status": status, "q": q or ""}
