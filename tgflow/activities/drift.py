"""The drift report: what differs between Framework360 and TotalGest, read-only (``tgflow drift-report``,
the ``drift_report`` activity of the daily drift report schedule).

Not the order reconciliation (``OrderReconcileWorkflow``), which enqueues orders that are not linked.

What counts as drift:

* ``missing_in_totalgest`` - a completed shop order TotalGest has no order for (by ``external_ref``,
  the Framework360 number);
* ``not_linked`` - an order TotalGest has, whose Framework360 status column is not ``linked``;
* ``products`` - a product whose Framework360 price, VAT rate, EAN or stock differs from what the
  TotalGest article says (mapped by ``tgflow.mapping.products``, stock = sellable stock of the configured
  warehouses minus completed shop orders TotalGest does not have yet, by the import's own rule);
* ``only_in_totalgest`` - a valid TotalGest article without a Framework360 product;
* ``only_in_framework360`` - a published Framework360 product whose SKU no TotalGest article has.

Both catalogs are streamed page by page; only a compact index of the Framework360 side (SKU -> the
four compared values) is kept in memory. The report holds ids, numbers, SKUs and values, never customer
data. Re-driving the drift is a use case: ``tgflow.service.drift.fix``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tgflow.activities.products.reserved import reserved_stock
from tgflow.clients.framework360 import Framework360Client
from tgflow.clients.totalgest import TotalGestClient
from tgflow.config import Settings
from tgflow.contracts.ops import DriftReport, FieldDiff, OrderDrift, ProductDrift
from tgflow.mapping.products import MappingError, map_article, sellable_stock
from tgflow.store import Store
from tgflow.store.models import utcnow

#: TotalGest order look-ups running at once (one per completed shop order).
LOOKUP_CONCURRENCY = 8


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _text(value: Any) -> str | None:
    return None if value is None else format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


async def _reserved(settings: Settings, f360: Framework360Client, store=None) -> dict[str, int]:
    """Units of completed shop orders TotalGest does not know yet: the import's own rule (``reserved_stock``)."""
    if store is not None:
        return await reserved_stock(settings, f360, store)
    store = Store(settings.database_url)
    try:
        return await reserved_stock(settings, f360, store)
    finally:
        store.close()


async def _orders(report: DriftReport, settings: Settings, f360: Framework360Client,
                  tg: TotalGestClient) -> None:
    slots = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def check(ref) -> None:
        column = ref.integrations.totalgest.status if ref.integrations.totalgest else None
        number = ref.number
        async with slots:
            found = await tg.find_orders(number) if number else []
        if not found:
            report.missing_in_totalgest.append(OrderDrift(order_id=ref.id, number=number, f360_column=column))
        elif column != "linked":
            first = min(found, key=lambda o: o.id)
            report.not_linked.append(OrderDrift(order_id=ref.id, number=number, f360_column=column,
                                                tg_order_number=first.number))

    async for page in f360.iter_orders(status="completed", updated_after=report.since):
        report.orders_checked += len(page.items)
        await asyncio.gather(*(check(ref) for ref in page.items))
    report.missing_in_totalgest.sort(key=lambda d: d.order_id)
    report.not_linked.sort(key=lambda d: d.order_id)


async def _products(report: DriftReport, settings: Settings, f360: Framework360Client,
                    tg: TotalGestClient, reserved: dict[str, int]) -> None:
    # Framework360 side: a compact index, SKU -> (id, price, vat, ean, stock, status).
    index: dict[str, tuple[int, Decimal | None, Decimal | None, str | None, int | None, str]] = {}
    async for page in f360.iter_products():
        for p in page.items:
            if p.sku:
                index[p.sku] = (p.id, _dec(p.price), _dec(p.vat_rate), p.ean or None, p.stock_quantity, p.status)
    # TotalGest stock per article id and warehouse.
    levels: dict[int, dict[str, str]] = {}
    async for page in tg.iter_stock(limit=settings.products.stock_page_size):
        for row in page.items:
            levels.setdefault(row.article_id, {})[row.warehouse_id] = row.available
    vat_rates = [v.rate for v in await tg.list_vat_codes()]
    warehouses = settings.totalgest.warehouses

    async for page in tg.iter_articles(limit=settings.products.article_page_size):
        for article in page.items:
            try:
                mapped = map_article(article, vat_rates)
            except MappingError:
                report.unmappable += 1
                continue
            report.products_checked += 1
            have = index.pop(mapped.sku, None)
            if have is None:
                report.only_in_totalgest.append(mapped.sku)
                continue
            product_id, price, vat, ean, stock, _ = have
            stock_want = sellable_stock(levels.get(article.id, {}), warehouses, reserved.get(mapped.sku, 0))
            diffs = [FieldDiff(field=name, framework360=_text(got), totalgest=_text(want))
                     for name, got, want in (("price", price, mapped.price), ("vat_rate", vat, mapped.vat_rate),
                                             ("ean", ean, mapped.ean), ("stock", stock, stock_want))
                     if got != want]
            if diffs:
                report.products.append(ProductDrift(sku=mapped.sku, f360_product_id=product_id, diffs=diffs))
    report.only_in_framework360 = sorted(sku for sku, values in index.items() if values[5] == "published")
    report.only_in_totalgest.sort()
    report.products.sort(key=lambda d: d.sku)


#: Items of each kind kept in a recorded summary (the full list is one `tgflow drift-report` away).
SUMMARY_SAMPLES = 10


def summarize(report: DriftReport) -> tuple[dict[str, int], list[str]]:
    """Counts per kind and a few one-line samples, for the drift report's record and ``tgflow status``."""
    counts = {"orders_checked": report.orders_checked, "products_checked": report.products_checked,
              "missing_in_totalgest": len(report.missing_in_totalgest), "not_linked": len(report.not_linked),
              "products": len(report.products), "only_in_totalgest": len(report.only_in_totalgest),
              "only_in_framework360": len(report.only_in_framework360), "unmappable": report.unmappable,
              "drift": report.drift}
    n = SUMMARY_SAMPLES
    samples = [f"order {d.number or d.order_id}: missing in TotalGest" for d in report.missing_in_totalgest[:n]]
    samples += [f"order {d.number or d.order_id}: in TotalGest as {d.tg_order_number}, Framework360 column "
                f"{d.f360_column or 'not set'}" for d in report.not_linked[:n]]
    samples += [f"{d.sku}: " + ", ".join(f"{f.field} {f.framework360} on Framework360, {f.totalgest} in TotalGest"
                                         for f in d.diffs) for d in report.products[:n]]
    samples += [f"{sku}: no Framework360 product" for sku in report.only_in_totalgest[:n]]
    samples += [f"{sku}: published on Framework360, no TotalGest article" for sku in report.only_in_framework360[:n]]
    return counts, samples


async def build_report(settings: Settings, *, since: datetime | None = None, store=None,
                       orders: bool = True, products: bool = True) -> DriftReport:
    """Compare both systems now (read-only). ``since`` limits the orders to those updated after it."""
    report = DriftReport(since=since, checked_at=utcnow())
    async with Framework360Client(settings.f360) as f360, TotalGestClient(settings.totalgest) as tg:
        if orders:
            await _orders(report, settings, f360, tg)
        if products:
            await _products(report, settings, f360, tg, await _reserved(settings, f360, store))
    return report
