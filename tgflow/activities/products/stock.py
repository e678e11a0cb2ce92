"""The ``stock`` phase: ``/stock`` rows changed since the stock cursor; warehouse levels are stored per
link, and a link whose sellable stock changed becomes ``stock_dirty`` (written by the ``flush`` phase)."""

from __future__ import annotations

import contextlib

from tgflow.activities.deps import Deps
from tgflow.activities.products.common import advance, beat, warehouses
from tgflow.activities.products.read_ahead import read_ahead
from tgflow.contracts.products import ImportPassInput, PassProgress
from tgflow.store import products as pstore


async def stock_phase(deps: Deps, params: ImportPassInput, progress: PassProgress, reserved: dict[str, int]) -> None:
    shop = params.shop_id
    since = None if params.full else params.stock_since
    async with contextlib.aclosing(read_ahead(deps.totalgest.iter_stock(
            updated_since=since, cursor=progress.cursor, limit=deps.settings.products.stock_page_size))) as pages:
        async for page in pages:
            rows = [pstore.StockRow(sku=r.article_code, article_id=r.article_id, warehouse=r.warehouse_id,
                                    available=r.available) for r in page.items if r.article_code]
            await deps.db(pstore.apply_stock_rows, deps.store, shop, rows, warehouses(deps), reserved)
            progress.counts.stock_rows_read += len(page.items)
            progress.cursor = page.next_cursor
            beat(progress)
    advance(progress, "articles")
