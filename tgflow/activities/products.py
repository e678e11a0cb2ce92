"""Product import activities: TotalGest articles and stock -> Framework360 products.

One long, heartbeating activity (``import_products_pass``) does a whole pass and
streams: it never holds more than one TotalGest page (≤ 500 articles / ≤ 1000
stock rows) and its links in memory. After each page it heartbeats its resume
point; a retry (after a 5xx, timeout, 429, worker crash) continues from
``activity.info().heartbeat_details`` instead of starting over. Every step is
idempotent: re-processing a page finds the links already written and writes
nothing again.

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
4. ``retry`` - products Framework360 refused in an earlier run, from the mapped
   content kept on their link.
5. ``flush`` - stock-only updates of linked products still ``stock_dirty``.
6. ``draft`` (``--full`` only) - published products whose article the walk did not
   see are set to ``draft`` (never deleted).

The integration status (``integrations/totalgest``, the product list's status
column) is written only for products whose status changes, so an unchanged
catalog costs zero writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tgflow import metrics
from tgflow.activities.deps import Deps
from tgflow.clients.errors import ApiError, PermanentError, RateLimitedError
from tgflow.clients.framework360 import MAX_BATCH, IntegrationStatus, ProductUpdate
from tgflow.clients.totalgest import Article
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

#: How many error reasons travel in activity results and reports (all are in the store).
MAX_ERROR_SAMPLES = 20
STATUS_PUT_CONCURRENCY = 8
PHASES = ("reserved", "stock", "articles", "retry", "flush", "draft", "done")


# ---- activity inputs / outputs ----------------------------------------------------------------------------------

class BeginImportInput(BaseModel):
    shop_id: str
    workflow_id: str
    run_id: str
    started_at: AwareDatetime


class BeginImportResult(BaseModel):
    articles_since: AwareDatetime | None = None
    stock_since: AwareDatetime | None = None
    #: Set when this run must not import: another import of the shop is running (its workflow id).
    skipped_for: str | None = None


class ImportCounts(BaseModel):
    articles_read: int = 0
    stock_rows_read: int = 0
    created: int = 0
    updated: int = 0
    stock_updated: int = 0
    unchanged: int = 0
    drafted: int = 0
    errors: int = 0

    def add(self, other: "ImportCounts") -> None:
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class ImportPassInput(BaseModel):
    shop_id: str
    full: bool = False
    #: The run's start (workflow time): the full walk drafts what it did not see after it.
    started_at: AwareDatetime
    articles_since: AwareDatetime | None = None
    stock_since: AwareDatetime | None = None


class PassProgress(BaseModel):
    """The heartbeat: where a retried attempt resumes, and the counts so far."""

    phase: str = "reserved"
    cursor: str | None = None
    after_id: int = 0
    counts: ImportCounts = Field(default_factory=ImportCounts)
    error_samples: list[str] = Field(default_factory=list)


class ImportPassResult(BaseModel):
    counts: ImportCounts
    error_samples: list[str] = Field(default_factory=list)


class FinishImportInput(BaseModel):
    shop_id: str
    workflow_id: str
    run_id: str
    started_at: AwareDatetime
    succeeded: bool
    full: bool = False
    counts: ImportCounts = Field(default_factory=ImportCounts)
    error_samples: list[str] = Field(default_factory=list)
    failure: str | None = None


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
class _Outcome:
    counts: ImportCounts = field(default_factory=ImportCounts)
    errors: list[str] = field(default_factory=list)


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
            async for page in tg.iter_stock(updated_since=since, cursor=progress.cursor,
                                            limit=settings.stock_page_size):
                rows = [pstore.StockRow(sku=r.article_code, article_id=r.article_id, warehouse=r.warehouse_id,
                                        available=r.available) for r in page.items if r.article_code]
                await self.deps.db(pstore.apply_stock_rows, self.deps.store, shop, rows, self._warehouses, reserved)
                progress.counts.stock_rows_read += len(page.items)
                progress.cursor = page.next_cursor
                self._beat(progress)
            self._advance(progress, "articles")

        if progress.phase == "articles":
            vat_rates = [v.rate for v in await tg.list_vat_codes()]
            since = None if params.full else params.articles_since
            async for page in tg.iter_articles(updated_since=since, cursor=progress.cursor,
                                               limit=settings.article_page_size):
                outcome = await self._article_page(shop, page.items, vat_rates, reserved, params.started_at)
                self._merge(progress, outcome)
                progress.cursor = page.next_cursor
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
                self._merge(progress, await self._write(shop, items))
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

    async def _article_page(self, shop: str, articles: list[Article], vat_rates: list[Decimal],
                            reserved: dict[str, int], started_at: datetime) -> _Outcome:
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
        changes: dict[str, dict[str, Any]] = {}
        statuses: list[tuple[int, IntegrationStatus]] = []
        for key, (reason, article_id) in bad.items():
            link = links.get(key)
            outcome.counts.errors += 1
            outcome.errors.append(f"{key}: {reason}")
            changes[key] = {"status": "error", "last_error": reason, "tg_article_id": article_id,
                            "attempts": (link.attempts if link else 0) + 1, "last_seen_at": utcnow(),
                            "retry_json": None}
            if link and link.f360_product_id and (link.status != "error" or link.last_error != reason):
                statuses.append((link.f360_product_id, _status("error", article_id, reason)))
        await self.deps.db(pstore.save_links, self.deps.store, shop, changes)
        await self._put_statuses(statuses)

        items = [self._item(product, article_id, links.get(sku), reserved)
                 for sku, (product, article_id) in mapped.items()]
        written = await self._write(shop, items)
        outcome.counts.add(written.counts)
        outcome.errors.extend(written.errors)
        # Seen by this pass: a --full walk drafts only what it did not see, the retry phase skips these.
        await self.deps.db(pstore.mark_seen, self.deps.store, shop, [*mapped, *bad], utcnow())
        return outcome

    async def _write(self, shop: str, items: list[_Item]) -> _Outcome:
        """Create / update / skip each item, record links and statuses. ≤ 100 per batch call."""
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

        changes: dict[str, dict[str, Any]] = {}
        statuses: list[tuple[int, IntegrationStatus]] = []
        for item in untouched:
            outcome.counts.unchanged += 1
            link = item.link
            assert link is not None
            if link.status != "linked" or link.stock_dirty or link.retry_json:
                changes[item.mapped.sku] = self._linked_values(item, link.f360_product_id)
                if link.status != "linked":
                    statuses.append((link.f360_product_id, _status("linked", item.tg_article_id)))

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
                self._record(item, result.id, result.error, "created", outcome, changes, statuses)
            for (item, _, kind), result in zip(u_chunk, response.update):
                if result.error and result.error.error == "not_found":
                    second_creates.append(item)
                    continue
                self._record(item, result.id, result.error, kind, outcome, changes, statuses)
        for start in range(0, max(len(second_creates), len(second_updates)), MAX_BATCH):
            c_chunk = second_creates[start:start + MAX_BATCH]
            u_chunk = second_updates[start:start + MAX_BATCH]
            response = await self.deps.framework360.batch_products(
                create=[i.mapped.to_input(i.stock) for i in c_chunk], update=[u for _, u, _ in u_chunk])
            for item, result in zip(c_chunk, response.create):
                self._record(item, result.id, result.error, "created", outcome, changes, statuses)
            for (item, _, kind), result in zip(u_chunk, response.update):
                self._record(item, result.id, result.error, kind, outcome, changes, statuses)

        await self.deps.db(pstore.save_links, self.deps.store, shop, changes)
        await self._put_statuses(statuses)
        return outcome

    def _linked_values(self, item: _Item, product_id: int | None) -> dict[str, Any]:
        now = utcnow()
        return {"f360_product_id": product_id, "tg_article_id": item.tg_article_id, "status": "linked",
                "content_hash": item.fp, "field_hashes_json": json.dumps(item.hashes, sort_keys=True),
                "stock_quantity": item.stock, "reserved_quantity": item.reserved, "stock_dirty": False,
                "active": item.mapped.status == "published", "last_error": None, "attempts": 0,
                "retry_json": None, "last_synced_at": now}

    def _record(self, item: _Item, product_id: int | None, error: Any, kind: str, outcome: _Outcome,
                changes: dict[str, dict[str, Any]], statuses: list[tuple[int, IntegrationStatus]]) -> None:
        link = item.link
        sku = item.mapped.sku
        if error is None:
            pid = product_id or (link.f360_product_id if link else None)
            changes[sku] = self._linked_values(item, pid)
            counter = "updated" if kind == "relinked" else kind
            setattr(outcome.counts, counter, getattr(outcome.counts, counter) + 1)
            if link is None or link.status != "linked" or link.f360_product_id != pid:
                if pid is not None:
                    statuses.append((pid, _status("linked", item.tg_article_id)))
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
            statuses.append((pid, _status("error", item.tg_article_id, reason)))

    async def _put_statuses(self, statuses: list[tuple[int, IntegrationStatus]]) -> None:
        """Set the status column of products whose status changed (bounded concurrency)."""
        if not statuses:
            return
        semaphore = asyncio.Semaphore(STATUS_PUT_CONCURRENCY)
        f360 = self.deps.framework360

        async def put(product_id: int, status: IntegrationStatus) -> None:
            async with semaphore:
                await f360.set_product_status(product_id, status)

        for start in range(0, len(statuses), 100):
            await asyncio.gather(*(put(pid, st) for pid, st in statuses[start:start + 100]))

    # ---- stock-only and draft writes -------------------------------------------------------------------------------

    async def _flush_stock(self, shop: str, links: list[ProductLink]) -> _Outcome:
        outcome = _Outcome()
        changes: dict[str, dict[str, Any]] = {}
        statuses: list[tuple[int, IntegrationStatus]] = []
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
                    statuses.append((link.f360_product_id, _status("error", link.tg_article_id, reason)))
        await self.deps.db(pstore.save_links, self.deps.store, shop, changes)
        await self._put_statuses(statuses)
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


def manual_import_id(shop_id: str) -> str:
    """The one workflow id of manual imports (``tgflow import-products``): starting another joins it."""
    return f"product-import-{shop_id}-manual"


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
