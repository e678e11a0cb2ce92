"""Status-store functions of the order export: one ``OrderLink`` per Framework360 order, its attempts.

Blocking (SQLModel); activities call them through ``deps.db``. Portable SQL only
(SQLite and PostgreSQL): select-then-insert in one session, retried once on an
``IntegrityError`` from a concurrent insert of the same order. Every writer is
idempotent: recording the same run twice leaves one attempt row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from tgflow.mapping.shipments import progress_text
from tgflow.store.db import Store
from tgflow.store.models import OrderAdjustment, OrderAttempt, OrderLink, SyncCursor, utcnow

RECONCILE_CURSOR = "orders_reconcile"
STATUSES = ("linked", "not_linked", "pending", "failed", "cancelled")


def _link(s: Session, shop_id: str, order_id: int) -> OrderLink:
    link = s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id, OrderLink.f360_order_id == order_id)).first()
    return link or OrderLink(shop_id=shop_id, f360_order_id=order_id)


def mark_pending(store: Store, shop_id: str, order_id: int, *, workflow_id: str | None = None,
                 number: str | None = None, f360_status: str | None = None) -> None:
    """An export started (or was queued). A linked order stays linked."""

    def work(s: Session) -> None:
        link = _link(s, shop_id, order_id)
        if link.status != "linked":
            link.status = "pending"
        if number:
            link.f360_number = number
        if f360_status:
            link.f360_status = f360_status
        if workflow_id:
            link.workflow_id = workflow_id
        link.updated_at = utcnow()
        s.add(link)

    store.run(work)


def ensure_known(store: Store, shop_id: str, orders: Iterable[tuple[int, str | None, str | None]]) -> None:
    """Rows for orders seen in Framework360 (id, number, status); new ones start ``not_linked``."""
    items = list(orders)
    if not items:
        return

    def work(s: Session) -> None:
        ids = [i for i, _, _ in items]
        existing = {link.f360_order_id: link for link in s.exec(
            select(OrderLink).where(OrderLink.shop_id == shop_id, col(OrderLink.f360_order_id).in_(ids)))}
        now = utcnow()
        for order_id, number, status in items:
            link = existing.get(order_id)
            if link is None:
                link = OrderLink(shop_id=shop_id, f360_order_id=order_id, status="not_linked")
                existing[order_id] = link
            if number:
                link.f360_number = number
            if status:
                link.f360_status = status
            link.updated_at = now
            s.add(link)

    store.run(work)


def record_result(
    store: Store,
    shop_id: str,
    order_id: int,
    *,
    outcome: str,
    number: str | None = None,
    tg_order_id: int | None = None,
    tg_order_number: str | None = None,
    tg_customer_id: int | None = None,
    reason: str | None = None,
    workflow_id: str | None = None,
    run_id: str | None = None,
    f360_status: str | None = None,
    completed_at: datetime | None = None,
) -> OrderLink:
    """Write the outcome of one export run (``linked`` | ``already_linked`` | ``failed`` | ``cancelled``); safe to
    repeat."""

    def work(s: Session) -> OrderLink:
        now = utcnow()
        link = _link(s, shop_id, order_id)
        if outcome in ("linked", "already_linked"):
            link.status = "linked"
            link.tg_order_id = tg_order_id
            link.tg_order_number = tg_order_number
            link.tg_customer_id = tg_customer_id or link.tg_customer_id
            link.last_error = None
            link.linked_at = link.linked_at or now
        elif outcome == "cancelled":  # cancelled in the shop before export: never exported, not a failure
            if link.status != "linked":
                link.status = "cancelled"
                link.last_error = None
        elif link.status != "linked":  # a failed re-run never hides an existing link
            link.status = "failed"
            link.last_error = reason
        if number:
            link.f360_number = number
        if f360_status:
            link.f360_status = f360_status
        if completed_at:
            link.completed_at = completed_at
        if workflow_id:
            link.workflow_id = workflow_id
        seen = run_id is not None and s.exec(select(OrderAttempt).where(
            OrderAttempt.shop_id == shop_id, OrderAttempt.f360_order_id == order_id,
            OrderAttempt.run_id == run_id)).first() is not None
        if not seen:
            link.attempts = (link.attempts or 0) + 1
            s.add(OrderAttempt(shop_id=shop_id, f360_order_id=order_id, at=now, outcome=outcome,
                               message=reason or ("cancelled in the shop before export" if outcome == "cancelled"
                                                  else None), workflow_id=workflow_id, run_id=run_id,
                               tg_order_number=tg_order_number))
        link.last_attempt_at = now
        link.updated_at = now
        s.add(link)
        return link

    return store.run(work)


def mark_changed_after_export(store: Store, shop_id: str, order_id: int, f360_status: str) -> bool:
    """A linked order later cancelled/refunded in Framework360 is flagged; returns True when flagged."""

    def work(s: Session) -> bool:
        link = s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id,
                                              OrderLink.f360_order_id == order_id)).first()
        if link is None:
            return False
        link.f360_status = f360_status
        flagged = link.status == "linked" and f360_status in ("cancelled", "refunded")
        if flagged:
            link.changed_after_export = True
        link.updated_at = utcnow()
        s.add(link)
        return flagged

    return store.run(work)


def forget_unknown(store: Store, shop_id: str, order_id: int) -> bool:
    """Remove the row of an order id Framework360 does not know (a mistyped id), unless it was ever linked
    to a TotalGest order; returns True when a row was removed. Safe to repeat."""

    def work(s: Session) -> bool:
        link = s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id,
                                              OrderLink.f360_order_id == order_id)).first()
        if link is None or link.status == "linked" or link.tg_order_number:
            return False
        for attempt in s.exec(select(OrderAttempt).where(OrderAttempt.shop_id == shop_id,
                                                         OrderAttempt.f360_order_id == order_id)):
            s.delete(attempt)
        s.delete(link)
        return True

    return store.run(work)


def get_link(store: Store, shop_id: str, order_id: int) -> OrderLink | None:
    with store.session() as s:
        return s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id,
                                              OrderLink.f360_order_id == order_id)).first()


def link_and_run_outcome(store: Store, shop_id: str, order_id: int,
                         run_id: str | None) -> tuple[OrderLink | None, str | None]:
    """The order's link, and the outcome recorded by the workflow run ``run_id`` (None: none recorded)."""
    with store.session() as s:
        link = s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id,
                                              OrderLink.f360_order_id == order_id)).first()
        outcome = None
        if run_id is not None and link is not None:
            attempt = s.exec(select(OrderAttempt).where(
                OrderAttempt.shop_id == shop_id, OrderAttempt.f360_order_id == order_id,
                OrderAttempt.run_id == run_id)).first()
            outcome = attempt.outcome if attempt is not None else None
        return link, outcome


def find_link(store: Store, shop_id: str, ident: str) -> OrderLink | None:
    """By Framework360 id (``17``) or number (``F360-10017``)."""
    with store.session() as s:
        link = s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id, OrderLink.f360_number == ident)).first()
        if link is None and ident.isdigit():
            link = s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id,
                                                  OrderLink.f360_order_id == int(ident))).first()
        return link


def load_links(store: Store, shop_id: str, order_ids: Iterable[int]) -> dict[int, OrderLink]:
    wanted = sorted(set(order_ids))
    out: dict[int, OrderLink] = {}
    with store.session() as s:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for link in s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id,
                                                       col(OrderLink.f360_order_id).in_(chunk))):
                out[link.f360_order_id] = link
    return out


def attempts(store: Store, shop_id: str, order_id: int) -> list[OrderAttempt]:
    with store.session() as s:
        return list(s.exec(select(OrderAttempt).where(
            OrderAttempt.shop_id == shop_id, OrderAttempt.f360_order_id == order_id).order_by(col(OrderAttempt.id))))


@dataclass
class OrderView:
    link: OrderLink
    attempts: list[OrderAttempt] = field(default_factory=list)


def get_with_attempts(store: Store, shop_id: str, ident: str) -> OrderView | None:
    link = find_link(store, shop_id, ident)
    if link is None:
        return None
    return OrderView(link, attempts(store, shop_id, link.f360_order_id))


def list_links(store: Store, shop_id: str, status: str | None = None, limit: int | None = None) -> list[OrderLink]:
    with store.session() as s:
        q = select(OrderLink).where(OrderLink.shop_id == shop_id)
        if status == "failed":  # the export failed, a parcel could not be shown, or TotalGest refused a
            # cancellation/refund of the exported order
            refused = select(OrderAdjustment.f360_order_id).where(OrderAdjustment.shop_id == shop_id,
                                                                  OrderAdjustment.status == "failed")
            q = q.where(or_(OrderLink.status == status, col(OrderLink.tg_shipment_error).is_not(None),
                            col(OrderLink.f360_order_id).in_(refused)))
        elif status:
            q = q.where(OrderLink.status == status)
        q = q.order_by(col(OrderLink.f360_order_id).desc())
        if limit:
            q = q.limit(limit)
        return list(s.exec(q))


def page_links(store: Store, shop_id: str, *, status: str | None = None, q: str | None = None,
               offset: int = 0, limit: int = 50) -> tuple[list[OrderLink], int]:
    """One page of orders, newest first, filtered in the database (the console's order list), and how many
    match in all. ``status`` as in :func:`list_links`; ``q`` a shop number (or part of one) or a Framework360 id."""
    from sqlalchemy import func

    query = select(OrderLink).where(OrderLink.shop_id == shop_id)
    if status == "failed":
        query = query.where(or_(OrderLink.status == status, col(OrderLink.tg_shipment_error).is_not(None)))
    elif status:
        query = query.where(OrderLink.status == status)
    text = (q or "").strip()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        match = col(OrderLink.f360_number).ilike(pattern, escape="\\")
        query = query.where(or_(match, OrderLink.f360_order_id == int(text)) if text.isdigit() else match)
    with store.session() as s:
        total = int(s.exec(select(func.count()).select_from(query.subquery())).one())
        rows = list(s.exec(query.order_by(col(OrderLink.f360_order_id).desc()).offset(offset).limit(limit)))
    return rows, total


def unlinked_ids(store: Store, shop_id: str) -> list[int]:
    """Every order the store knows that is not linked (not linked, pending, failed), oldest first."""
    with store.session() as s:
        return [link.f360_order_id for link in s.exec(
            select(OrderLink).where(OrderLink.shop_id == shop_id, OrderLink.status != "linked")
            .order_by(col(OrderLink.f360_order_id)))]


def get_cursor(store: Store, shop_id: str, name: str = RECONCILE_CURSOR) -> datetime | None:
    with store.session() as s:
        row = s.get(SyncCursor, (shop_id, name))
        return row.value if row else None


def set_cursor(store: Store, shop_id: str, value: datetime | None, name: str = RECONCILE_CURSOR) -> None:
    def work(s: Session) -> None:
        row = s.get(SyncCursor, (shop_id, name))
        if row is None:
            row = SyncCursor(shop_id=shop_id, name=name)
        row.value = value
        row.updated_at = utcnow()
        s.add(row)

    store.run(work)


def link_dict(link: OrderLink) -> dict[str, Any]:
    return {
        "order_id": link.f360_order_id, "number": link.f360_number, "status": link.status,
        "tg_order_number": link.tg_order_number, "tg_order_id": link.tg_order_id,
        "reason": link.last_error, "attempts": link.attempts, "f360_status": link.f360_status,
        "changed_after_export": link.changed_after_export, "workflow_id": link.workflow_id,
        "last_attempt_at": link.last_attempt_at, "linked_at": link.linked_at, "updated_at": link.updated_at,
        "tg_status": link.tg_status, "tg_invoice_number": link.tg_invoice_number, "tg_shipping": link.tg_shipping,
        "progress": progress_text(link.tg_status, link.tg_invoice_number, link.tg_shipping),
        "parcel_error": link.tg_shipment_error,
    }


def attempt_dict(a: OrderAttempt) -> dict[str, Any]:
    return {"at": a.at, "outcome": a.outcome, "message": a.message, "tg_order_number": a.tg_order_number,
            "workflow_id": a.workflow_id, "run_id": a.run_id}


def linked_order_ids(store: Store, shop_id: str, order_ids: Iterable[int]) -> set[int]:
    """Of these orders, those the status store knows as exported (their Framework360 column may lag)."""
    wanted = sorted(set(order_ids))
    out: set[int] = set()
    with store.session() as s:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            out.update(s.exec(select(OrderLink.f360_order_id).where(
                OrderLink.shop_id == shop_id, col(OrderLink.f360_order_id).in_(chunk), OrderLink.status == "linked")))
    return out


def count_by_status(store: Store, shop_id: str) -> dict[str, int]:
    """How many orders per status (statuses without orders are absent)."""
    from sqlalchemy import func

    with store.session() as s:
        return dict(s.exec(select(OrderLink.status, func.count()).where(OrderLink.shop_id == shop_id)
                           .group_by(OrderLink.status)).all())


def count_changed_after_export(store: Store, shop_id: str) -> int:
    """Orders changed in Framework360 after TotalGest registered them."""
    from sqlalchemy import func

    with store.session() as s:
        return s.exec(select(func.count()).select_from(OrderLink).where(
            OrderLink.shop_id == shop_id, OrderLink.changed_after_export == True)).one()  # noqa: E712


def oldest_failed(store: Store, shop_id: str) -> OrderLink | None:
    """The order failed for the longest time (by last change)."""
    with store.session() as s:
        return s.exec(select(OrderLink).where(OrderLink.shop_id == shop_id, OrderLink.status == "failed")
                      .order_by(col(OrderLink.updated_at)).limit(1)).first()
