"""Status-store functions of the shipment import: one ``ShipmentLink`` per TotalGest shipment, the
order's TotalGest status on its ``OrderLink``, the ``/order-changes`` cursor.

Blocking (SQLModel); activities call them through ``deps.db``. Portable SQL (SQLite and PostgreSQL);
every writer is idempotent (running it twice leaves the same rows).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from tgflow.store import products as _cursors
from tgflow.store.db import Store
from tgflow.store.models import OrderLink, ShipmentLink, utcnow

PENDING, FULFILLED, FAILED = "pending", "fulfilled", "failed"
#: The import's cursor over TotalGest ``/order-changes`` (a ``SyncCursor`` row, like the product cursors).
CURSOR = "order_changes"


def get_cursor(store: Store, shop_id: str) -> datetime | None:
    return _cursors.get_cursor(store, shop_id, CURSOR)


def set_cursor(store: Store, shop_id: str, value: datetime | None) -> None:
    _cursors.set_cursor(store, shop_id, CURSOR, value)


def exported_orders(store: Store, shop_id: str, tg_order_ids: Iterable[int]) -> dict[int, OrderLink]:
    """The exported orders (an ``OrderLink`` with this TotalGest order id) among these, by TotalGest id."""
    wanted = sorted(set(tg_order_ids))
    out: dict[int, OrderLink] = {}
    with store.session() as s:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for link in s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id,
                                                       col(OrderLink.tg_order_id).in_(chunk))):
                if link.tg_order_id is not None:
                    out[link.tg_order_id] = link
    return out


def set_order_progress(store: Store, shop_id: str,
                       progress: dict[int, tuple[str, str | None, str | None]]) -> list[int]:
    """Store (TotalGest status, invoice number, shipping state) per Framework360 order id; returns the orders
    whose values changed."""
    changed: list[int] = []
    if not progress:
        return changed
    with store.session() as s:
        links = s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id,
                                               col(OrderLink.f360_order_id).in_(sorted(progress))))
        for link in links:
            tg_status, invoice, shipping = progress[link.f360_order_id]
            if (link.tg_status, link.tg_invoice_number, link.tg_shipping) != (tg_status, invoice, shipping):
                link.tg_status, link.tg_invoice_number, link.tg_shipping = tg_status, invoice, shipping
                link.updated_at = utcnow()
                s.add(link)
                changed.append(link.f360_order_id)
    return changed


def load_shipments(store: Store, shop_id: str, tg_shipment_ids: Iterable[int]) -> dict[int, ShipmentLink]:
    wanted = sorted(set(tg_shipment_ids))
    out: dict[int, ShipmentLink] = {}
    with store.session() as s:
        for start in range(0, len(wanted), 500):
            for link in s.exec(select(ShipmentLink).where(
                    ShipmentLink.shop_id == shop_id, col(ShipmentLink.tg_shipment_id).in_(wanted[start:start + 500]))):
                out[link.tg_shipment_id] = link
    return out


def get_shipment(store: Store, shop_id: str, tg_shipment_id: int) -> ShipmentLink | None:
    return load_shipments(store, shop_id, [tg_shipment_id]).get(tg_shipment_id)


def _save(store: Store, shop_id: str, tg_shipment_id: int, values: dict[str, Any]) -> None:
    def work(s: Session) -> None:
        link = s.exec(select(ShipmentLink).where(ShipmentLink.shop_id == shop_id,
                                                 ShipmentLink.tg_shipment_id == tg_shipment_id)).first()
        if link is None:
            link = ShipmentLink(shop_id=shop_id, tg_shipment_id=tg_shipment_id, **{
                k: v for k, v in values.items() if k in ("tg_order_id", "f360_order_id")})
        for key, value in values.items():
            setattr(link, key, value)
        link.updated_at = utcnow()
        s.add(link)
        s.flush()
        _set_order_error(s, shop_id, link.f360_order_id)

    store.run(work)  # a concurrent first insert of the same shipment is retried by ``run`` and finds the row


def mark_pending(store: Store, shop_id: str, tg_shipment_id: int, *, tg_order_id: int, f360_order_id: int,
                 workflow_id: str) -> None:
    """A shipment whose workflow was started (a fulfilled one stays fulfilled)."""
    link = get_shipment(store, shop_id, tg_shipment_id)
    if link is not None and link.status == FULFILLED:
        return
    _save(store, shop_id, tg_shipment_id, {"tg_order_id": tg_order_id, "f360_order_id": f360_order_id,
                                           "status": PENDING, "workflow_id": workflow_id})


def mark_fulfilled(store: Store, shop_id: str, tg_shipment_id: int, *, tg_order_id: int, f360_order_id: int,
                   f360_fulfillment_id: int, carrier: str, tracking_number: str, at: datetime) -> None:
    _save(store, shop_id, tg_shipment_id, {
        "tg_order_id": tg_order_id, "f360_order_id": f360_order_id, "status": FULFILLED,
        "f360_fulfillment_id": f360_fulfillment_id, "carrier": carrier, "tracking_number": tracking_number,
        "last_error": None, "fulfilled_at": at})


def mark_failed(store: Store, shop_id: str, tg_shipment_id: int, *, tg_order_id: int, f360_order_id: int,
                reason: str, workflow_id: str, carrier: str | None = None, tracking_number: str | None = None) -> None:
    """Record why the shipment could not be shown (once per workflow: recording it again keeps the count)."""
    link = get_shipment(store, shop_id, tg_shipment_id)
    if link is not None and link.status == FULFILLED:
        return
    attempts = (link.attempts if link else 0) + (0 if link and link.status == FAILED and link.workflow_id == workflow_id
                                                  and link.last_error == reason else 1)
    _save(store, shop_id, tg_shipment_id, {"tg_order_id": tg_order_id, "f360_order_id": f360_order_id,
                                           "status": FAILED, "last_error": reason, "attempts": attempts,
                                           "workflow_id": workflow_id}
          | ({"carrier": carrier, "tracking_number": tracking_number} if tracking_number else {}))


def _set_order_error(s: Session, shop_id: str, f360_order_id: int) -> None:
    """The order's ``tg_shipment_error``: the reason of its oldest failed parcel, None when none failed."""
    failed = s.exec(select(ShipmentLink).where(ShipmentLink.shop_id == shop_id,
                                               ShipmentLink.f360_order_id == f360_order_id,
                                               ShipmentLink.status == FAILED)
                    .order_by(col(ShipmentLink.tg_shipment_id))).first()
    order = s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id,
                                           OrderLink.f360_order_id == f360_order_id)).first()
    if order is None:
        return
    reason = f"parcel {failed.tracking_number or failed.tg_shipment_id}: {failed.last_error}" if failed else None
    if order.tg_shipment_error != reason:
        order.tg_shipment_error = reason
        order.updated_at = utcnow()
        s.add(order)


def shipments_of(store: Store, shop_id: str, f360_order_id: int) -> list[ShipmentLink]:
    with store.session() as s:
        return list(s.exec(select(ShipmentLink).where(ShipmentLink.shop_id == shop_id,
                                                      ShipmentLink.f360_order_id == f360_order_id)
                           .order_by(col(ShipmentLink.tg_shipment_id))))


def overview(store: Store, shop_id: str) -> dict[str, Any]:
    """Parcels by status and the oldest failed one (with its order's number), for ``tgflow status`` and alerts."""
    from sqlalchemy import func

    with store.session() as s:
        by_status = dict(s.exec(select(ShipmentLink.status, func.count()).where(ShipmentLink.shop_id == shop_id)
                                .group_by(ShipmentLink.status)).all())
        oldest = s.exec(select(ShipmentLink).where(ShipmentLink.shop_id == shop_id, ShipmentLink.status == FAILED)
                        .order_by(col(ShipmentLink.updated_at)).limit(1)).first()
        number = oldest and s.exec(select(OrderLink.f360_number).where(
            OrderLink.shop_id == shop_id, OrderLink.f360_order_id == oldest.f360_order_id)).first()
    return {"counts": {k: int(by_status.get(k, 0)) for k in (FULFILLED, PENDING, FAILED)},
            "oldest_failed": oldest and {"order_id": oldest.f360_order_id, "number": number,
                                         "tg_shipment_id": oldest.tg_shipment_id, "since": oldest.updated_at,
                                         "reason": oldest.last_error}}


def failed_shipments(store: Store, shop_id: str, f360_order_ids: Iterable[int] | None = None) -> list[ShipmentLink]:
    """Shipments a person must act on (all of the shop's, or those of these orders), oldest first."""
    with store.session() as s:
        q = select(ShipmentLink).where(ShipmentLink.shop_id == shop_id, ShipmentLink.status == FAILED)
        if f360_order_ids is not None:
            q = q.where(col(ShipmentLink.f360_order_id).in_(sorted(set(f360_order_ids))))
        return list(s.exec(q.order_by(col(ShipmentLink.updated_at))))


def shipment_dict(link: ShipmentLink) -> dict[str, Any]:
    return {"tg_shipment_id": link.tg_shipment_id, "tg_order_id": link.tg_order_id,
            "order_id": link.f360_order_id, "status": link.status,
            "f360_fulfillment_id": link.f360_fulfillment_id, "carrier": link.carrier,
            "tracking_number": link.tracking_number, "reason": link.last_error, "attempts": link.attempts,
            "workflow_id": link.workflow_id, "fulfilled_at": link.fulfilled_at, "updated_at": link.updated_at}
