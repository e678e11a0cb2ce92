"""The ``retry`` phase: products Framework360 refused in an earlier run, from the mapped content kept on their link."""

from __future__ import annotations

from tgflow.activities.deps import Deps
from tgflow.activities.products.common import advance, beat, merge
from tgflow.activities.products.statuses import send_statuses
from tgflow.activities.products.write import make_item, write
from tgflow.clients.framework360 import MAX_BATCH
from tgflow.contracts.products import ImportPassInput, PassProgress
from tgflow.mapping.products import MappedProduct
from tgflow.store import products as pstore


async def retry_phase(deps: Deps, params: ImportPassInput, progress: PassProgress, reserved: dict[str, int]) -> None:
    shop = params.shop_id
    while True:
        links = await deps.db(pstore.refused_page, deps.store, shop, params.started_at, progress.after_id, MAX_BATCH)
        if not links:
            break
        items = [make_item(deps, MappedProduct.from_json(link.retry_json), link.tg_article_id, link, reserved)
                 for link in links]
        written = await write(deps, shop, items)
        await deps.db(pstore.save_links, deps.store, shop, written.changes)
        await send_statuses(deps, shop, written.puts)
        merge(progress, written)
        progress.after_id = links[-1].id
        beat(progress)
    advance(progress, "flush")
