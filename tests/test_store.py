"""The status store runs the same code on SQLite and PostgreSQL, and keeps datetimes aware."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from tgflow.store import OrderLink, ProductLink, Store, SyncCursor, utcnow


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'status.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store(url)
    yield store
    store.close()


def test_schema_is_created_and_rows_round_trip_with_aware_datetimes(any_store):
    at = datetime(2026, 11, 28, 15, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    with any_store.session() as s:
        s.add(OrderLink(shop_id="1001", f360_order_id=7, f360_number="F360-10007", status="linked",
                        tg_order_number="OV-2026-00001", linked_at=at))
        s.add(ProductLink(shop_id="1001", sku="ART-00001", status="linked", stock_quantity=3))
        s.add(SyncCursor(shop_id="1001", name="articles", value=at, updated_at=utcnow()))
    with any_store.session() as s:
        order = s.exec(select(OrderLink).where(OrderLink.f360_order_id == 7)).one()
        cursor = s.exec(select(SyncCursor)).one()
        product = s.exec(select(ProductLink)).one()
    assert order.tg_order_number == "OV-2026-00001"
    assert order.linked_at == at and order.linked_at.tzinfo is not None
    assert cursor.value == at and cursor.value.utcoffset() == timedelta(0)
    assert product.stock_quantity == 3


def test_one_link_per_order_is_enforced(any_store):
    from sqlalchemy.exc import IntegrityError

    with any_store.session() as s:
        s.add(OrderLink(shop_id="1001", f360_order_id=1))
    with pytest.raises(IntegrityError):
        with any_store.session() as s:
            s.add(OrderLink(shop_id="1001", f360_order_id=1))


def test_naive_datetimes_are_refused(any_store):
    with pytest.raises(Exception, match="naive"):
        with any_store.session() as s:
            s.add(SyncCursor(shop_id="1001", name="x", value=datetime(2026, 1, 1)))
