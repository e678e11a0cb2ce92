"""Status-store functions of the product import: links, stock, cursors and runs.

Blocking (SQLModel); activities call them through ``deps.db``. Portable SQL only
(SQLite and PostgreSQL): select-then-insert in one session, retried once on an
``IntegrityError`` from a concurrent insert. Everything works on bounded sets of
SKUs (one page at a time), never on the whole catalog in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from tgflow.mapping.products import sellable_stock
from tgflow.store import runs
from tgflow.store.db import Store
from tgflow.store.models import ProductLink, SyncCursor, SyncRun, utcnow

ARTICLES_CURSOR = "articles"
STOCK_CURSOR = "stock"
CURSOR_NAMES = (ARTICLES_CURSOR, STOCK_CURSOR)
RUN_KIND = "product_import"
T = TypeVar("T")
_IN_CHUNK = 500


def _chunks(items: list[T], size: int = _IN_CHUNK) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---- cursors ----------------------------------------------------------------------------------------------------

def get_cursor(store: Store, shop_id: str, name: str) -> datetime | None:
    with store.session() as s:
        row = s.get(SyncCursor, (shop_id, name))
        return row.value if row else None


def set_cursor(store: Store, shop_id: str, name: str, value: datetime | None) -> None:
    def work(s: Session) -> None:
        row = s.get(SyncCursor, (shop_id, name))
        if row is None:
            s.add(SyncCursor(shop_id=shop_id, name=name, value=value, updated_at=utcnow()))
        else:
            row.value = value
            row.updated_at = utcnow()
            s.add(row)

    store.run(work)


def reset_cursor(store: Store, shop_id: str, name: str | None = None) -> list[str]:
    """Forget one cursor (or all of the import's): the next run reads everything again."""
    names = [name] if name else list(CURSOR_NAMES)
    with store.session() as s:
        for n in names:
            row = s.get(SyncCursor, (shop_id, n))
            if row is not None:
                s.delete(row)
    return names


def list_cursors(store: Store, shop_id: str) -> list[dict[str, Any]]:
    with store.session() as s:
        rows = {r.name: r for r in s.exec(select(SyncCursor).where(SyncCursor.shop_id == shop_id))}
    return [{"name": n, "value": rows[n].value if n in rows else None,
             "updated_at": rows[n].updated_at if n in rows else None} for n in CURSOR_NAMES]


# ---- links ------------------------------------------------------------------------------------------------------

def load_links(store: Store, shop_id: str, skus: Iterable[str]) -> dict[str, ProductLink]:
    wanted = sorted(set(skus))
    out: dict[str, ProductLink] = {}
    with store.session() as s:
        for chunk in _chunks(wanted):
            for link in s.exec(select(ProductLink).where(ProductLink.shop_id == shop_id, col(ProductLink.sku).in_(chunk))):
                out[link.sku] = link
    return out


def _links_for_update(s: Session, shop_id: str, skus: list[str]) -> dict[str, ProductLink]:
    out: dict[str, ProductLink] = {}
    for chunk in _chunks(sorted(set(skus))):
        for link in s.exec(select(ProductLink).where(ProductLink.shop_id == shop_id, col(ProductLink.sku).in_(chunk))):
            out[link.sku] = link
    return out


_LINK: sa.Table = ProductLink.__table__  # type: ignore[attr-defined]
_WRITABLE = frozenset(c.name for c in _LINK.columns) - {"id"}
_STOCK_COLUMNS = [_LINK.c.id, _LINK.c.tg_article_id, _LINK.c.stock_json, _LINK.c.reserved_quantity,
                  _LINK.c.stock_quantity, _LINK.c.stock_dirty]


def _link_rows(conn: sa.Connection, shop_id: str, skus: list[str],
               columns: Sequence[sa.ColumnElement[Any]]) -> dict[str, sa.Row[Any]]:
    """``_links_for_update`` in Core: only the columns asked for, same IN chunks, same (no) row locks."""
    out: dict[str, sa.Row[Any]] = {}
    for chunk in _chunks(sorted(set(skus))):
        query = sa.select(_LINK.c.sku, *columns).where(_LINK.c.shop_id == shop_id, _LINK.c.sku.in_(chunk))
        for row in conn.execute(query):
            out[row.sku] = row
    return out


def _new_link_row(shop_id: str, **values: Any) -> dict[str, Any]:
    """Every column of a new ``ProductLink`` as the ORM would insert it (model defaults included)."""
    link = ProductLink(shop_id=shop_id, sku="", **values)
    return {c.name: getattr(link, c.name) for c in _LINK.columns if c.name != "id"}


def _changed(old: sa.Row[Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that differ from the stored ones: the ORM leaves the others out of its UPDATE, so a
    concurrent write of another column is not overwritten with the value read."""
    stored = old._mapping
    return {key: value for key, value in values.items() if stored[key] != value}


def _update_by_id(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """One executemany UPDATE by primary key (``link_id``) per set of columns written."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_columns.setdefault(tuple(sorted(row)), []).append(row)
    for batch in by_columns.values():
        conn.execute(sa.update(_LINK).where(_LINK.c.id == sa.bindparam("link_id")), batch)


def _insert(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """New links in the given order (ids are assigned as the ORM assigned them: in order of first sight)."""
    if rows:
        conn.execute(sa.insert(_LINK), rows)


class _Upserts:
    """Rows to write in one transaction: UPDATEs of the changed values of existing links, INSERTs of new ones."""

    def __init__(self, base: dict[str, Any], now: datetime) -> None:
        self.base, self.now = base, now
        self.inserts: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []

    def add(self, sku: str, old: sa.Row[Any] | None, values: Mapping[str, Any]) -> None:
        if old is None:
            self.inserts.append({**self.base, "sku": sku, **values, "updated_at": self.now})
        else:
            self.updates.append({**_changed(old, values), "updated_at": self.now, "link_id": old.id})

    def write(self, conn: sa.Connection) -> None:
        _update_by_id(conn, self.updates)
        _insert(conn, self.inserts)


def save_links(store: Store, shop_id: str, changes: Mapping[str, Mapping[str, Any]]) -> None:
    """Upsert links by SKU with the given column values (one transaction).

    Core, not ORM (a page holds ~500 links); writes what the ORM wrote: only the columns whose value
    changes, plus ``updated_at``, and new links with the model's defaults."""
    if not changes:
        return
    _check_columns(changes)
    store.run(lambda s: _save_links_in(s, shop_id, changes))


def _check_columns(changes: Mapping[str, Mapping[str, Any]]) -> None:
    unknown = {key for values in changes.values() for key in values} - _WRITABLE
    if unknown:
        raise ValueError(f"not a product link column: {', '.join(sorted(unknown))}")


def _save_links_in(s: Session, shop_id: str, changes: Mapping[str, Mapping[str, Any]]) -> None:
    if not changes:
        return
    keys = sorted({key for values in changes.values() for key in values})
    conn = s.connection()
    now = utcnow()
    existing = _link_rows(conn, shop_id, list(changes), [_LINK.c.id, *(_LINK.c[k] for k in keys)])
    rows = _Upserts(_new_link_row(shop_id), now)
    for sku, values in changes.items():
        rows.add(sku, existing.get(sku), values)
    rows.write(conn)


def _mark_seen_in(s: Session, shop_id: str, skus: Iterable[str], at: datetime) -> None:
    for chunk in _chunks(sorted(set(skus))):
        s.execute(sa.update(ProductLink).where(col(ProductLink.shop_id) == shop_id, col(ProductLink.sku).in_(chunk))
                  .values(last_seen_at=at))


def save_page(store: Store, shop_id: str, changes: Mapping[str, Mapping[str, Any]], seen: Iterable[str],
              at: datetime) -> None:
    """A written article page in one transaction: ``save_links(changes)``, then ``mark_seen(seen, at)``.

    Same end state as the two calls one after the other, with one commit instead of two, and the SKUs
    that have changes get ``last_seen_at`` in their own row of the upsert rather than in a second UPDATE
    (in a full import that is every SKU of the page)."""
    seen = set(seen)
    rows = {sku: {**values, "last_seen_at": at} if sku in seen else values for sku, values in changes.items()}
    _check_columns(rows)
    rest = seen - rows.keys()
    if not rows and not rest:
        return

    def work(s: Session) -> None:
        _save_links_in(s, shop_id, rows)
        _mark_seen_in(s, shop_id, rest, at)

    store.run(work)


def _levels(link: ProductLink) -> dict[str, str]:
    return json.loads(link.stock_json) if link.stock_json else {}


@dataclass
class StockRow:
    sku: str
    article_id: int | None
    warehouse: str
    available: str


def apply_stock_rows(store: Store, shop_id: str, rows: list[StockRow], warehouses: list[str] | None,
                     reserved: Mapping[str, int]) -> int:
    """Record warehouse levels; links whose sellable stock now differs from the stock written get
    ``stock_dirty``. Returns how many links became dirty.

    Core, not ORM: the largest store cost of a full import (a page of rows touches ~1,000 links)."""
    if not rows:
        return 0

    def work(s: Session) -> int:
        conn = s.connection()
        now = utcnow()
        by_sku: dict[str, list[StockRow]] = {}
        for row in rows:
            by_sku.setdefault(row.sku, []).append(row)
        existing = _link_rows(conn, shop_id, list(by_sku), _STOCK_COLUMNS)
        base = _new_link_row(shop_id, status="not_linked")
        upserts = _Upserts(base, now)
        dirty = 0
        for sku, sku_rows in by_sku.items():
            old = existing.get(sku)
            article_id = old.tg_article_id if old is not None else None
            levels = json.loads(old.stock_json) if old is not None and old.stock_json else {}
            for row in sku_rows:
                levels[row.warehouse] = row.available
                if article_id is None and row.article_id is not None:
                    article_id = row.article_id
            quantity = int(reserved.get(sku, 0))
            stock_quantity = old.stock_quantity if old is not None else base["stock_quantity"]
            was_dirty = bool(old.stock_dirty) if old is not None else bool(base["stock_dirty"])
            is_dirty = stock_quantity != sellable_stock(levels, warehouses, quantity)
            dirty += int(is_dirty and not was_dirty)
            values = {"tg_article_id": article_id, "stock_json": json.dumps(levels, sort_keys=True),
                      "reserved_quantity": quantity, "stock_dirty": is_dirty}
            upserts.add(sku, old, values)
        upserts.write(conn)
        return dirty

    return store.run(work)


def apply_reserved(store: Store, shop_id: str, reserved: Mapping[str, int], warehouses: list[str] | None) -> int:
    """Bring ``reserved_quantity`` of every link in line with ``reserved`` (SKUs that had a reservation
    and SKUs that have one now only); links whose sellable stock changes become dirty."""

    def work(s: Session) -> int:
        now = utcnow()
        links = {link.sku: link for link in s.exec(select(ProductLink).where(
            ProductLink.shop_id == shop_id, ProductLink.reserved_quantity != 0))}
        links.update(_links_for_update(s, shop_id, [k for k in reserved if k not in links]))
        dirty = 0
        for sku, qty in reserved.items():
            if sku not in links:
                links[sku] = ProductLink(shop_id=shop_id, sku=sku, status="not_linked", stock_json="{}")
        for sku, link in links.items():
            qty = int(reserved.get(sku, 0))
            if link.reserved_quantity == qty and link.id is not None:
                continue
            link.reserved_quantity = qty
            wanted = sellable_stock(_levels(link), warehouses, qty)
            if link.stock_quantity != wanted and not link.stock_dirty:
                dirty += 1
            link.stock_dirty = link.stock_quantity != wanted
            link.updated_at = now
            s.add(link)
        return dirty

    return store.run(work)


def dirty_stock_page(store: Store, shop_id: str, after_id: int, limit: int) -> list[ProductLink]:
    """Linked products whose sellable stock must be written, by link id (a resumable order)."""
    with store.session() as s:
        return list(s.exec(select(ProductLink).where(
            ProductLink.shop_id == shop_id, ProductLink.stock_dirty == True,  # noqa: E712
            col(ProductLink.f360_product_id).is_not(None), col(ProductLink.id) > after_id,
        ).order_by(col(ProductLink.id)).limit(limit)))


def mark_seen(store: Store, shop_id: str, skus: list[str], at: datetime) -> None:
    if not skus:
        return
    with store.session() as s:
        _mark_seen_in(s, shop_id, skus, at)


def unseen_page(store: Store, shop_id: str, since: datetime, after_id: int, limit: int) -> list[ProductLink]:
    """Published products whose article a full walk started at ``since`` did not see."""
    with store.session() as s:
        return list(s.exec(select(ProductLink).where(
            ProductLink.shop_id == shop_id, col(ProductLink.f360_product_id).is_not(None),
            ProductLink.active == True,  # noqa: E712
            sa.or_(col(ProductLink.last_seen_at).is_(None), col(ProductLink.last_seen_at) < since),
            col(ProductLink.id) > after_id,
        ).order_by(col(ProductLink.id)).limit(limit)))


def list_links(store: Store, shop_id: str, status: str | None = None, limit: int | None = None,
               offset: int = 0) -> list[ProductLink]:
    with store.session() as s:
        query = select(ProductLink).where(ProductLink.shop_id == shop_id)
        if status:
            query = query.where(ProductLink.status == status)
        query = query.order_by(ProductLink.sku).offset(offset)
        if limit:
            query = query.limit(limit)
        return list(s.exec(query))


def page_links(store: Store, shop_id: str, *, status: str | None = None, q: str | None = None,
               offset: int = 0, limit: int = 50) -> tuple[list[ProductLink], int]:
    """One page of products by SKU, filtered in the database (the console's product list), and how many
    match in all. ``q``: part of the SKU or of the name, any case."""
    query = select(ProductLink).where(ProductLink.shop_id == shop_id)
    if status:
        query = query.where(ProductLink.status == status)
    text = (q or "").strip()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(col(ProductLink.sku).ilike(pattern, escape="\\"),
                                   col(ProductLink.name).ilike(pattern, escape="\\")))
    with store.session() as s:
        total = int(s.exec(select(sa.func.count()).select_from(query.subquery())).one())
        rows = list(s.exec(query.order_by(col(ProductLink.sku)).offset(offset).limit(limit)))
    return rows, total


def count_links(store: Store, shop_id: str, status: str | None = None) -> int:
    with store.session() as s:
        query = select(sa.func.count()).select_from(ProductLink).where(ProductLink.shop_id == shop_id)
        if status:
            query = query.where(ProductLink.status == status)
        return int(s.exec(query).one())


# ---- runs -------------------------------------------------------------------------------------------------------

def start_run(store: Store, shop_id: str, workflow_id: str, run_id: str, started_at: datetime) -> None:
    runs.start_run(store, shop_id, RUN_KIND, workflow_id, run_id, started_at)


def finish_run(store: Store, shop_id: str, workflow_id: str, run_id: str, status: str, started_at: datetime,
               counts: Mapping[str, Any], errors: list[str]) -> None:
    runs.finish_run(store, shop_id, RUN_KIND, workflow_id, run_id, status, started_at, counts, errors)


def last_runs(store: Store, shop_id: str, limit: int = 10) -> list[SyncRun]:
    return runs.last_runs(store, shop_id, RUN_KIND, limit)


# ---- status column confirmations, re-drives, overview -------------------------------------------------------------

def confirm_pending(store: Store, shop_id: str, statuses: Iterable[tuple[str, str]]) -> None:
    """Links whose status PUT went through, as (SKU, status written): ``pending`` becomes that status."""
    by_status: dict[str, list[str]] = {}
    for sku, status in statuses:
        by_status.setdefault(status, []).append(sku)
    with store.session() as s:
        for status, skus in by_status.items():
            for chunk in _chunks(skus):
                s.execute(sa.update(ProductLink).where(
                    col(ProductLink.shop_id) == shop_id, col(ProductLink.sku).in_(chunk),
                    col(ProductLink.status) == "pending").values(status=status))


def unconfirmed_page(store: Store, shop_id: str, after_id: int, limit: int) -> list[ProductLink]:
    """Links stored ``pending`` whose status PUT was never confirmed, by id (a resumable order)."""
    with store.session() as s:
        return list(s.exec(select(ProductLink).where(
            ProductLink.shop_id == shop_id, ProductLink.status == "pending",
            col(ProductLink.f360_product_id).is_not(None), col(ProductLink.id) > after_id,
        ).order_by(col(ProductLink.id)).limit(limit)))


def refused_page(store: Store, shop_id: str, started_at: datetime, after_id: int, limit: int) -> list[ProductLink]:
    """Products Framework360 refused earlier (their mapped content kept) that the pass started at
    ``started_at`` has not already tried, by id (a resumable order)."""
    with store.session() as s:
        return list(s.exec(select(ProductLink).where(
            ProductLink.shop_id == shop_id, ProductLink.status == "error", col(ProductLink.retry_json).is_not(None),
            sa.or_(col(ProductLink.last_seen_at).is_(None), col(ProductLink.last_seen_at) < started_at),
            col(ProductLink.id) > after_id,
        ).order_by(col(ProductLink.id)).limit(limit)))


def links_in_error(store: Store, shop_id: str) -> list[ProductLink]:
    """Every product currently in error, by SKU."""
    with store.session() as s:
        return list(s.exec(select(ProductLink).where(ProductLink.shop_id == shop_id, ProductLink.status == "error")
                           .order_by(ProductLink.sku)))


def count_by_status(store: Store, shop_id: str) -> dict[str, int]:
    """How many links per status (statuses without links are absent)."""
    with store.session() as s:
        return dict(s.exec(select(ProductLink.status, sa.func.count()).where(ProductLink.shop_id == shop_id)
                           .group_by(ProductLink.status)).all())


def oldest_error(store: Store, shop_id: str) -> ProductLink | None:
    """The product in error for the longest time (by last change)."""
    with store.session() as s:
        return s.exec(select(ProductLink).where(ProductLink.shop_id == shop_id, ProductLink.status == "error")
                      .order_by(col(ProductLink.updated_at)).limit(1)).first()


def run_that_wrote(store: Store, shop_id: str, link: ProductLink) -> SyncRun | None:
    """The import run that last wrote this link: the latest one started before the link changed."""
    with store.session() as s:
        query = select(SyncRun).where(SyncRun.shop_id == shop_id, SyncRun.kind == RUN_KIND)
        if link.updated_at is not None:
            query = query.where(col(SyncRun.started_at) <= link.updated_at)
        return s.exec(query.order_by(col(SyncRun.started_at).desc()).limit(1)).first()
