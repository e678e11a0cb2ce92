"""Status-store functions of cancellations and refunds: one ``OrderAdjustment`` per (shop, order, key).

Blocking (SQLModel); activities call them through ``deps.db``. Every writer is idempotent: handling
the same cancellation or refund twice leaves one row, and a failed re-run never hides one that is done.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from tgflow.store.db import Store
from tgflow.store.models import OrderAdjustment, OrderLink, utcnow

#: The start of a refusal's reason that names what and which order (``refund 3 of order F360-10017: ``).
_NAMED = re.compile(r"^(?:refund \d+|cancellation) of order [^\s:]+: ")
#: Statuses after which an adjustment is not started again by itself (``orders retry`` re-drives ``failed``).
SETTLED = ("done", "skipped", "failed")


def _row(s: Session, shop_id: str, order_id: int, key: str) -> OrderAdjustment | None:
    return s.exec(select(OrderAdjustment).where(
        OrderAdjustment.shop_id == shop_id, OrderAdjustment.f360_order_id == order_id,
        OrderAdjustment.key == key)).first()


def mark_pending(store: Store, shop_id: str, order_id: int, *, key: str, kind: str, refund_id: int | None,
                 number: str | None, workflow_id: str | None) -> None:
    """A cancellation or refund is being handled; a done one stays done."""

    def work(s: Session) -> None:
        row = _row(s, shop_id, order_id, key) or OrderAdjustment(
            shop_id=shop_id, f360_order_id=order_id, key=key, kind=kind, refund_id=refund_id, created_at=utcnow())
        if row.status not in ("done", "skipped"):
            row.status = "pending"
        row.f360_number = number or row.f360_number
        row.workflow_id = workflow_id or row.workflow_id
        row.updated_at = utcnow()
        s.add(row)

    store.run(work)


def record(store: Store, shop_id: str, order_id: int, *, key: str, kind: str, refund_id: int | None, status: str,
           number: str | None = None, outcome: str | None = None, credit_note: str | None = None,
           amount: str | None = None, reason: str | None = None, workflow_id: str | None = None) -> None:
    """The outcome of one handling (``done`` | ``skipped`` | ``failed``); safe to repeat."""

    def work(s: Session) -> None:
        now = utcnow()
        row = _row(s, shop_id, order_id, key) or OrderAdjustment(
            shop_id=shop_id, f360_order_id=order_id, key=key, kind=kind, refund_id=refund_id, created_at=now)
        if status == "failed":
            if row.status in ("done", "skipped"):
                return  # a failed re-run never hides what is done
            row.last_error = reason
        else:
            row.outcome = outcome
            row.tg_credit_note_number = credit_note or row.tg_credit_note_number
            row.amount = amount or row.amount
            row.last_error = None
        row.status = status
        row.f360_number = number or row.f360_number
        row.workflow_id = workflow_id or row.workflow_id
        row.attempts = (row.attempts or 0) + 1
        row.updated_at = now
        s.add(row)

    store.run(work)


def keys_of(store: Store, shop_id: str, order_id: int) -> dict[str, str]:
    """``{key: status}`` of the order's adjustments."""
    with store.session() as s:
        return {r.key: r.status for r in s.exec(select(OrderAdjustment).where(
            OrderAdjustment.shop_id == shop_id, OrderAdjustment.f360_order_id == order_id))}


def for_order(store: Store, shop_id: str, order_id: int) -> list[OrderAdjustment]:
    with store.session() as s:
        return list(s.exec(select(OrderAdjustment).where(
            OrderAdjustment.shop_id == shop_id, OrderAdjustment.f360_order_id == order_id)
            .order_by(col(OrderAdjustment.id))))


def failed(store: Store, shop_id: str, limit: int | None = None) -> list[OrderAdjustment]:
    """Refused cancellations and refunds, oldest first."""
    with store.session() as s:
        q = select(OrderAdjustment).where(OrderAdjustment.shop_id == shop_id, OrderAdjustment.status == "failed") \
            .order_by(col(OrderAdjustment.updated_at))
        if limit:
            q = q.limit(limit)
        return list(s.exec(q))


def failed_reasons(store: Store, shop_id: str, order_ids: Iterable[int]) -> dict[int, str]:
    """Of these orders, those with a refused cancellation/refund: ``{order id: one line}`` naming the oldest
    refused one and its reason (``refund 3 failed: …``), for the status column of ``orders list``."""
    wanted = sorted(set(order_ids))
    out: dict[int, str] = {}
    with store.session() as s:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for row in s.exec(select(OrderAdjustment).where(
                    OrderAdjustment.shop_id == shop_id, OrderAdjustment.status == "failed",
                    col(OrderAdjustment.f360_order_id).in_(chunk)).order_by(col(OrderAdjustment.updated_at))):
                if row.f360_order_id not in out:
                    what = "Cancel" if row.kind == "cancel" else f"Refund {row.refund_id}"
                    # the row names the order and the refund already: "refund 3 of order F360-…: " is left out
                    reason = _NAMED.sub("", row.last_error or "", count=1)
                    out[row.f360_order_id] = f"{what} failed: {reason}"
    return out


def counts(store: Store, shop_id: str) -> dict[str, int]:
    with store.session() as s:
        found = dict(s.exec(select(OrderAdjustment.status, func.count()).where(OrderAdjustment.shop_id == shop_id)
                            .group_by(OrderAdjustment.status)).all())
    return {k: int(found.get(k, 0)) for k in ("pending", "done", "skipped", "failed")}


def linked_changed_since(store: Store, shop_id: str, orders: Iterable[tuple[int, datetime | None]]) -> list[int]:
    """Of these (order id, Framework360 updated_at), the orders exported to TotalGest that changed after."""
    items = list(orders)
    if not items:
        return []
    with store.session() as s:
        links = {link.f360_order_id: link for link in s.exec(select(OrderLink).where(
            OrderLink.shop_id == shop_id, col(OrderLink.f360_order_id).in_([i for i, _ in items]),
            OrderLink.status == "linked"))}
    out = []
    for order_id, updated in items:
        link = links.get(order_id)
        if link is not None and (updated is None or link.linked_at is None or updated > link.linked_at):
            out.append(order_id)
    return out


def adjustment_dict(row: OrderAdjustment) -> dict[str, Any]:
    return {"order_id": row.f360_order_id, "number": row.f360_number, "kind": row.kind, "refund_id": row.refund_id,
            "key": row.key, "status": row.status, "outcome": row.outcome,
            "tg_credit_note_number": row.tg_credit_note_number, "amount": row.amount, "reason": row.last_error,
            "attempts": row.attempts, "workflow_id": row.workflow_id, "updated_at": row.updated_at}


def describe(row: OrderAdjustment) -> str:
    """One line for people: ``refund 3: credit note NC-2026-00001 (12.50)`` / ``cancel: failed: …``."""
    what = "cancel" if row.kind == "cancel" else f"refund {row.refund_id}"
    if row.status == "failed":
        return f"{what}: failed: {row.last_error}"
    return f"{what}: {row.status}" + (f": {row.outcome}" if row.outcome else "")


__all__ = ["SETTLED", "adjustment_dict", "counts", "describe", "failed", "failed_reasons", "for_order", "keys_of",
           "linked_changed_since", "mark_pending", "record"]
