"""The ``draft`` phase (``--full`` only): published products whose article the walk did not see are set to
``draft`` (never deleted)."""

from __future__ import annotations

import json
from typing import Any

from tgflow.activities.deps import Deps
from tgflow.activities.products.common import Outcome, advance, beat, merge
from tgflow.clients.framework360 import MAX_BATCH, ProductUpdate
from tgflow.contracts.products import ImportPassInput, PassProgress
from tgflow.store import products as pstore
from tgflow.store.models import ProductLink, utcnow


async def draft_phase(deps: Deps, params: ImportPassInput, progress: PassProgress) -> None:
    shop = params.shop_id
    while True:
        links = await deps.db(pstore.unseen_page, deps.store, shop, params.started_at, progress.after_id, MAX_BATCH)
        if not links:
            break
        merge(progress, await draft(deps, shop, links))
        progress.after_id = links[-1].id
        beat(progress)
    advance(progress, "done")


async def draft(deps: Deps, shop: str, links: list[ProductLink]) -> Outcome:
    """Products whose article disappeared from TotalGest become drafts (never deleted)."""
    outcome = Outcome()
    response = await deps.framework360.batch_products(
        update=[ProductUpdate(id=link.f360_product_id, status="draft") for link in links])
    changes: dict[str, dict[str, Any]] = {}
    for link, result in zip(links, response.update):
        if result.error is None or result.error.error == "not_found":
            outcome.counts.drafted += int(result.error is None)
            hashes = json.loads(link.field_hashes_json) if link.field_hashes_json else {}
            hashes["status"] = "draft:article-gone"  # differs from any mapped status: reappearing republishes
            changes[link.sku] = {"active": False, "content_hash": None,
                                 "field_hashes_json": json.dumps(hashes, sort_keys=True),
                                 "last_synced_at": utcnow()}
            continue
        reason = f"could not set to draft: {result.error.error}: {result.error.message}"
        outcome.counts.errors += 1
        outcome.errors.append(f"{link.sku}: {reason}")
        changes[link.sku] = {"status": "error", "last_error": reason, "attempts": link.attempts + 1}
    await deps.db(pstore.save_links, deps.store, shop, changes)
    return outcome
