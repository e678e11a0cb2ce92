"""``apply_stock_rows`` and ``save_links`` on SQLAlchemy Core store exactly what their ORM versions stored.

The ORM versions are kept here as the reference; both run the same steps on two fresh stores (SQLite and
PostgreSQL) with the same clock, and every column of every link, ids and timestamps included, must match.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from tgflow.mapping.products import sellable_stock
from tgflow.store import ProductLink, Store
from tgflow.store import products as pstore
from tgflow.store.products import StockRow

SHOP = "1001"
T0 = datetime(2026, 11, 28, 6, 0, tzinfo=timezone.utc)


# ---- the ORM versions (before the Core rewrite), as the reference --------------------------------------------------

def _save_links_orm(store: Store, shop_id: str, changes: Mapping[str, Mapping[str, Any]]) -> None:
    if not changes:
        return

    def work(s: Session) -> None:
        now = pstore.utcnow()
        existing = pstore._links_for_update(s, shop_id, list(changes))
        for sku, values in changes.items():
            link = existing.get(sku) or ProductLink(shop_id=shop_id, sku=sku)
            for key, value in values.items():
                setattr(link, key, value)
            link.updated_at = now
            s.add(link)

    store.run(work)


def _apply_stock_rows_orm(store: Store, shop_id: str, rows: list[StockRow], warehouses: list[str] | None,
                          reserved: Mapping[str, int]) -> int:
    if not rows:
        return 0

    def work(s: Session) -> int:
        now = pstore.utcnow()
        by_sku: dict[str, list[StockRow]] = {}
        for row in rows:
            by_sku.setdefault(row.sku, []).append(row)
        existing = pstore._links_for_update(s, shop_id, list(by_sku))
        dirty = 0
        for sku, sku_rows in by_sku.items():
            link = existing.get(sku) or ProductLink(shop_id=shop_id, sku=sku, status="not_linked")
            levels = pstore._levels(link)
            for row in sku_rows:
                levels[row.warehouse] = row.available
                if link.tg_article_id is None and row.article_id is not None:
                    link.tg_article_id = row.article_id
            link.stock_json = json.dumps(levels, sort_keys=True)
            link.reserved_quantity = int(reserved.get(sku, 0))
            wanted = sellable_stock(levels, warehouses, link.reserved_quantity)
            was_dirty = bool(link.stock_dirty)
            link.stock_dirty = link.stock_quantity != wanted
            dirty += int(link.stock_dirty and not was_dirty)
            link.updated_at = now
            s.add(link)
        return dirty

    return store.run(work)


ORM = {"save_links": _save_links_orm, "apply_stock_rows": _apply_stock_rows_orm}
CORE = {"save_links": pstore.save_links, "apply_stock_rows": pstore.apply_stock_rows}


# ---- harness --------------------------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgres"])
def two_stores(request, tmp_path):
    """Two empty stores of the same kind: one for the ORM reference, one for the Core version."""
    if request.param == "sqlite":
        urls = [f"sqlite:///{tmp_path / 'orm.db'}", f"sqlite:///{tmp_path / 'core.db'}"]
    else:
        server = request.getfixturevalue("postgres_server")
        urls = [server.new_database(), server.new_database()]
    stores = [Store(url) for url in urls]
    yield stores
    for store in stores:
        store.close()


def _run(store: Store, impl: dict, steps: list[tuple], monkeypatch) -> list[Any]:
    """Run the steps with a clock that ticks one second a call (the same times for both versions)."""
    ticks = iter(T0 + timedelta(seconds=i) for i in range(10_000))
    monkeypatch.setattr(pstore, "utcnow", lambda: next(ticks))
    out = []
    for name, *args in steps:
        out.append(impl[name](store, *args))
    return out


def _rows(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        return [link.model_dump() for link in s.exec(select(ProductLink).order_by(ProductLink.id))]


def _same(two_stores, steps, monkeypatch) -> tuple[list[Any], list[dict[str, Any]]]:
    orm_store, core_store = two_stores
    orm_out = _run(orm_store, ORM, steps, monkeypatch)
    core_out = _run(core_store, CORE, steps, monkeypatch)
    assert core_out == orm_out
    orm_rows, core_rows = _rows(orm_store), _rows(core_store)
    assert len(core_rows) == len(orm_rows)
    for core_row, orm_row in zip(core_rows, orm_rows):
        assert core_row == orm_row
    return core_out, core_rows


def _stock(sku, warehouse, available, article_id=None) -> StockRow:
    return StockRow(sku=sku, article_id=article_id, warehouse=warehouse, available=str(available))


def _linked(stock: int, article_id: int | None, **extra) -> dict[str, Any]:
    return {"status": "linked", "f360_product_id": 9000 + (article_id or 0), "tg_article_id": article_id,
            "stock_quantity": stock, "content_hash": "h", "field_hashes_json": "{}", "last_synced_at": T0, **extra}


# ---- the tests ------------------------------------------------------------------------------------------------------

def test_stock_pages_store_what_the_orm_stored(two_stores, monkeypatch):
    steps = [
        # Linked products from an earlier import: stock written, one already dirty, one without article id.
        ("save_links", SHOP, {"A": _linked(10, 1), "B": _linked(5, 2, stock_dirty=True), "C": _linked(0, None),
                              "D": _linked(7, 4, reserved_quantity=2)}),
        ("save_links", "other-shop", {"A": _linked(99, 1)}),
        # Page 1, all warehouses: new SKUs (one without article id), A unchanged, B back to what was written,
        # C gets stock, D repeated within the page (W1 twice: the last one wins), reservations.
        ("apply_stock_rows", SHOP, [
            _stock("A", "W1", 6, 1), _stock("N1", "W1", 3, 11), _stock("A", "W2", "4.000", 1),
            _stock("D", "W1", 1, 4), _stock("B", "W1", 5, 2), _stock("N2", "W3", 2), _stock("C", "W1", 0),
            _stock("D", "W2", 8, 4), _stock("D", "W1", 2, 4), _stock("N1", "W2", -3, 11), _stock("N3", "W1", 0, 13),
        ], None, {"D": 3, "N3": 1}),
        # Page 2, only W1 and W2 count: N2 gets its article id, A's W3 does not count, C gets stock.
        ("apply_stock_rows", SHOP, [
            _stock("N2", "W1", 4, 12), _stock("A", "W3", 50, 1), _stock("C", "W2", 2.5, 3), _stock("N4", "W3", 9),
        ], ["W1", "W2"], {}),
        # The article phase writes some of them (stock cleared, one error, one pending status).
        ("save_links", SHOP, {"N1": _linked(3, 11, stock_dirty=False), "C": _linked(2, 3, stock_dirty=False),
                              "N2": {"status": "error", "last_error": "refused", "tg_article_id": 12, "attempts": 1,
                                     "retry_json": "{}", "reserved_quantity": 0},
                              "E": {**_linked(1, 5), "status": "pending", "last_seen_at": T0}}),
        # The same rows again: nothing changes but ``updated_at``; then N1 sells out.
        ("apply_stock_rows", SHOP, [_stock("N2", "W1", 4, 12), _stock("A", "W3", 50, 1), _stock("C", "W2", 2.5, 3)],
         ["W1", "W2"], {}),
        ("apply_stock_rows", SHOP, [_stock("N1", "W1", 0, 11), _stock("E", "W1", 1, 5)], ["W1", "W2"], {"E": 1}),
        ("apply_stock_rows", SHOP, [], None, {}),
        ("save_links", SHOP, {}),
    ]
    out, rows = _same(two_stores, steps, monkeypatch)
    assert out == [None, None, 3, 2, None, 0, 2, 0, None]
    by_sku = {(r["shop_id"], r["sku"]): r for r in rows}
    a, b, c, d = (by_sku[(SHOP, s)] for s in "ABCD")
    n1, n2, n3, n4 = (by_sku[(SHOP, f"N{i}")] for i in range(1, 5))
    assert json.loads(a["stock_json"]) == {"W1": "6", "W2": "4.000", "W3": "50"}
    assert a["stock_dirty"] is False and a["stock_quantity"] == 10 and a["status"] == "linked"
    assert b["stock_dirty"] is False  # it was dirty; its stock is back to what was written
    assert c["tg_article_id"] == 3 and c["stock_quantity"] == 2 and c["stock_dirty"] is False
    # D: W1 twice in a page, the last one counts: 2 + 8 - 3 reserved = the 7 written.
    assert json.loads(d["stock_json"]) == {"W1": "2", "W2": "8"} and d["reserved_quantity"] == 3
    assert d["stock_dirty"] is False
    assert n1["stock_dirty"] is True and n1["stock_quantity"] == 3
    assert n2["tg_article_id"] == 12 and n2["status"] == "error" and n2["stock_dirty"] is True
    assert n3["status"] == "not_linked" and n3["reserved_quantity"] == 1 and n3["stock_quantity"] is None
    assert n3["active"] is True and n3["attempts"] == 0 and n3["last_seen_at"] is None
    assert n4["tg_article_id"] is None and n4["stock_json"] == '{"W3": "9"}'
    assert by_sku[("other-shop", "A")]["stock_json"] is None
    assert by_sku[(SHOP, "E")]["reserved_quantity"] == 1 and by_sku[(SHOP, "E")]["status"] == "pending"
    # ids in the order the SKUs were first seen, timestamps from the clock.
    assert [r["sku"] for r in rows] == ["A", "B", "C", "D", "A", "N1", "N2", "N3", "N4", "E"]
    assert a["updated_at"] == T0 + timedelta(seconds=5)  # the unchanged page (6th call) still bumps it


def test_random_pages_store_what_the_orm_stored(two_stores, monkeypatch):
    """Pages shaped like a full import (SKUs spread over pages, three warehouses), with article writes between."""
    rng = random.Random(7)
    skus = [f"ART-{i:04d}" for i in range(300)]
    stock = [(sku, w) for sku in skus for w in ("W1", "W2", "W3")]
    rng.shuffle(stock)
    steps: list[tuple] = [("save_links", SHOP, {sku: _linked(rng.randint(0, 40), i, stock_dirty=rng.random() < 0.2)
                                                for i, sku in enumerate(skus) if rng.random() < 0.4})]
    for page in range(0, len(stock), 150):
        rows = [_stock(sku, w, rng.choice(["0", "-2", "3", "12", "7.5", "x"]),
                       None if rng.random() < 0.1 else int(sku[4:]))
                for sku, w in stock[page:page + 150]]
        rows += rng.sample(rows, 5)
        reserved = {sku: rng.randint(0, 4) for sku in rng.sample(skus, 30)}
        steps.append(("apply_stock_rows", SHOP, rows, rng.choice([None, ["W1"], ["W1", "W3"]]), reserved))
        steps.append(("save_links", SHOP, {sku: rng.choice([_linked(rng.randint(0, 40), int(sku[4:])),
                                                            {"stock_dirty": False}, {"content_hash": None}])
                                           for sku in rng.sample(skus, 20)}))
    out, rows = _same(two_stores, steps, monkeypatch)
    assert len(rows) == 300 and sum(n for n in out if n) > 0


def test_updates_write_the_same_columns_as_the_orm(tmp_path, monkeypatch):
    """Only the columns whose value changes (and ``updated_at``): a concurrent write of another column
    survives as it did with the ORM."""
    steps = [
        ("save_links", SHOP, {"A": _linked(10, 1), "B": _linked(5, None, reserved_quantity=1)}),
        ("apply_stock_rows", SHOP, [_stock("A", "W1", 10, 1), _stock("B", "W1", 6, 2), _stock("C", "W1", 1)],
         None, {"B": 1}),
        ("apply_stock_rows", SHOP, [_stock("A", "W1", 10, 1), _stock("B", "W1", 7, 2)], None, {}),
        ("save_links", SHOP, {"A": {"status": "linked", "stock_quantity": 10, "content_hash": "new"},
                              "B": {"stock_dirty": False}, "D": {"status": "error"}}),
    ]
    written = []
    for name, impl in (("orm", ORM), ("core", CORE)):
        store = Store(f"sqlite:///{tmp_path / name}.db")
        updates: Counter = Counter()

        def record(conn, cursor, statement, parameters, context, executemany, updates=updates):
            if statement.startswith("UPDATE product_link SET"):
                columns = tuple(re.findall(r"(\w+)=\?", statement.split(" WHERE ")[0]))
                for params in (parameters if executemany else [parameters]):
                    updates[(params[-1], columns)] += 1

        sa.event.listen(store.engine, "before_cursor_execute", record)
        _run(store, impl, steps, monkeypatch)
        store.close()
        written.append(updates)
    assert written[0] == written[1]
    assert written[1][(1, ("updated_at",))] == 1  # A: nothing changed but updated_at
    assert written[1][(1, ("content_hash", "updated_at"))] == 1


def test_unknown_columns_are_refused(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'status.db'}")
    with pytest.raises(ValueError, match="stock_dirt"):
        pstore.save_links(store, SHOP, {"A": {"stock_dirt": True}})
    store.close()


def _save_links_then_mark_seen(store: Store, shop_id: str, changes, seen, at) -> None:
    pstore.save_links(store, shop_id, changes)
    pstore.mark_seen(store, shop_id, seen, at)


def test_a_page_saved_in_one_transaction_stores_what_save_links_then_mark_seen_stored(two_stores, monkeypatch):
    """``save_page`` (the articles phase's store write): the same rows as the two calls it replaces, one commit."""
    at = T0 + timedelta(hours=1)
    before = [("save_links", SHOP, {"A": _linked(10, 1), "B": _linked(5, 2), "C": _linked(1, 3)}),
              ("apply_stock_rows", SHOP, [_stock("D", "W1", 4, 4)], None, {})]
    # A changed and seen, N new and seen, B seen without a change, C changed but not seen (a duplicate's
    # key), D seen (a stock-only link), Z seen but unknown to the store.
    page = (SHOP, {"A": _linked(11, 1), "N": _linked(2, 9), "C": {"status": "error", "last_error": "x"}},
            ["A", "N", "B", "D", "Z"], at)
    results = []
    for store, impl in zip(two_stores, ({"save_page": _save_links_then_mark_seen, **CORE},
                                        {"save_page": pstore.save_page, **CORE})):
        commits: list[int] = []
        _run(store, impl, before, monkeypatch)
        sa.event.listen(store.engine, "commit", lambda conn: commits.append(1))
        _run(store, impl, [("save_page", *page)], monkeypatch)
        count = len(commits)
        results.append((_rows(store), count))
    (two_calls, two_commits), (one_call, one_commit) = results
    assert one_call == two_calls
    assert (two_commits, one_commit) == (2, 1)
    by_sku = {row["sku"]: row for row in one_call}
    assert {sku for sku, row in by_sku.items() if row["last_seen_at"] == at} == {"A", "N", "B", "D"}
    assert by_sku["A"]["stock_quantity"] == 11 and by_sku["C"]["status"] == "error" and "Z" not in by_sku
