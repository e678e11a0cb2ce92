"""Claims on a customer's e-mail: one export at a time looks up and creates that TotalGest customer, across
every worker that shares this status database (TotalGest does not keep e-mails unique).

Portable SQL (SQLite and PostgreSQL), one transaction each: taking a claim is an UPDATE of a lapsed claim or of
one this holder already has, else an INSERT that a live claim of someone else refuses by its primary key."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tgflow.store.db import Store
from tgflow.store.models import CustomerClaim, utcnow

_CLAIM: sa.Table = CustomerClaim.__table__  # type: ignore[attr-defined]


def take_customer_claim(store: Store, shop_id: str, email_digest: str, holder: str, ttl_seconds: float) -> bool:
    """True when ``holder`` has the claim now (taken, taken over from a lapsed holder, or renewed)."""
    now = utcnow()
    values = {"holder": holder, "expires_at": now + timedelta(seconds=ttl_seconds)}
    key = (_CLAIM.c.shop_id == shop_id) & (_CLAIM.c.email_digest == email_digest)
    try:
        with store.engine.begin() as conn:
            taken = conn.execute(sa.update(_CLAIM).where(key, (_CLAIM.c.expires_at < now) | (_CLAIM.c.holder == holder))
                                 .values(**values))
            if taken.rowcount:
                return True
            conn.execute(sa.insert(_CLAIM).values(shop_id=shop_id, email_digest=email_digest, **values))
            return True
    except IntegrityError:  # someone else's live claim
        return False


def release_customer_claim(store: Store, shop_id: str, email_digest: str, holder: str) -> None:
    """Give the claim up; one that lapsed and was taken by another holder meanwhile is left alone."""
    with store.engine.begin() as conn:
        conn.execute(sa.delete(_CLAIM).where(_CLAIM.c.shop_id == shop_id, _CLAIM.c.email_digest == email_digest,
                                             _CLAIM.c.holder == holder))
