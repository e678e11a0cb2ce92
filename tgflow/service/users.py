"""The web console's users: who may log in, with which role; passwords kept only as a slow salted hash.

``tgflow console add-user/remove-user/users`` and the console's login both go through here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from tgflow.store import Store
from tgflow.store import users as ustore

ROLES = ("admin", "viewer")
#: scrypt cost: n=2^14, r=8, p=1 (about 16 MB and tens of milliseconds per check).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class UserError(ValueError):
    """A user cannot be saved as asked; the message says what to fix."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                  dklen=len(bytes.fromhex(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed.hex(), digest)


#: Checked against when the user does not exist, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def add_user(store: Store, name: str, role: str, password: str) -> bool:
    """Add (or update) a console user; True when added. Raises :class:`UserError` naming what to fix."""
    if not _NAME.match(name):
        raise UserError(f"user name {name!r}: use 1 to 64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise UserError(f"role {role!r}: use admin (acts) or viewer (reads)")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    return ustore.save_user(store, name, role, hash_password(password))


def remove_user(store: Store, name: str) -> bool:
    return ustore.remove_user(store, name)


def list_users(store: Store) -> list[dict[str, Any]]:
    """Name, role and dates: never the hash."""
    return [{"name": u.name, "role": u.role, "created_at": u.created_at, "updated_at": u.updated_at}
            for u in ustore.list_users(store)]


def authenticate(store: Store, name: str, password: str) -> dict[str, str] | None:
    """``{"name", "role"}`` when the name and password match a user, else None (in about the same time)."""
    user = ustore.get_user(store, name)
    if user is None:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, user.password_hash):
        return None
    return {"name": user.name, "role": user.role}


def current_role(store: Store, name: str) -> str | None:
    """The user's role now (None: removed), so a removed or demoted user loses access at once."""
    user = ustore.get_user(store, name)
    return user.role if user is not None else None
