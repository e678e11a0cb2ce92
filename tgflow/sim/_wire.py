"""Wire helpers both simulators share: timestamps and the contracts' common Error body."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def now() -> datetime:
    return datetime.now(timezone.utc)


def ts(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def parse_dt(value: Any) -> datetime | None:
    """RFC 3339 with offset, else None (a naive timestamp is ambiguous, so it is rejected)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return dt.astimezone(timezone.utc) if dt.tzinfo else None


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
          details: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and wrong methods still answer the contract's Error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "error")
    return error(status, code, str(getattr(exc, "detail", "")) or code)
