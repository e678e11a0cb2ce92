"""Private plumbing shared by the API clients: send, classify, parse."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import httpx
import pydantic

from tgflow import metrics
from tgflow.clients.errors import (
    PermanentError,
    RateLimitedError,
    TransientError,
    error_from_response,
    error_from_transport,
)

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)
T = TypeVar("T")

#: Safe (idempotent) requests, and a create with its look-ups (`create_or_find`): tries in all, before the failure goes
#: to the caller (Temporal retries the whole step: every call again). 4, not 3: with 20 % of calls failing (the
#: orders-faults bench) 3 restarted ~3 % of exports, each a backoff plus all its calls again, and made the slowest orders.
SAFE_ATTEMPTS = 4
#: Backoff between them: first wait and longest wait in seconds, each jittered (×0.5 to ×1.5).
SAFE_BACKOFF_SECONDS = 0.1
SAFE_BACKOFF_MAX_SECONDS = 1.0
#: A Retry-After up to this long is waited here; a longer one goes to the caller (the step's next retry).
SAFE_MAX_RETRY_AFTER_SECONDS = 5.0


#: How a retry waits out its delay. ``asyncio.sleep`` unless the caller (an activity) set its own for the calls it
#: makes, e.g. to tell the order queue that this export is waiting, not loading TotalGest, while it sleeps.
backoff_wait: ContextVar[Callable[[float], Awaitable[Any]]] = ContextVar("backoff_wait", default=asyncio.sleep)


async def send(api: str, http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One HTTP exchange; any failure comes out as a classified ``ApiError``."""
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        error = error_from_transport(api, exc)
        metrics.api_call(api, error.code)
        raise error from None
    metrics.api_call(api, response.status_code)
    if response.is_success:
        return response
    if response.status_code == 429:
        metrics.rate_limited(api)
    raise error_from_response(api, response)


def retry_delay(exc: TransientError, attempt: int, rand: Callable[[], float] = random.random) -> float | None:
    """How long to wait before trying again after ``attempt`` (1-based) failed with ``exc``; None: do not.

    A Retry-After is honoured as given (None when longer than ``SAFE_MAX_RETRY_AFTER_SECONDS``);
    otherwise a short exponential backoff with jitter, so retries of concurrent calls spread out."""
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        return exc.retry_after if exc.retry_after <= SAFE_MAX_RETRY_AFTER_SECONDS else None
    return min(SAFE_BACKOFF_MAX_SECONDS, SAFE_BACKOFF_SECONDS * 2.0 ** (attempt - 1)) * (0.5 + rand())


async def retrying(call: Callable[[], Awaitable[T]], *, attempts: int = SAFE_ATTEMPTS,
                   sleep: Callable[[float], Awaitable[Any]] | None = None) -> T:
    """Run a SAFE call (a read, a login, a look-up: repeating it changes nothing) up to ``attempts`` times:
    a transient failure (5xx, timeout, connection error, 429) is tried again after ``retry_delay``; the last
    one, a permanent one, or a Retry-After too long to wait here goes to the caller. Never for a create.
    Waits with ``sleep``, by default the context's ``backoff_wait``."""
    attempt = 1
    while True:
        try:
            return await call()
        except TransientError as exc:
            delay = retry_delay(exc, attempt) if attempt < attempts else None
            if delay is None:
                raise
        attempt += 1
        await (sleep or backoff_wait.get())(delay)


async def send_safe(api: str, http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """``send`` for idempotent requests only, with ``retrying``."""
    return await retrying(lambda: send(api, http, method, url, **kwargs))


def parse(api: str, model: type[ModelT], data: Any, what: str) -> ModelT:
    """Validate a body; malformed data from the other side is permanent and named."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise PermanentError(
            api=api,
            code="malformed_response",
            message=f"{what}: {where}: {first.get('msg', 'invalid')}",
        ) from None


def json_body(response: httpx.Response, api: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PermanentError(
            api=api, status=response.status_code, code="not_json",
            message="the server did not answer JSON (is this the right endpoint?)",
        ) from None
