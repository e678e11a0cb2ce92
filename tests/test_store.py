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


def test_alert_rows_fire_once_repeat_when_due_and_resolve_once(any_store):
    from datetime import datetime, timedelta, timezone

    from tgflow.store import alerts as astore

    t0 = datetime(2026, 11, 29, 6, 0, tzinfo=timezone.utc)
    day = timedelta(hours=24)
    due = astore.apply_findings(any_store, "S", {"failures": "2 failed"}, t0, day)
    assert [(d.key, d.state) for d in due] == [("failures", "firing")]
    astore.mark_delivered(any_store, "S", due, t0, "not sent: receiver down")
    # Not delivered yet: due again at the next check, with the newest message.
    due = astore.apply_findings(any_store, "S", {"failures": "3 failed"}, t0 + timedelta(minutes=5), day)
    assert [(d.key, d.message) for d in due] == [("failures", "3 failed")]
    astore.mark_delivered(any_store, "S", due, t0 + timedelta(minutes=5), None)
    assert astore.apply_findings(any_store, "S", {"failures": "3 failed"}, t0 + timedelta(hours=1), day) == []
    # Still firing a day after the last delivery: sent again.
    again = astore.apply_findings(any_store, "S", {"failures": "3 failed"}, t0 + timedelta(hours=25), day)
    assert [(d.key, d.state) for d in again] == [("failures", "firing")]
    astore.mark_delivered(any_store, "S", again, t0 + timedelta(hours=25), None)
    # Cleared: resolved once; other shops untouched.
    gone = astore.apply_findings(any_store, "S", {}, t0 + timedelta(hours=26), day)
    assert [(d.key, d.state) for d in gone] == [("failures", "resolved")]
    astore.mark_delivered(any_store, "S", gone, t0 + timedelta(hours=26), None)
    assert astore.apply_findings(any_store, "S", {}, t0 + timedelta(hours=27), day) == []
    row = astore.list_alerts(any_store, "S")[0]
    assert row.active is False and row.since == t0 and row.resolved_at == t0 + timedelta(hours=26)
    assert astore.list_alerts(any_store, "other") == []


def test_a_customer_claim_is_had_by_one_holder_until_released_or_lapsed(any_store):
    from tgflow.store.claims import release_customer_claim, take_customer_claim
    from tgflow.store.models import CustomerClaim

    take = take_customer_claim
    assert take(any_store, "1001", "d1", "F360-1", 30)
    assert not take(any_store, "1001", "d1", "F360-2", 30)  # another export waits
    assert take(any_store, "1002", "d1", "F360-2", 30) and take(any_store, "1001", "d2", "F360-2", 30)  # other keys
    assert take(any_store, "1001", "d1", "F360-1", 30)  # the holder's retry has it again
    release_customer_claim(any_store, "1001", "d1", "F360-2")  # not the holder: nothing happens
    assert not take(any_store, "1001", "d1", "F360-2", 30)
    release_customer_claim(any_store, "1001", "d1", "F360-1")
    assert take(any_store, "1001", "d1", "F360-2", 30)

    with any_store.session() as s:  # its export died: the claim lapses
        claim = s.get(CustomerClaim, ("1001", "d1"))
        claim.expires_at = utcnow() - timedelta(seconds=1)
        s.add(claim)
    assert take(any_store, "1001", "d1", "F360-3", 30)
    assert not take(any_store, "1001", "d1", "F360-2", 30)
