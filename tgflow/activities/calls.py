"""Client errors become Temporal errors by one rule, for every activity that calls the two APIs.

A 429 waits its ``Retry-After``; other transient errors propagate (Temporal retries with backoff); an
authentication error or another permanent one becomes a non-retryable refusal (``refuse``) naming what
to fix, so the person reads one line and nothing retries what cannot succeed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import TypeVar

from temporalio.exceptions import ApplicationError

from tgflow.clients.errors import ApiError, AuthError, PermanentError, RateLimitedError

T = TypeVar("T")

#: The ``[[shops]]`` shop whose activity runs now (set by the worker serving several shops; None for the
#: single-shop form): refusals that need a person name the shop whose settings to fix.
current_shop: ContextVar[str | None] = ContextVar("current_shop", default=None)


def credentials_hint() -> str:
    shop = current_shop.get()
    return f"check shop {shop}'s credentials in the settings" if shop \
        else "check the credentials in the settings"


#: Builds the non-retryable error of a refusal: ``refuse(reason, order number)``.
Refuse = Callable[[str, str | None], ApplicationError]


def _refused(reason: str, exc: ApiError) -> ApplicationError:
    """The default refusal: non-retryable, typed by the client error (``AuthError``, ``ValidationError``...)."""
    return ApplicationError(reason, type=type(exc).__name__, non_retryable=True)


def as_temporal_error(exc: ApiError, what: str | Callable[[ApiError], str] | None = None,
                      refuse: Refuse | None = None, number: str | None = None) -> BaseException:
    """The rule: the Temporal error to raise for ``exc``, or ``exc`` itself when Temporal's own retry fits.
    ``what`` (the step, or how to name it from the error) leads the message."""
    step = what(exc) if callable(what) else what
    prefix = f"{step}: " if step else ""
    if isinstance(exc, RateLimitedError):
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
        return ApplicationError(f"{prefix}{exc}", type="RateLimited", next_retry_delay=delay)
    if isinstance(exc, PermanentError):
        reason = f"{prefix}{exc} - {credentials_hint()}" if isinstance(exc, AuthError) else f"{prefix}{exc}"
        return refuse(reason, number) if refuse is not None else _refused(reason, exc)
    return exc


@contextmanager
def temporal_errors(what: str | Callable[[ApiError], str] | None = None, refuse: Refuse | None = None,
                    number: str | None = None) -> Iterator[None]:
    """Client errors raised inside become Temporal errors by ``as_temporal_error``."""
    try:
        yield
    except ApiError as exc:
        converted = as_temporal_error(exc, what, refuse, number)
        if converted is exc:
            raise
        raise converted from None


async def api_call(fn: Callable[[], Awaitable[T]], *, what: str, refuse: Refuse, number: str | None = None) -> T:
    with temporal_errors(what, refuse, number):
        return await fn()
