"""Reserved stock: units sold in completed shop orders that TotalGest does not know yet, and the
``reserved`` phase that stores them per link (the other phases subtract them from sellable stock)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from tgflow.activities.deps import Deps
from tgflow.activities.products.common import advance, warehouses
from tgflow.clients.errors import PermanentError
from tgflow.clients.framework360 import STATUS_PUT_CONCURRENCY
from tgflow.contracts.products import PassProgress
from tgflow.mapping.products import reserved_quantities
from tgflow.store import orders as ostore
from tgflow.store import products as pstore
from tgflow.store.models import utcnow

log = logging.getLogger(__name__)


async def reserved_now(deps: Deps) -> dict[str, int]:
    """Units in completed shop orders that TotalGest has not registered yet, per SKU."""
    settings = deps.settings.products
    f360 = deps.framework360
    since = utcnow() - timedelta(days=settings.reserve_lookback_days)
    candidates: list[int] = []
    async for page in f360.iter_orders(status="completed", updated_after=since):
        for ref in page.items:
            status = ref.integrations.totalgest.status if ref.integrations.totalgest else None
            if status != "linked":
                candidates.append(ref.id)
        if len(candidates) >= settings.reserve_max_orders:
            log.warning("more than %s completed orders not in TotalGest; reserved stock counts the first %s",
                        settings.reserve_max_orders, settings.reserve_max_orders)
            candidates = candidates[:settings.reserve_max_orders]
            break
    if not candidates:
        return {}
    linked = await deps.db(ostore.linked_order_ids, deps.store, deps.shop_id, candidates)
    pending = [c for c in candidates if c not in linked]
    semaphore = asyncio.Semaphore(STATUS_PUT_CONCURRENCY)

    async def lines_of(order_id: int) -> list[tuple[str | None, int]]:
        async with semaphore:
            try:
                order = await f360.get_order(order_id)
            except PermanentError as exc:  # a malformed or vanished order must not stop the import
                log.warning("order %s skipped for reserved stock: %s", order_id, exc)
                return []
        return [(line.sku, line.quantity) for line in order.line_items]

    lines: list[tuple[str | None, int]] = []
    for chunk in await asyncio.gather(*(lines_of(i) for i in pending)):
        lines.extend(chunk)
    return reserved_quantities(lines)


async def reserved_phase(deps: Deps, shop: str, progress: PassProgress, reserved: dict[str, int]) -> None:
    """Bring every link's ``reserved_quantity`` in line; links whose sellable stock changes become dirty."""
    await deps.db(pstore.apply_reserved, deps.store, shop, reserved, warehouses(deps))
    advance(progress, "stock")
