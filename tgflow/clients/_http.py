"""Private plumbing shared by the API clients: send, classify, parse."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
import pydantic

from tgflow import metrics
from tgflow.clients.errors import (
    PermanentError,
    error_from_response,
    error_from_transport,
)

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


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
