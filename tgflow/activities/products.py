"""Product import activities: TotalGest articles and stock -> Framework360 products.

One long, heartbeating activity (``import_products_pass``) does a whole pass and
streams: it holds a bounded number of TotalGest pages (≤ 500 articles / ≤ 1000 stock
rows each: the one being written, the next one already requested, and at most
``PAGES_IN_FLIGHT`` written ones whose links and status PUTs are still going on) and
their links in memory. After each page it heartbeats its resume point; a retry (after
a 5xx, timeout, 429, worker crash) continues from ``activity.info().heartbeat_details``
instead of starting over. Every step is idempotent: re-processing a page finds the
links already written and writes nothing again.

Phases of a pass, in order:

1. ``reserved`` - units sold in *completed* Framework360 orders that TotalGest does
   not know yet (integration status not ``linked`` in Framework360 and not ``linked``
   in the status store). Choice: computed here from Framework360 (completed orders
   updated in the last ``products.reserve_lookback_days``, at most
   ``products.reserve_max_orders``, each fetched once for its line items) because
   ``OrderLink`` rows carry no line quantities. Kept in memory (bounded by the
   export backlog) and stored per link as ``reserved_quantity``.
2. ``stock`` - ``/stock`` rows changed since the stock cursor: warehouse levels are
   stored per link; a link whose sellable stock changed becomes ``stock_dirty``.
3. ``articles`` - ``/articles`` changed since the articles cursor (``--full``: all):
   map, compare fingerprints, create / update only changed fields / skip, in
   ``/products/batch`` calls of ≤ 100 creates + ≤ 100 updates.
4. ``statuses`` - status PUTs an earlier pass stored as ``pending`` but never
   confirmed (it failed for good after storing its links): sent again.
5. ``retry`` - products Framework360 refused in an earlier run, from the mapped
   content kept on their link.
6. ``flush`` - stock-only updates of linked products still ``stock_dirty``.
7. ``draft`` (``--full`` only) - published products whose article the walk did not
   see are set to ``draft`` (never deleted).

The integration status (``integrations/totalgest``, the product list's status
column) is written only for products whose status changes, so an unchanged
catalog costs zero writes. The contract has one PUT per product for it, so a full
import of a new catalog sends one per article. In the ``articles`` phase a written
page's store writes and status PUTs run in the background while the next pages are
read, mapped and written (at most ``PAGES_IN_FLIGHT`` pages; a page sharing a key
with one of them waits for it), and the heartbeat moves past a page only once its
batch writes, store writes and status PUTs are all done, in page order. A link whose
status PUT is still to be confirmed is stored as ``pending`` (everything else already
final) and set to its final status once the PUT went through: a retried attempt, or
the next run, finds it ``pending`` and sends the PUT again, so a killed worker or a
failed PUT loses none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tgflow import metrics
from tgflow.activities.deps import Deps
from tgflow.clients.errors import ApiError, NotFoundError, PermanentError, RateLimitedError
from tgflow.clients.framework360 import MAX_BATCH, STATUS_PUT_CONCURRENCY, IntegrationStatus, ProductUpdate
from tgflow.clients.totalgest import Article
from tgflow.contracts.ids import manual_import_id
from tgflow.contracts.products import (
    BeginImportInput,
    BeginImportResult,
    FinishImportInput,
    ImportCounts,
    ImportPassInput,
    ImportPassResult,
    PassProgress,
)
from tgflow.mapping.products import (
    CONTENT_FIELDS,
    MappedProduct,
    MappingError,
    changed_fields,
    field_hashes,
    fingerprint,
    map_article,
    reserved_quantities,
    sellable_stock,
)
from tgflow.store import products as pstore
from tgflow.store.models import OrderLink, ProductLink, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How many error reasons travel in activity results and reports (all are in the store).
MAX_ERROR_SAMPLES = 20
#: Written article pages whose links and status PUTs may still be going on while the next page is written.
PAGES_IN_FLIGHT = 2


# ---- helpers ----------------------------------------------------------------------------------------------------

def _as_application_error(exc: ApiError) -> BaseException:
    """Permanent API errors fail the activity for good; 429 retries after its Retry-After."""
    if isinstance(exc, RateLimitedError):
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        return ApplicationError(str(exc), type="RateLimited", next_retry_delay=delay)
    if isinstance(exc, PermanentError):
        return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True)
    return exc


def _no_code_key(article_id: int) -> str:
    return f"<no code: TotalGest article {article_id}>"


def _duplicate_code(sku: str, article_id: int, owner_id: int) -> tuple[str, str]:
    """(status-store key, reason) for an article whose code another article already uses."""
    return (f"<duplicate code {sku}: TotalGest article {article_id}>",
            f"code {sku} is also used by TotalGest article {owner_id}, which feeds the product: "
            f"give article {article_id} a code of its own")


@dataclass
class _Item:
    """One product to bring in line: mapped content + where it stands."""

    mapped: MappedProduct
    tg_article_id: int | None
    link: ProductLink | None
    stock: int
    reserved: int
    hashes: dict[str, str] = field(default_factory=dict)
    fp: str = ""


@dataclass
class _StatusPut:
    """One status-column write; its link is stored ``pending`` until the PUT is confirmed."""

    sku: str
    product_id: int
    status: IntegrationStatus


@dataclass
class _Outcome:
    counts: ImportCounts = field(default_factory=ImportCounts)
    errors: list[str] = field(default_factory=list)
    #: Link values to store (by SKU) and the status PUTs still to send after storing them.
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    puts: list[_StatusPut] = field(default_factory=list)
    #: Keys (SKUs) of the articles of a page, to mark seen by this pass once its links are stored.
    seen: list[str] = field(default_factory=list)

    def put(self, sku: str, product_id: int, status: IntegrationStatus) -> None:
        self.changes[sku]["status"] = "pending"
        self.puts.append(_StatusPut(sku, product_id, status))


@dataclass
class _PageInFlight:
    next_cursor: str | None
    outcome: _Outcome
    task: asyncio.Task | None
    skus: set[str]


class ProductActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @property
    def _warehouses(self) -> list[str] | None:
        return self.deps.settings.totalgest.warehouses

    # ---- begin / finish ------------------------------------------------------------------------------------------

    @activity.defn(name="product_import_begin")
    async def begin_import(self, params: BeginImportInput) -> BeginImportResult:
        """Record the run and read the cursors (what changed since the last successful pass).

        A scheduled run while a manual one is going steps aside: two passes would do the same work and
        race on the cursors (the schedule's SKIP policy only knows its own runs)."""
        manual = manual_import_id(params.shop_id)
        if params.workflow_id != manual and await _is_running(manual):
            return BeginImportResult(skipped_for=manual)
        await self.deps.db(pstore.start_run, self.deps.store, params.shop_id, params.workflow_id, params.run_id,
                           params.started_at)
        articles = await self.deps.db(pstore.get_cursor, self.deps.store, params.shop_id, pstore.ARTICLES_CURSOR)
        stock = await self.deps.db(pstore.get_cursor, self.deps.store, params.shop_id, pstore.STOCK_CURSOR)
        return BeginImportResult(articles_since=articles, stock_since=stock)

    @activity.defn(name="product_import_finish")
    async def finish_import(self, params: FinishImportInput) -> None:
        """Close the run; after a successful pass move both cursors to its start minus the overlap."""
        store, shop = self.deps.store, params.shop_id
        if params.succeeded:
            overlap = timedelta(seconds=self.deps.settings.products.cursor_overlap_seconds)
            value = params.started_at.astimezone(timezone.utc) - overlap
            await self.deps.db(pstore.set_cursor, store, shop, pstore.ARTICLES_CURSOR, value)
            await self.deps.db(pstore.set_cursor, store, shop, pstore.STOCK_CURSOR, value)
        errors = list(params.error_samples)
        if params.failure:
            errors.insert(0, params.failure)
        counts = params.counts.model_dump() | {"full": params.full}
        await self.deps.db(pstore.finish_run, store, shop, params.workflow_id, params.run_id,
                           "completed" if params.succeeded else "failed", params.started_at, counts, errors)
        _record_metrics(params)

    # ---- the pass --------------------------------------------------------------------------------------------------

    @activity.defn(name="product_import_pass")
    async def import_products_pass(self, params: ImportPassInput) -> ImportPassResult:
        details = activity.info().heartbeat_details
        progress = PassProgress.model_validate(details[0]) if details else PassProgress()
        if details:
            activity.logger.info("resuming product import at phase %s", progress.phase)
        try:
            await self._run_pass(params, progress)
        except ApiError as exc:
            converted = _as_application_error(exc)
            if converted is exc:
                raise
            raise converted from None
        return ImportPassResult(counts=progress.counts, error_samples=progress.error_samples)

    def _beat(self, progress: PassProgress) -> None:
        activity.heartbeat(progress.model_dump(mode="json"))

    def _merge(self, progress: PassProgress, outcome: _Outcome) -> None:
        progress.counts.add(outcome.counts)
        room = MAX_ERROR_SAMPLES - len(progress.error_samples)
        if room > 0:
            progress.error_samples.extend(outcome.errors[:room])

    def _advance(self, progress: PassProgress, phase: str) -> None:
        progress.phase, progress.cursor, progress.after_id = phase, None, 0
        self._beat(progress)

    async def _run_pass(self, params: ImportPassInput, progress: PassProgress) -> None:
        tg = self.deps.totalgest
        settings = self.deps.settings.products
        shop = params.shop_id
        self._beat(progress)
        # The reserved quantities are recomputed on every attempt (cheap, bounded) and used by all phases.
        reserved = await self._reserved_quantities()
        if progress.phase == "reserved":
            await self.deps.db(pstore.apply_reserved, self.deps.store, shop, reserved, self._warehouses)
            self._advance(progress, "stock")

        if progress.phase == "stock":
            since = None if params.full else params.stock_since
            async with contextlib.aclosing(_read_ahead(tg.iter_stock(
                    updated_since=since, cursor=progress.cursor, limit=settings.stock_page_size))) as pages:
                async for page in pages:
                    rows = [pstore.StockRow(sku=r.article_code, article_id=r.article_id, warehouse=r.warehouse_id,
                                            available=r.available) for r in page.items if r.article_code]
                    await self.deps.db(pstore.apply_stock_rows, self.deps.store, shop, rows, self._warehouses,
                                       reserved)
                    progress.counts.stock_rows_read += len(page.items)
                    progress.cursor = page.next_cursor
                    self._beat(progress)
            self._advance(progress, "articles")

        if progress.phase == "articles":
            await self._articles_phase(params, progress, reserved)
            self._advance(progress, "statuses")

        if progress.phase == "statuses":
            # Links an earlier pass stored but whose status PUT it never confirmed (it failed for good, or
            # gave up, after storing them) are still ``pending``: an incremental run would not meet them
            # again unless their article changes, so their PUTs are sent here.
            while True:
                links = await self.deps.db(_unconfirmed_page, self.deps.store, shop, progress.after_id, MAX_BATCH)
                if not links:
                    break
                await self._resend_statuses(shop, links)
                progress.after_id = links[-1].id
                self._beat(progress)
            self._advance(progress, "retry")

        if progress.phase == "retry":
            while True:
                links = await self.deps.db(_retry_page, self.deps.store, shop, params.started_at,
                                           progress.after_id, MAX_BATCH)
                if not links:
                    break
                items = [self._item(MappedProduct.from_json(link.retry_json), link.tg_article_id, link, reserved)
                         for link in links]
                written = await self._write(shop, items)
                await self.deps.db(pstore.save_links, self.deps.store, shop, written.changes)
                await self._send_statuses(shop, written.puts)
                self._merge(progress, written)
                progress.after_id = links[-1].id
                self._beat(progress)
            self._advance(progress, "flush")

        if progress.phase == "flush":
            while True:
                links = await self.deps.db(pstore.dirty_stock_page, self.deps.store, shop, progress.after_id,
                                           MAX_BATCH)
                if not links:
                    break
                self._merge(progress, await self._flush_stock(shop, links))
                progress.after_id = links[-1].id
                self._beat(progress)
            self._advance(progress, "draft" if params.full else "done")

        if progress.phase == "draft":
            while True:
                links = await self.deps.db(pstore.unseen_page, self.deps.store, shop, params.started_at,
                                           progress.after_id, MAX_BATCH)
                if not links:
                    break
                self._merge(progress, await self._draft(shop, links))
                progress.after_id = links[-1].id
                self._beat(progress)
            self._advance(progress, "done")

    # ---- reserved stock ---------------------------------------------------------------------------------------------

    async def _reserved_quantities(self) -> dict[str, int]:
        """Units in completed shop orders that TotalGest has not registered yet, per SKU."""
        settings = self.deps.settings.products
        f360 = self.deps.framework360
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
        linked = await self.deps.db(_linked_order_ids, self.deps.store, self.deps.shop_id, candidates)
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

    # ---- articles ----------------------------------------------------------------------------------------------------

    def _item(self, mapped: MappedProduct, tg_article_id: int | None, link: ProductLink | None,
              reserved: dict[str, int]) -> _Item:
        levels = json.loads(link.stock_json) if link and link.stock_json else {}
        qty = reserved.get(mapped.sku, 0)
        return _Item(mapped=mapped, tg_article_id=tg_article_id, link=link,
                     stock=sellable_stock(levels, self._warehouses, qty), reserved=qty,
                     hashes=field_hashes(mapped), fp=fingerprint(mapped))

    async def _articles_phase(self, params: ImportPassInput, progress: PassProgress, reserved: dict[str, int]) -> None:
        """Walk the article pages; each written page's store writes and status PUTs overlap the next
        pages (at most ``PAGES_IN_FLIGHT``), and the resume point follows them in page order."""
        tg, shop = self.deps.totalgest, params.shop_id
        vat_rates = [v.rate for v in await tg.list_vat_codes()]
        since = None if params.full else params.articles_since
        in_flight: deque[_PageInFlight] = deque()

        async def settle_oldest() -> None:
            page = in_flight[0]
            if page.task is not None:
                await page.task
            in_flight.popleft()
            self._merge(progress, page.outcome)
            progress.cursor = page.next_cursor
            self._beat(progress)

        async def before_links(keys: set[str]) -> None:
            # A page whose articles share a key with a page still being stored waits for it: it must
            # find that page's links (a code already taken, a status already sent) as it did when
            # pages ran one by one.
            if any(page.skus & keys for page in in_flight):
                while in_flight:
                    await settle_oldest()

        pages = _read_ahead(tg.iter_articles(updated_since=since, cursor=progress.cursor,
                                             limit=self.deps.settings.products.article_page_size))
        try:
            async with contextlib.aclosing(pages):
                async for page in pages:
                    outcome = await self._article_page(shop, page.items, vat_rates, reserved, params.started_at,
                                                       before_links)
                    # Its links, then its status PUTs, while the next page is read, mapped and written.
                    task = asyncio.create_task(self._store_page(shop, outcome)) if outcome.seen else None
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

    async def _store_page(self, shop: str, outcome: _Outcome) -> None:
        """A written page's links (``pending`` where a status PUT follows), its SKUs marked seen by
        this pass (a --full walk drafts only what it did not see, the retry phase skips these),
        then its status PUTs. A worker that dies before the links are stored re-writes the page
        on resume: Framework360 answers ``duplicate_sku`` for what it created, and the products
        are found and linked again."""
        await self.deps.db(_save_page, self.deps.store, shop, outcome.changes, outcome.seen, utcnow())
        await self._send_statuses(shop, outcome.puts)

    async def _article_page(self, shop: str, articles: list[Article], vat_rates: list[Decimal],
                            reserved: dict[str, int], started_at: datetime, before_links=None) -> _Outcome:
        """Map, compare and write one page; storing its links and its status PUTs are left to the caller."""
        outcome = _Outcome()
        outcome.counts.articles_read = len(articles)
        mapped: dict[str, tuple[MappedProduct, int]] = {}
        bad: dict[str, tuple[str, int]] = {}
        for article in articles:
            try:
                product = map_article(article, vat_rates)
            except MappingError as exc:
                key = exc.sku or _no_code_key(article.id)
                bad[key] = (exc.reason, article.id)
                mapped.pop(key, None)
                continue
            prior = mapped.get(product.sku)
            if prior is not None and prior[1] != article.id:
                key, reason = _duplicate_code(product.sku, article.id, prior[1])
                bad[key] = (reason, article.id)
                continue
            mapped[product.sku] = (product, article.id)
            bad.pop(product.sku, None)
        if before_links is not None:
            await before_links({*mapped, *bad})
        links = await self.deps.db(pstore.load_links, self.deps.store, shop, [*mapped, *bad])
        # A code already taken in this pass by another article (on an earlier page): TotalGest
        # does not keep codes unique, so the first article keeps the SKU and the other one is named.
        for sku, (product, article_id) in list(mapped.items()):
            link = links.get(sku)
            if (link is not None and link.tg_article_id not in (None, article_id)
                    and link.last_seen_at is not None and link.last_seen_at >= started_at):
                key, reason = _duplicate_code(sku, article_id, link.tg_article_id)
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
                outcome.put(key, link.f360_product_id, _status("error", article_id, reason))

        items = [self._item(product, article_id, links.get(sku), reserved)
                 for sku, (product, article_id) in mapped.items()]
        written = await self._write(shop, items)
        outcome.counts.add(written.counts)
        outcome.errors.extend(written.errors)
        outcome.changes.update(written.changes)
        outcome.puts.extend(written.puts)
        outcome.seen = [*mapped, *bad]
        return outcome

    async def _write(self, shop: str, items: list[_Item]) -> _Outcome:
        """Create / update / skip each item (≤ 100 per batch call); the links to store and the
        status PUTs to send come back in the outcome."""
        outcome = _Outcome()
        creates: list[_Item] = []
        updates: list[tuple[_Item, ProductUpdate, str]] = []
        untouched: list[_Item] = []
        for item in items:
            link = item.link
            if link is None or link.f360_product_id is None:
                creates.append(item)
                continue
            old = json.loads(link.field_hashes_json) if link.field_hashes_json else None
            changed = [] if link.content_hash == item.fp else changed_fields(old, item.hashes)
            stock_changed = link.stock_quantity != item.stock
            if changed:
                updates.append((item, item.mapped.to_update(link.f360_product_id, changed,
                                                           item.stock if stock_changed else None), "updated"))
            elif stock_changed:
                updates.append((item, item.mapped.to_update(link.f360_product_id, (), item.stock), "stock_updated"))
            else:
                untouched.append(item)

        for item in untouched:
            outcome.counts.unchanged += 1
            link = item.link
            assert link is not None
            if link.status != "linked" or link.stock_dirty or link.retry_json:
                outcome.changes[item.mapped.sku] = self._linked_values(item, link.f360_product_id)
                if link.status != "linked":
                    outcome.put(item.mapped.sku, link.f360_product_id, _status("linked", item.tg_article_id))

        # First round; duplicates (a product that already has the SKU, e.g. after a lost store) and
        # vanished products (deleted in Framework360) are resolved and sent again in a second round.
        second_updates: list[tuple[_Item, ProductUpdate, str]] = []
        second_creates: list[_Item] = []
        for start in range(0, max(len(creates), len(updates)), MAX_BATCH):
            c_chunk = creates[start:start + MAX_BATCH]
            u_chunk = updates[start:start + MAX_BATCH]
            response = await self.deps.framework360.batch_products(
                create=[i.mapped.to_input(i.stock) for i in c_chunk], update=[u for _, u, _ in u_chunk])
            for item, result in zip(c_chunk, response.create):
                if result.error and result.error.error == "duplicate_sku":
                    existing = await self.deps.framework360.find_product(item.mapped.sku)
                    if existing is not None:
                        second_updates.append((item, item.mapped.to_update(existing.id, CONTENT_FIELDS, item.stock),
                                               "relinked"))
                        continue
                self._record(item, result.id, result.error, "created", outcome)
            for (item, _, kind), result in zip(u_chunk, response.update):
                if result.error and result.error.error == "not_found":
                    second_creates.append(item)
                    continue
                self._record(item, result.id, result.error, kind, outcome)
        for start in range(0, max(len(second_creates), len(second_updates)), MAX_BATCH):
            c_chunk = second_creates[start:start + MAX_BATCH]
            u_chunk = second_updates[start:start + MAX_BATCH]
            response = await self.deps.framework360.batch_products(
                create=[i.mapped.to_input(i.stock) for i in c_chunk], update=[u for _, u, _ in u_chunk])
            for item, result in zip(c_chunk, response.create):
                self._record(item, result.id, result.error, "created", outcome)
            for (item, _, kind), result in zip(u_chunk, response.update):
                self._record(item, result.id, result.error, kind, outcome)
        return outcome

    def _linked_values(self, item: _Item, product_id: int | None) -> dict[str, Any]:
        now = utcnow()
        return {"f360_product_id": product_id, "tg_article_id": item.tg_article_id, "status": "linked",
                "content_hash": item.fp, "field_hashes_json": json.dumps(item.hashes, sort_keys=True),
                "stock_quantity": item.stock, "reserved_quantity": item.reserved, "stock_dirty": False,
                "active": item.mapped.status == "published", "last_error": None, "attempts": 0,
                "retry_json": None, "last_synced_at": now}

    def _record(self, item: _Item, product_id: int | None, error: Any, kind: str, outcome: _Outcome) -> None:
        link = item.link
        sku = item.mapped.sku
        changes = outcome.changes
        if error is None:
            pid = product_id or (link.f360_product_id if link else None)
            changes[sku] = self._linked_values(item, pid)
            counter = "updated" if kind == "relinked" else kind
            setattr(outcome.counts, counter, getattr(outcome.counts, counter) + 1)
            if link is None or link.status != "linked" or link.f360_product_id != pid:
                if pid is not None:
                    outcome.put(sku, pid, _status("linked", item.tg_article_id))
            return
        reason = f"Framework360 refused it: {error.error}: {error.message}" if error.message else \
            f"Framework360 refused it: {error.error}"
        outcome.counts.errors += 1
        outcome.errors.append(f"{sku}: {reason}")
        changes[sku] = {"status": "error", "last_error": reason, "tg_article_id": item.tg_article_id,
                        "attempts": (link.attempts if link else 0) + 1, "retry_json": item.mapped.to_json(),
                        "reserved_quantity": item.reserved}
        pid = link.f360_product_id if link else None
        if pid and (link.status != "error" or link.last_error != reason):
            outcome.put(sku, pid, _status("error", item.tg_article_id, reason))

    async def _send_statuses(self, shop: str, puts: list[_StatusPut]) -> None:
        """Set the status column of products whose status changed, then confirm their links.

        Their links are already stored, as ``pending``: a PUT that fails (the activity fails or
        retries with it) or never ran (the worker died) leaves its link pending, and the next
        attempt, which resumes before that page, sends it again."""
        if not puts:
            return
        sent: list[int] = []
        try:
            await self.deps.framework360.set_product_statuses([(p.product_id, p.status) for p in puts],
                                                              concurrency=STATUS_PUT_CONCURRENCY, sent=sent)
        finally:
            # Also after a failure: what went through is confirmed, the retry sends only the rest.
            if sent:
                await self.deps.db(_confirm_statuses, self.deps.store, shop, [puts[i] for i in sent])

    async def _resend_statuses(self, shop: str, links: list[ProductLink]) -> None:
        """PUT what ``pending`` links were to show, each on its own: a product deleted in Framework360 meanwhile
        (404) must not fail every later pass, so its link is unlinked instead (the product is created again
        when its article next changes). Any other failure is raised once what went through is confirmed."""
        f360 = self.deps.framework360
        slots = asyncio.Semaphore(STATUS_PUT_CONCURRENCY)
        sent: list[_StatusPut] = []
        gone: dict[str, dict[str, Any]] = {}

        async def resend(link: ProductLink) -> None:
            put = _StatusPut(link.sku, link.f360_product_id, _intended_status(link))
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
                await self.deps.db(_confirm_statuses, self.deps.store, shop, sent)
            if gone:
                log.warning("%d product(s) no longer in Framework360, unlinked: %s", len(gone), ", ".join(gone))
                await self.deps.db(pstore.save_links, self.deps.store, shop, gone)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # ---- stock-only and draft writes -------------------------------------------------------------------------------

    async def _flush_stock(self, shop: str, links: list[ProductLink]) -> _Outcome:
        outcome = _Outcome()
        changes = outcome.changes
        todo: list[tuple[ProductLink, int]] = []
        for link in links:
            levels = json.loads(link.stock_json) if link.stock_json else {}
            stock = sellable_stock(levels, self._warehouses, link.reserved_quantity)
            if stock == link.stock_quantity:
                changes[link.sku] = {"stock_dirty": False}
            else:
                todo.append((link, stock))
        if todo:
            response = await self.deps.framework360.batch_products(
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
                    outcome.put(link.sku, link.f360_product_id, _status("error", link.tg_article_id, reason))
        await self.deps.db(pstore.save_links, self.deps.store, shop, changes)
        await self._send_statuses(shop, outcome.puts)
        return outcome

    async def _draft(self, shop: str, links: list[ProductLink]) -> _Outcome:
        """Products whose article disappeared from TotalGest become drafts (never deleted)."""
        outcome = _Outcome()
        response = await self.deps.framework360.batch_products(
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
        await self.deps.db(pstore.save_links, self.deps.store, shop, changes)
        return outcome


async def _read_ahead(pages: AsyncIterator[T]) -> AsyncIterator[T]:
    """The same pages, the next one already requested while the caller works on the current one
    (one page ahead: the TotalGest round trip overlaps the store and Framework360 writes)."""
    async with contextlib.aclosing(pages):
        ahead = asyncio.ensure_future(anext(pages))
        try:
            while True:
                try:
                    page = await ahead
                except StopAsyncIteration:
                    return
                ahead = asyncio.ensure_future(anext(pages))
                yield page
        finally:
            if not ahead.done():
                ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)


def _record_metrics(params: FinishImportInput) -> None:
    """Products per outcome and the run's duration (Prometheus, when the worker exports metrics)."""
    c = params.counts
    outcome = "failed" if not params.succeeded else "completed_with_errors" if c.errors else "completed"
    mode = "full" if params.full else "incremental"
    for name, value in (("created", c.created), ("updated", c.updated), ("stock_updated", c.stock_updated),
                        ("unchanged", c.unchanged), ("drafted", c.drafted), ("failed", c.errors)):
        metrics.count("tgflow_products", value, "Products handled by the product import, by outcome",
                      outcome=name)
    metrics.count("tgflow_product_imports", 1, "Product import runs by result", result=outcome, mode=mode)
    metrics.observe_seconds("tgflow_product_import_duration", (utcnow() - params.started_at).total_seconds(),
                            "Duration of a product import run (start to finish)", result=outcome, mode=mode)


def _status(status: str, tg_article_id: int | None, message: str | None = None) -> IntegrationStatus:
    return IntegrationStatus(status=status, remote_id=str(tg_article_id) if tg_article_id is not None else None,
                             message=message, synced_at=utcnow())


def _save_page(store, shop_id: str, changes: dict[str, dict[str, Any]], seen: list[str], at: datetime) -> None:
    """A page's links, then its SKUs marked seen by this pass (one call from the event loop)."""
    pstore.save_links(store, shop_id, changes)
    pstore.mark_seen(store, shop_id, seen, at)


def _confirm_statuses(store, shop_id: str, puts: list[_StatusPut]) -> None:
    """Links whose status PUT went through: ``pending`` becomes the status the PUT wrote."""
    import sqlalchemy as sa

    by_status: dict[str, list[str]] = {}
    for p in puts:
        by_status.setdefault(p.status.status, []).append(p.sku)
    with store.session() as s:
        for status, skus in by_status.items():
            for start in range(0, len(skus), 500):
                s.execute(sa.update(ProductLink).where(
                    ProductLink.shop_id == shop_id, ProductLink.sku.in_(skus[start:start + 500]),
                    ProductLink.status == "pending").values(status=status))


def _linked_order_ids(store, shop_id: str, order_ids: list[int]) -> set[int]:
    """Orders the status store already knows as exported (their F360 status may lag)."""
    from sqlmodel import select

    out: set[int] = set()
    with store.session() as s:
        for start in range(0, len(order_ids), 500):
            chunk = order_ids[start:start + 500]
            out.update(s.exec(select(OrderLink.f360_order_id).where(
                OrderLink.shop_id == shop_id, OrderLink.f360_order_id.in_(chunk), OrderLink.status == "linked")))
    return out


def _unconfirmed_page(store, shop_id: str, after_id: int, limit: int) -> list[ProductLink]:
    """Links stored ``pending`` whose status PUT was never confirmed, by id (a resumable order)."""
    from sqlmodel import select

    with store.session() as s:
        return list(s.exec(select(ProductLink).where(
            ProductLink.shop_id == shop_id, ProductLink.status == "pending",
            ProductLink.f360_product_id.is_not(None), ProductLink.id > after_id,
        ).order_by(ProductLink.id).limit(limit)))


def _intended_status(link: ProductLink) -> IntegrationStatus:
    """What a ``pending`` link's unconfirmed PUT was to write: a refusal keeps its reason, the rest is linked."""
    if link.last_error:
        return _status("error", link.tg_article_id, link.last_error)
    return _status("linked", link.tg_article_id)


def _retry_page(store, shop_id: str, started_at: datetime, after_id: int, limit: int) -> list[ProductLink]:
    """Products Framework360 refused earlier and that this pass has not already tried."""
    import sqlalchemy as sa
    from sqlmodel import select

    with store.session() as s:
        return list(s.exec(select(ProductLink).where(
            ProductLink.shop_id == shop_id, ProductLink.status == "error", ProductLink.retry_json.is_not(None),
            sa.or_(ProductLink.last_seen_at.is_(None), ProductLink.last_seen_at < started_at),
            ProductLink.id > after_id,
        ).order_by(ProductLink.id).limit(limit)))


async def _is_running(workflow_id: str) -> bool:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    try:
        desc = await activity.client().get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return desc.status == WorkflowExecutionStatus.RUNNING
