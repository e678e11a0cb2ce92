"""Status-store functions of "Send to TotalGest" requests: one ``ExportRequest`` per (shop, request id).

Blocking (SQLModel); the receiver and the activities call them off the event loop. Every writer is
idempotent: a redelivered request or a re-run activity leaves one row, and a notified request stays notified.
"""

from __future__ import annotations

from sqlmodel import Session, select

from tgflow.store.db import Store
from tgflow.store.models import ExportRequest, utcnow


def _row(s: Session, shop_id: str, request_id: str) -> ExportRequest | None:
    return s.exec(select(ExportRequest).where(ExportRequest.shop_id == shop_id,
                                              ExportRequest.request_id == request_id)).first()


def record_request(store: Store, shop_id: str, request_id: str, *, order_count: int, requested_by: str | None,
                   workflow_id: str) -> None:
    """The request arrived (again): one row, the first arrival's time kept."""

    def work(s: Session) -> None:
        row = _row(s, shop_id, request_id) or ExportRequest(shop_id=shop_id, request_id=request_id,
                                                            received_at=utcnow())
        row.order_count = order_count
        row.requested_by = requested_by or row.requested_by
        row.workflow_id = workflow_id
        s.add(row)

    store.run(work)


def get(store: Store, shop_id: str, request_id: str) -> ExportRequest | None:
    with store.session() as s:
        return _row(s, shop_id, request_id)


def notification_of(store: Store, shop_id: str, request_id: str) -> int | None:
    """The id of the notification already posted for this request, or None."""
    row = get(store, shop_id, request_id)
    return row.notification_id if row is not None and row.status == "notified" else None


def count_post(store: Store, shop_id: str, request_id: str, workflow_id: str) -> int:
    """A POST of the notification is about to be sent; returns how many were sent before this one."""

    def work(s: Session) -> int:
        row = _row(s, shop_id, request_id) or ExportRequest(shop_id=shop_id, request_id=request_id,
                                                            workflow_id=workflow_id, received_at=utcnow())
        before = row.post_attempts or 0
        row.post_attempts = before + 1
        s.add(row)
        return before

    return store.run(work)


def mark_notified(store: Store, shop_id: str, request_id: str, *, notification_id: int, level: str,
                  title: str) -> int:
    """Framework360 answered with the notification's id; the first recorded id wins (returned)."""

    def work(s: Session) -> int:
        row = _row(s, shop_id, request_id) or ExportRequest(shop_id=shop_id, request_id=request_id,
                                                            received_at=utcnow())
        if row.status != "notified" or row.notification_id is None:
            row.status = "notified"
            row.notification_id = notification_id
            row.level = level
            row.title = title
            row.notified_at = utcnow()
            s.add(row)
        assert row.notification_id is not None
        return row.notification_id

    return store.run(work)
