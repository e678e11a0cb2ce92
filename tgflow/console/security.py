"""The console's guards: security headers, login throttling per client address, CSRF tokens, signed sessions."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: No inline script anywhere: every script is a file served by the console itself.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Adds the security headers to every response (pages, API, static files, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in HEADERS if name not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Sessions:
    """Signed session cookies (itsdangerous, via Starlette), HttpOnly and SameSite=Lax; Secure when the request
    came over HTTPS (directly, or through a proxy that says so: uvicorn's proxy headers)."""

    def __init__(self, app: ASGIApp, secret_key: str, max_age: int = 12 * 3600) -> None:
        options: dict[str, Any] = {"secret_key": secret_key, "session_cookie": "tgflow_console",
                                   "max_age": max_age, "same_site": "lax"}
        self.plain = SessionMiddleware(app, https_only=False, **options)
        self.secure = SessionMiddleware(app, https_only=True, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        https = scope.get("scheme") in ("https", "wss")
        await (self.secure if https else self.plain)(scope, receive, send)


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token (made on first use); every form carries it, every form POST is checked."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_ok(session: MutableMapping[str, Any], given: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


class LoginThrottle:
    """Failed logins per client address: after ``free`` failures within ``window`` seconds, each further attempt
    from that address must wait, twice as long after every failure (capped at ``max_wait``)."""

    def __init__(self, free: int = 5, window: float = 900.0, base_wait: float = 2.0, max_wait: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.window, self.base_wait, self.max_wait = free, window, base_wait, max_wait
        self.clock = clock
        self._failures: dict[str, list[float]] = {}

    def _recent(self, address: str) -> list[float]:
        now = self.clock()
        recent = [t for t in self._failures.get(address, []) if now - t < self.window]
        if recent:
            self._failures[address] = recent
        else:
            self._failures.pop(address, None)
        return recent

    def wait_seconds(self, address: str) -> int:
        """0 when this address may try now; else how many seconds it must wait."""
        recent = self._recent(address)
        if len(recent) < self.free:
            return 0
        wait = min(self.base_wait * 2 ** (len(recent) - self.free), self.max_wait)
        left = recent[-1] + wait - self.clock()
        return max(int(left + 0.999), 0)

    def failed(self, address: str) -> None:
        self._recent(address)
        self._failures.setdefault(address, []).append(self.clock())
        if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
            oldest = min(self._failures, key=lambda a: self._failures[a][-1])
            self._failures.pop(oldest, None)

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


Handler = Callable[..., Awaitable[Any]]
