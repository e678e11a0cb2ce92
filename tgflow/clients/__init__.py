"""One async httpx client per API; every wire detail of an API lives in its module."""

from tgflow.clients.errors import (
    ApiError,
    AuthError,
    ConflictError,
    NotCancellableError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TransientError,
    ValidationError,
)

__all__ = [
    "ApiError",
    "AuthError",
    "ConflictError",
    "NotCancellableError",
    "NotFoundError",
    "PermanentError",
    "RateLimitedError",
    "TransientError",
    "ValidationError",
]
