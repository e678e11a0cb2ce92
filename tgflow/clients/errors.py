"""Typed API errors that say whether retrying can help.

Clients never retry: Temporal does. Activities turn a ``PermanentError`` into a
non-retryable ``ApplicationError`` and let a ``TransientError`` bubble up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class ApiError(Exception):
    api: str
    message: str
    status: int | None = None
    code: str = ""
    details: list[dict[str, Any]] = field(default_factory=list)

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


class NotCancellableError(ConflictError):
    """TotalGest 409 ``not_cancellable``: the order is invoiced or shipped; issue a credit note instead."""


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
    raw_details = body.get("details")
    details: list[dict[str, Any]] = raw_details if isinstance(raw_details, list) else []
    status = response.status_code
    if status == 429 or (status == 503 and _retry_after(response) is not None):
        return RateLimitedError(api=api, message=message, status=status, code=code, details=details,
                                retry_after=_retry_after(response))
    kind: type[ApiError] = PermanentError
    if status >= 500 or status == 408:
        kind = TransientError
    elif (status, code) in _BY_STATUS_AND_CODE:
        kind = _BY_STATUS_AND_CODE[(status, code)]
    elif status in _BY_STATUS:
        kind = _BY_STATUS[status]
    return kind(api=api, message=message, status=status, code=code, details=details)


_BY_STATUS: dict[int, type[ApiError]] = {422: ValidationError, 401: AuthError, 403: AuthError, 404: NotFoundError,
                                         409: ConflictError}
_BY_STATUS_AND_CODE: dict[tuple[int, str], type[ApiError]] = {(409, "not_cancellable"): NotCancellableError}


def error_from_transport(api: str, exc: httpx.HTTPError) -> TransientError:
    """Timeouts and connection failures: the server may be fine a moment later."""
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
    return TransientError(api=api, message=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, code=kind)
