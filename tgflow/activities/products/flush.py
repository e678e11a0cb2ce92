"""The ``flush`` phase: stock-only updates of linked products still ``stock_dirty``."""

from __future__ import annotations

import json

from tgflow.activities.deps import Deps
from tgflow.activities.products.common import Outcome, advance, beat, merge, status, warehouses
from tgflow.activities.products.statuses import send_statuses
from tgflow.clients.framework360 import MAX_BATCH, ProductUpdate
from tgflow.contracts.products import ImportPassInput, PassProgress
from tgflow.mapping.products import sellable_stock
from tgflow.store import products as pstore
from tgflow.store.models import ProductLink, utcnow


async def flush_phase(deps: Deps, params: ImportPassInput, progress: PassProgress) -> None:
    shop = params.shop_id
    while True:
        links = await deps.db(pstore.dirty_stock_page, deps.store, shop, progress.after_id, MAX_BATCH)
        if not links:
            break
        merge(progress, await flush_stock(deps, shop, links))
        progress.after_id = links[-1].id
        beat(progress)
    advance(progress, "draft" if params.full else "done")


async def flush_stock(deps: Deps, shop: str, links: list[ProductLink]) -> Outcome:
    outcome = Outcome()
    changes = outcome.changes
    todo: list[tuple[ProductLink, int]] = []
    for link in links:
        levels = json.loads(link.stock_json) if link.stock_json else {}
        stock = sellable_stock(levels, warehouses(deps), link.reserved_quantity)
        if stock == link.stock_quantity:
            changes[link.sku] = {"stock_dirty": False}
        else:
            todo.append((link, stock))
    if todo:
        response = await deps.framework360.batch_products(
            update=[ProductUpdate(id=link.f360_product_id, stock_quantity=stock) for link, stock in todo])
        for (link, stock), result in zip(todo, response.update):
            if result.error is None:
                outcome.counts.stock_updated += 1
                changes[link.sku] = {"stock_quantity": stock, "stock_dirty": False, "last_synced_at": utcnow()}
                continue
            reason = f"Framework360 refused the stock update: {result.error.error}: {result.error.message}"
            outcome.counts.errors += 1
            outcome.errors.append(f"{link.sku}: {reason}")
            changes[link.sku] = {"status": "error", "last_error": reason, "attempts": link.attempts + 1}
            if link.status != "error" or link.last_error != reason:
                outcome.put(link.sku, link.f360_product_id, status("error", link.tg_article_id, reason))
    await deps.db(pstore.save_links, deps.store, shop, changes)
    await send_statuses(deps, shop, outcome.puts)
    return outcome
