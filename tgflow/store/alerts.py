"""Alert state: which conditions fire, since when, and what was delivered about them.

The health check calls ``apply_findings`` with everything it evaluated; the rows it returns are the
ones whose state has not been delivered yet (or is due again). Delivery is recorded with
``mark_delivered``, so a check that runs twice sends nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from tgflow.store.db import Store
from tgflow.store.models import Alert

FIRING = "firing"
RESOLVED = "resolved"


@dataclass(frozen=True)
class Due:
    """An alert whose state must be sent now."""

    key: str
    state: str  # firing | resolved
    message: str
    since: datetime | None


def apply_findings(store: Store, shop_id: str, findings: dict[str, str], now: datetime,
                   repeat_after: timedelta) -> list[Due]:
    """Raise new conditions, refresh firing ones, resolve cleared ones; return what is due for delivery.

    ``findings`` maps each firing condition's key to its one-line message; every key not in it is clear.
    """

    def work(s: Session) -> list[Due]:
        rows = {row.key: row for row in s.exec(select(Alert).where(Alert.shop_id == shop_id))}
        due: list[Due] = []
        for key, message in findings.items():
            row = rows.get(key)
            if row is None:
                row = Alert(shop_id=shop_id, key=key, since=now)
            elif not row.active:
                row.active, row.since, row.resolved_at = True, now, None
            row.message = message
            row.last_checked_at = now
            s.add(row)
            stale = row.notified_at is None or now - row.notified_at >= repeat_after
            if row.notified_state != FIRING or stale:
                due.append(Due(key, FIRING, message, row.since))
        for key, row in rows.items():
            if key in findings or not row.active:
                continue
            row.active, row.resolved_at, row.last_checked_at = False, now, now
            s.add(row)
        for row in rows.values():
            if not row.active and row.notified_state == FIRING:
                due.append(Due(row.key, RESOLVED, row.message, row.since))
        return due

    return store.run(work)


def mark_delivered(store: Store, shop_id: str, due: list[Due], at: datetime, error: str | None) -> None:
    """Record the outcome of one delivery attempt of ``due`` (``error`` None: it was accepted)."""

    def work(s: Session) -> None:
        keys = {d.key: d for d in due}
        for row in s.exec(select(Alert).where(Alert.shop_id == shop_id, col(Alert.key).in_(keys))):
            if error is None:
                row.notified_state, row.notified_at, row.notify_error = keys[row.key].state, at, None
            else:
                row.notify_error = error
            s.add(row)

    store.run(work)


def list_alerts(store: Store, shop_id: str, *, active_only: bool = False) -> list[Alert]:
    with store.session() as s:
        query = select(Alert).where(Alert.shop_id == shop_id)
        if active_only:
            query = query.where(Alert.active == True)  # noqa: E712
        return list(s.exec(query.order_by(col(Alert.since))))
