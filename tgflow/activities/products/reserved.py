"""Reserved stock: units sold in completed shop orders that TotalGest does not know yet, and the
``reserved`` phase that stores them per link (the other phases subtract them from sellable stock)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from tgflow.activities.deps import Deps
from tgflow.activities.products.common import advance, warehouses
from tgflow.clients.errors import PermanentError
from tgflow.clients.framework360 import STATUS_PUT_CONCURRENCY, Framework360Client
from tgflow.config import Settings
from tgflow.contracts.products import PassProgress
from tgflow.mapping.products import reserved_quantities
from tgflow.store import orders as ostore
from tgflow.store import products as pstore
from tgflow.store.db import Store
from tgflow.store.models import utcnow

log = logging.getLogger(__name__)


#: Framework360 order look-ups running at once (one per completed shop order not in TotalGest).
LOOKUP_CONCURRENCY = STATUS_PUT_CONCURRENCY


async def reserved_stock(settings: Settings, f360: Framework360Client, store: Store) -> dict[str, int]:
    """Units per SKU in completed shop orders that TotalGest has not registered yet: the one rule, used by the
    import (subtracted from sellable stock) and by the drift report (``tgflow reconcile``) alike.

    An order counts when it is completed, was updated in the last ``products.reserve_lookback_days``, its
    Framework360 status column is not ``linked`` and the status store does not know it as exported either
    (the column may lag). At most ``products.reserve_max_orders`` such orders count, the oldest first: the
    cap applies to the orders that count (filter, then cap), so linked orders never use up its room.
    Each is fetched once for its lines: one that is malformed or gone (a ``PermanentError``) is skipped
    with a warning; any other failure (Framework360 not answering) is raised, never read as "no reservation".
    """
    p = settings.products
    shop_id = settings.totalgest.shop_id
    since = utcnow() - timedelta(days=p.reserve_lookback_days)
    pending: list[int] = []
    async for page in f360.iter_orders(status="completed", updated_after=since):
        unlinked = [ref.id for ref in page.items
                    if (ref.integrations.totalgest.status if ref.integrations.totalgest else None) != "linked"]
        if unlinked:
            linked = await asyncio.to_thread(ostore.linked_order_ids, store, shop_id, unlinked)
            pending.extend(i for i in unlinked if i not in linked)
        if len(pending) >= p.reserve_max_orders:
            log.warning("more than %s completed orders not in TotalGest; reserved stock counts the first %s",
                        p.reserve_max_orders, p.reserve_max_orders)
            pending = pending[:p.reserve_max_orders]
            break
    slots = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def lines_of(order_id: int) -> list[tuple[str | None, int]]:
        async with slots:
            try:
                order = await f360.get_order(order_id)
            except PermanentError as exc:  # a malformed or vanished order must not stop the import or report
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
