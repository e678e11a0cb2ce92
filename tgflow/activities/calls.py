"""Client errors become Temporal errors by one rule, for every activity that calls the two APIs.

A 429 waits its ``Retry-After``; other transient errors propagate (Temporal retries with backoff); an
authentication error or another permanent one becomes a non-retryable refusal (``refuse``) naming what
to fix, so the person reads one line and nothing retries what cannot succeed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import TypeVar

from temporalio.exceptions import ApplicationError

from tgflow.clients.errors import AuthError, PermanentError, RateLimitedError

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


async def api_call(fn: Callable[[], Awaitable[T]], *, what: str, refuse: Refuse, number: str | None = None) -> T:
    try:
        return await fn()
    except RateLimitedError as exc:
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
        raise ApplicationError(f"{what}: {exc}", type="RateLimited", next_retry_delay=delay) from None
    except AuthError as exc:
        raise refuse(f"{what}: {exc} - {credentials_hint()}", number) from None
    except PermanentError as exc:
        raise refuse(f"{what}: {exc}", number) from None
