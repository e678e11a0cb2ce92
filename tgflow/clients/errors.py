"""Typed API errors that say whether retrying can help.

Clients never retry: Temporal does. Activities turn a ``PermanentError`` into a
non-retryable ``ApplicationError`` and let a ``TransientError`` bubble up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx


@dataclass
class ApiError(Exception):
    api: str
    message: str
    status: int | None = None
    code: str = ""
    details: list[dict] = field(default_factory=list)

    retryable = False

    def __str__(self) -> str:
        where = f"{self.api} {self.status}" if self.status else self.api
        text = f"{where} {self.code}: {self.message}" if self.code else f"{where}: {self.message}"
        if self.details:
            text += " (" + "; ".join(
                f"{d.get('field', '?')}: {d.get('message', '')}" for d in self.details
            ) + ")"
        return text


class TransientError(ApiError):
    """5xx, timeouts, connection errors, 429: trying again later can succeed."""

    retryable = True


@dataclass
class RateLimitedError(TransientError):
    retry_after: float | None = None


class PermanentError(ApiError):
    """Something a person must fix; the same request will fail again."""


class ValidationError(PermanentError):
    """422: the body was understood but refused; ``details`` name the fields."""


class AuthError(PermanentError):
    """401/403: wrong credentials, API key or shop."""


class NotFoundError(PermanentError):
    pass


class ConflictError(PermanentError):
    """409, e.g. Framework360's E-commerce module is inactive."""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def error_from_response(api: str, response: httpx.Response) -> ApiError:
    """Classify a non-2xx response by status code and the contract's error body."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("error") or "")
    message = str(body.get("message") or response.reason_phrase or "error")
    details = body.get("details") if isinstance(body.get("details"), list) else []
    status = response.status_code
    kwargs = dict(api=api, message=message, status=status, code=code, details=details)
    if status == 429:
        return RateLimitedError(**kwargs, retry_after=_retry_after(response))
    if status == 503 and _retry_after(response) is not None:
        return RateLimitedError(**kwargs, retry_after=_retry_after(response))
    if status >= 500 or status == 408:
        return TransientError(**kwargs)
    if status == 422:
        return ValidationError(**kwargs)
    if status in (401, 403):
        return AuthError(**kwargs)
    if status == 404:
        return NotFoundError(**kwargs)
    if status == 409:
        return ConflictError(**kwargs)
    return PermanentError(**kwargs)


def error_from_transport(api: str, exc: httpx.HTTPError) -> TransientError:
    """Timeouts and connection failures: the server may be fine a moment later."""
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
    return TransientError(api=api, message=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, code=kind)
