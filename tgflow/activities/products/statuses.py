"""The status column (``integrations/totalgest``) where it is not written inside a batch item: the PUTs for
refused items (their batch item was refused as a whole; creates and updates carry ``linked`` in their batch
items, see ``write``), confirming their links, and the ``statuses`` phase that sends again what an earlier
pass stored ``pending`` but never confirmed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tgflow.activities.deps import Deps
from tgflow.activities.products.common import StatusPut, advance, beat, intended_status
from tgflow.clients.errors import NotFoundError
from tgflow.clients.framework360 import MAX_BATCH, STATUS_PUT_CONCURRENCY
from tgflow.contracts.products import PassProgress
from tgflow.store import products as pstore
from tgflow.store.models import ProductLink

log = logging.getLogger(__name__)


def confirm(store, shop_id: str, puts: list[StatusPut]) -> None:
    """Links whose status PUT went through: ``pending`` becomes the status the PUT wrote."""
    pstore.confirm_pending(store, shop_id, [(p.sku, p.status.status) for p in puts])


async def send_statuses(deps: Deps, shop: str, puts: list[StatusPut]) -> None:
    """Set the status column of products whose status changed, then confirm their links.

    Their links are already stored, as ``pending``: a PUT that fails (the activity fails or
    retries with it) or never ran (the worker died) leaves its link pending, and the next
    attempt, which resumes before that page, sends it again."""
    if not puts:
        return
    sent: list[int] = []
    try:
        await deps.framework360.set_product_statuses([(p.product_id, p.status) for p in puts],
                                                     concurrency=STATUS_PUT_CONCURRENCY, sent=sent)
    finally:
        # Also after a failure: what went through is confirmed, the retry sends only the rest.
        if sent:
            await deps.db(confirm, deps.store, shop, [puts[i] for i in sent])


async def resend_statuses(deps: Deps, shop: str, links: list[ProductLink]) -> None:
    """PUT what ``pending`` links were to show, each on its own: a product deleted in Framework360 meanwhile
    (404) must not fail every later pass, so its link is unlinked instead (the product is created again
    when its article next changes). Any other failure is raised once what went through is confirmed."""
    f360 = deps.framework360
    slots = asyncio.Semaphore(STATUS_PUT_CONCURRENCY)
    sent: list[StatusPut] = []
    gone: dict[str, dict[str, Any]] = {}

    async def resend(link: ProductLink) -> None:
        put = StatusPut(link.sku, link.f360_product_id, intended_status(link))
        async with slots:
            try:
                await f360.set_product_status(put.product_id, put.status)
            except NotFoundError:
                gone[link.sku] = {"status": "not_linked", "f360_product_id": None,
                                  "last_error": f"product {put.product_id} is not in Framework360 any more; "
                                                "it is created again when its article changes"}
                return
        sent.append(put)

    try:
        results = await asyncio.gather(*(resend(link) for link in links), return_exceptions=True)
    finally:
        if sent:
            await deps.db(confirm, deps.store, shop, sent)
        if gone:
            log.warning("%d product(s) no longer in Framework360, unlinked: %s", len(gone), ", ".join(gone))
            await deps.db(pstore.save_links, deps.store, shop, gone)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def statuses_phase(deps: Deps, shop: str, progress: PassProgress) -> None:
    """Links an earlier pass stored but whose status PUT it never confirmed (it failed for good, or
    gave up, after storing them) are still ``pending``: an incremental run would not meet them
    again unless their article changes, so their PUTs are sent here."""
    while True:
        links = await deps.db(pstore.unconfirmed_page, deps.store, shop, progress.after_id, MAX_BATCH)
        if not links:
            break
        await resend_statuses(deps, shop, links)
        progress.after_id = links[-1].id
        beat(progress)
    advance(progress, "retry")
