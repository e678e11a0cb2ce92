"""Bringing products in line: create / update only changed fields / skip, in ``/products/batch`` calls of
≤ 100 creates + ≤ 100 updates (used by the ``articles`` and ``retry`` phases).

The status column travels in the same batch items (Framework360 1.1, ``integrations.totalgest``): a create,
a re-link and an update of a link that is not ``linked`` yet carry ``linked``; a product whose content is
unchanged but whose link is not ``linked`` gets a status-only update. A link is stored ``linked`` only
from its item's own result in the batch answer; only a refused item's ``error`` status still goes by PUT
(its batch item was refused as a whole), stored ``pending`` until that PUT is confirmed."""

from __future__ import annotations

import json
from typing import Any

from tgflow.activities.deps import Deps
from tgflow.activities.products.common import Item, Outcome, status, warehouses
from tgflow.clients.framework360 import MAX_BATCH, Integrations, ProductInput, ProductUpdate
from tgflow.mapping.products import (
    CONTENT_FIELDS,
    MappedProduct,
    changed_fields,
    content_hashes,
    sellable_stock,
)
from tgflow.store.models import ProductLink, utcnow


def make_item(deps: Deps, mapped: MappedProduct, tg_article_id: int | None, link: ProductLink | None,
              reserved: dict[str, int]) -> Item:
    levels = json.loads(link.stock_json) if link and link.stock_json else {}
    qty = reserved.get(mapped.sku, 0)
    hashes, fp = content_hashes(mapped)
    return Item(mapped=mapped, tg_article_id=tg_article_id, link=link,
                stock=sellable_stock(levels, warehouses(deps), qty), reserved=qty, hashes=hashes, fp=fp)


def _linked(payload: ProductInput | ProductUpdate, item: Item) -> ProductInput | ProductUpdate:
    """The batch item, carrying the status column ``linked`` (set after construction: sent with ``exclude_unset``)."""
    payload.integrations = Integrations(totalgest=status("linked", item.tg_article_id))
    return payload


def _create(item: Item) -> ProductInput:
    return _linked(item.mapped.to_input(item.stock), item)  # type: ignore[return-value]


async def write(deps: Deps, shop: str, items: list[Item]) -> Outcome:
    """Create / update / skip each item (≤ 100 per batch call); the links to store and the
    status PUTs still to send (refusals only) come back in the outcome."""
    outcome = Outcome()
    creates: list[Item] = []
    updates: list[tuple[Item, ProductUpdate, str]] = []
    untouched: list[Item] = []
    for item in items:
        link = item.link
        if link is None or link.f360_product_id is None:
            creates.append(item)
            continue
        old = json.loads(link.field_hashes_json) if link.field_hashes_json else None
        changed = [] if link.content_hash == item.fp else changed_fields(old, item.hashes)
        stock_changed = link.stock_quantity != item.stock
        if changed or stock_changed:
            update = item.mapped.to_update(link.f360_product_id, changed, item.stock if stock_changed else None)
            if link.status != "linked":
                _linked(update, item)
            updates.append((item, update, "updated" if changed else "stock_updated"))
        elif link.status != "linked":
            # Unchanged content, status column not confirmed (e.g. an attempt that died): status only.
            updates.append((item, _linked(ProductUpdate(id=link.f360_product_id), item), "unchanged"))
        else:
            untouched.append(item)

    for item in untouched:
        outcome.counts.unchanged += 1
        link = item.link
        assert link is not None
        if link.stock_dirty or link.retry_json or link.name != item.mapped.name:
            outcome.changes[item.mapped.sku] = linked_values(item, link.f360_product_id)

    # First round; duplicates (a product that already has the SKU, e.g. after a lost store) and
    # vanished products (deleted in Framework360) are resolved and sent again in a second round.
    f360 = deps.framework360
    second_updates: list[tuple[Item, ProductUpdate, str]] = []
    second_creates: list[Item] = []
    for start in range(0, max(len(creates), len(updates)), MAX_BATCH):
        c_chunk = creates[start:start + MAX_BATCH]
        u_chunk = updates[start:start + MAX_BATCH]
        response = await f360.batch_products(
            create=[_create(i) for i in c_chunk], update=[u for _, u, _ in u_chunk])
        for item, result in zip(c_chunk, response.create):
            if result.error and result.error.error == "duplicate_sku":
                existing = await f360.find_product(item.mapped.sku)
                if existing is not None:
                    second_updates.append((item, _linked(item.mapped.to_update(existing.id, CONTENT_FIELDS,
                                                                               item.stock), item), "relinked"))
                    continue
            record(item, result.id, result.error, "created", outcome)
        for (item, _, kind), result in zip(u_chunk, response.update):
            if result.error and result.error.error == "not_found":
                second_creates.append(item)
                continue
            record(item, result.id, result.error, kind, outcome)
    for start in range(0, max(len(second_creates), len(second_updates)), MAX_BATCH):
        c_chunk = second_creates[start:start + MAX_BATCH]
        u_chunk = second_updates[start:start + MAX_BATCH]
        response = await f360.batch_products(
            create=[_create(i) for i in c_chunk], update=[u for _, u, _ in u_chunk])
        for item, result in zip(c_chunk, response.create):
            record(item, result.id, result.error, "created", outcome)
        for (item, _, kind), result in zip(u_chunk, response.update):
            record(item, result.id, result.error, kind, outcome)
    return outcome


def linked_values(item: Item, product_id: int | None) -> dict[str, Any]:
    now = utcnow()
    return {"f360_product_id": product_id, "tg_article_id": item.tg_article_id, "status": "linked",
            "content_hash": item.fp, "field_hashes_json": json.dumps(item.hashes, sort_keys=True),
            "stock_quantity": item.stock, "reserved_quantity": item.reserved, "stock_dirty": False,
            "active": item.mapped.status == "published", "last_error": None, "attempts": 0,
            "retry_json": None, "last_synced_at": now, "name": item.mapped.name}


def record(item: Item, product_id: int | None, error: Any, kind: str, outcome: Outcome) -> None:
    link = item.link
    sku = item.mapped.sku
    changes = outcome.changes
    if error is None:
        # Its batch item carried the status column wherever the link was not ``linked`` yet: confirmed here.
        pid = product_id or (link.f360_product_id if link else None)
        changes[sku] = linked_values(item, pid)
        counter = "updated" if kind == "relinked" else kind
        setattr(outcome.counts, counter, getattr(outcome.counts, counter) + 1)
        return
    reason = f"Framework360 refused it: {error.error}: {error.message}" if error.message else \
        f"Framework360 refused it: {error.error}"
    outcome.counts.errors += 1
    outcome.errors.append(f"{sku}: {reason}")
    changes[sku] = {"status": "error", "last_error": reason, "tg_article_id": item.tg_article_id,
                    "attempts": (link.attempts if link else 0) + 1, "retry_json": item.mapped.to_json(),
                    "reserved_quantity": item.reserved, "name": item.mapped.name}
    pid = link.f360_product_id if link else None
    if pid and (link.status != "error" or link.last_error != reason):
        outcome.put(sku, pid, status("error", item.tg_article_id, reason))
