"""Status-store functions of the web console's users (``tgflow console add-user``): name, role, password hash."""

from __future__ import annotations

from sqlmodel import Session, col, select

from tgflow.store.db import Store
from tgflow.store.models import ConsoleUser, utcnow


def get_user(store: Store, name: str) -> ConsoleUser | None:
    with store.session() as s:
        return s.exec(select(ConsoleUser).where(ConsoleUser.name == name)).first()


def save_user(store: Store, name: str, role: str, password_hash: str) -> bool:
    """Add the user, or set a new role and password for an existing one; True when added."""

    def work(s: Session) -> bool:
        user = s.exec(select(ConsoleUser).where(ConsoleUser.name == name)).first()
        now = utcnow()
        added = user is None
        if user is None:
            user = ConsoleUser(name=name, role=role, password_hash=password_hash, created_at=now)
        user.role = role
        user.password_hash = password_hash
        user.updated_at = now
        s.add(user)
        return added

    return store.run(work)


def remove_user(store: Store, name: str) -> bool:
    """True when a user of that name was removed."""

    def work(s: Session) -> bool:
        user = s.exec(select(ConsoleUser).where(ConsoleUser.name == name)).first()
        if user is None:
            return False
        s.delete(user)
        return True

    return store.run(work)


def list_users(store: Store) -> list[ConsoleUser]:
    with store.session() as s:
        return list(s.exec(select(ConsoleUser).order_by(col(ConsoleUser.name))))
