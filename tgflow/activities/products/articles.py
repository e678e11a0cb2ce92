"""The ``articles`` phase: ``/articles`` changed since the articles cursor (``--full``: all) are mapped,
compared by fingerprint and written page by page; a written page's store writes and status PUTs run
in the background while the next pages are read (at most ``PAGES_IN_FLIGHT``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tgflow.activities.deps import Deps
from tgflow.activities.products.common import PAGES_IN_FLIGHT, Outcome, advance, beat, merge, status
from tgflow.activities.products.read_ahead import read_ahead
from tgflow.activities.products.statuses import send_statuses
from tgflow.activities.products.write import make_item, write
from tgflow.clients.totalgest import Article
from tgflow.contracts.products import ImportPassInput, PassProgress
from tgflow.mapping.products import MappedProduct, MappingError, map_article
from tgflow.store import products as pstore
from tgflow.store.models import utcnow


def no_code_key(article_id: int) -> str:
    return f"<no code: TotalGest article {article_id}>"


def duplicate_code(sku: str, article_id: int, owner_id: int) -> tuple[str, str]:
    """(status-store key, reason) for an article whose code another article already uses."""
    return (f"<duplicate code {sku}: TotalGest article {article_id}>",
            f"code {sku} is also used by TotalGest article {owner_id}, which feeds the product: "
            f"give article {article_id} a code of its own")


@dataclass
class _PageInFlight:
    next_cursor: str | None
    outcome: Outcome
    task: asyncio.Task | None
    skus: set[str]


async def articles_phase(deps: Deps, params: ImportPassInput, progress: PassProgress,
                         reserved: dict[str, int]) -> None:
    """Walk the article pages; each written page's store writes and status PUTs overlap the next
    pages (at most ``PAGES_IN_FLIGHT``), and the resume point follows them in page order."""
    tg, shop = deps.totalgest, params.shop_id
    vat_rates = [v.rate for v in await tg.list_vat_codes()]
    since = None if params.full else params.articles_since
    in_flight: deque[_PageInFlight] = deque()

    async def settle_oldest() -> None:
        page = in_flight[0]
        if page.task is not None:
            await page.task
        in_flight.popleft()
        merge(progress, page.outcome)
        progress.cursor = page.next_cursor
        beat(progress)

    async def before_links(keys: set[str]) -> None:
        # A page whose articles share a key with a page still being stored waits for it: it must
        # find that page's links (a code already taken, a status already sent) as it did when
        # pages ran one by one.
        if any(page.skus & keys for page in in_flight):
            while in_flight:
                await settle_oldest()

    pages = read_ahead(tg.iter_articles(updated_since=since, cursor=progress.cursor,
                                        limit=deps.settings.products.article_page_size))
    try:
        async with contextlib.aclosing(pages):
            async for page in pages:
                outcome = await article_page(deps, shop, page.items, vat_rates, reserved, params.started_at,
                                             before_links)
                # Its links, then its status PUTs, while the next page is read, mapped and written.
                task = asyncio.create_task(store_page(deps, shop, outcome)) if outcome.seen else None
                in_flight.append(_PageInFlight(page.next_cursor, outcome, task, set(outcome.seen)))
                while len(in_flight) > PAGES_IN_FLIGHT:
                    await settle_oldest()
        while in_flight:
            await settle_oldest()
    except Exception:
        # Reading or writing a later page failed: the pages before it that get stored and
        # whose PUTs go through still count and move the resume point, as when pages ran one by one.
        try:
            while in_flight:
                await settle_oldest()
        except Exception:
            pass  # the first failure is the one reported; the rest is retried from here
        raise
    finally:
        # Cancelled, or a page's PUTs failed: unconfirmed PUTs leave their links pending, and the
        # retried attempt resumes before their page and sends them again.
        tasks = [page.task for page in in_flight if page.task is not None and not page.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    advance(progress, "statuses")


async def store_page(deps: Deps, shop: str, outcome: Outcome) -> None:
    """A written page's links (``pending`` where a status PUT follows), its SKUs marked seen by
    this pass (a --full walk drafts only what it did not see, the retry phase skips these),
    then its status PUTs. A worker that dies before the links are stored re-writes the page
    on resume: Framework360 answers ``duplicate_sku`` for what it created, and the products
    are found and linked again."""
    await deps.db(pstore.save_page, deps.store, shop, outcome.changes, outcome.seen, utcnow())
    await send_statuses(deps, shop, outcome.puts)


async def article_page(deps: Deps, shop: str, articles: list[Article], vat_rates: list[Decimal],
                       reserved: dict[str, int], started_at: datetime, before_links=None) -> Outcome:
    """Map, compare and write one page; storing its links and its status PUTs are left to the caller."""
    outcome = Outcome()
    outcome.counts.articles_read = len(articles)
    mapped: dict[str, tuple[MappedProduct, int]] = {}
    bad: dict[str, tuple[str, int]] = {}
    for article in articles:
        try:
            product = map_article(article, vat_rates)
        except MappingError as exc:
            key = exc.sku or no_code_key(article.id)
            bad[key] = (exc.reason, article.id)
            mapped.pop(key, None)
            continue
        prior = mapped.get(product.sku)
        if prior is not None and prior[1] != article.id:
            key, reason = duplicate_code(product.sku, article.id, prior[1])
            bad[key] = (reason, article.id)
            continue
        mapped[product.sku] = (product, article.id)
        bad.pop(product.sku, None)
    if before_links is not None:
        await before_links({*mapped, *bad})
    links = await deps.db(pstore.load_links, deps.store, shop, [*mapped, *bad])
    # A code already taken in this pass by another article (on an earlier page): TotalGest
    # does not keep codes unique, so the first article keeps the SKU and the other one is named.
    for sku, (product, article_id) in list(mapped.items()):
        link = links.get(sku)
        if (link is not None and link.tg_article_id not in (None, article_id)
                and link.last_seen_at is not None and link.last_seen_at >= started_at):
            key, reason = duplicate_code(sku, article_id, link.tg_article_id)
            bad[key] = (reason, article_id)
            del mapped[sku]

    # Articles that cannot be mapped: recorded as errors with their reason, the rest goes on.
    for key, (reason, article_id) in bad.items():
        link = links.get(key)
        outcome.counts.errors += 1
        outcome.errors.append(f"{key}: {reason}")
        outcome.changes[key] = {"status": "error", "last_error": reason, "tg_article_id": article_id,
                                "attempts": (link.attempts if link else 0) + 1, "last_seen_at": utcnow(),
                                "retry_json": None}
        if link and link.f360_product_id and (link.status != "error" or link.last_error != reason):
            outcome.put(key, link.f360_product_id, status("error", article_id, reason))

    items = [make_item(deps, product, article_id, links.get(sku), reserved)
             for sku, (product, article_id) in mapped.items()]
    written = await write(deps, shop, items)
    outcome.counts.add(written.counts)
    outcome.errors.extend(written.errors)
    outcome.changes.update(written.changes)
    outcome.puts.extend(written.puts)
    outcome.seen = [*mapped, *bad]
    return outcome
