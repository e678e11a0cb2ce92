"""The one rule by which activities turn client errors into Temporal errors (``tgflow/activities/calls.py``):
what waits, what Temporal retries, what a person must fix, and that the refusal names the setting's owner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError

from tgflow.activities.calls import as_temporal_error, current_shop, temporal_errors
from tgflow.clients.errors import ApiError, AuthError, NotFoundError, RateLimitedError, TransientError


def test_a_429_waits_its_retry_after_and_a_5xx_is_left_to_temporals_retry() -> None:
    limited = as_temporal_error(RateLimitedError("TotalGest", "slow down", 429, retry_after=3.0), "reading stock")
    assert isinstance(limited, ApplicationError) and not limited.non_retryable
    assert limited.type == "RateLimited" and limited.next_retry_delay == timedelta(seconds=3)
    assert limited.message.startswith("reading stock: TotalGest 429")
    flaky = TransientError("TotalGest", "boom", 502)
    assert as_temporal_error(flaky, "reading stock") is flaky


def test_a_refusal_is_final_and_a_credentials_refusal_says_whose_to_check() -> None:
    missing = as_temporal_error(NotFoundError("Framework360", "no such order", 404), "reading the order")
    assert isinstance(missing, ApplicationError) and missing.non_retryable and missing.type == "NotFoundError"
    assert "credentials" not in missing.message

    token = current_shop.set("c")
    try:
        denied = as_temporal_error(AuthError("TotalGest", "bad password", 401, code="invalid_credentials"))
    finally:
        current_shop.reset(token)
    assert isinstance(denied, ApplicationError) and denied.non_retryable and denied.type == "AuthError"
    assert denied.message == "TotalGest 401 invalid_credentials: bad password - check shop c's credentials in the settings"


def test_a_caller_builds_its_own_refusal_and_names_the_step_from_the_error() -> None:
    def refuse(reason: str, number: str | None) -> ApplicationError:
        return ApplicationError(f"order {number}: {reason}", type="NotExportable", non_retryable=True)

    def step(exc: ApiError) -> str:
        return f"asking {exc.api}"

    with pytest.raises(ApplicationError) as raised:
        with temporal_errors(step, refuse, "F360-1"):
            raise NotFoundError("Framework360", "gone", 404)
    assert raised.value.type == "NotExportable" and raised.value.non_retryable
    assert raised.value.message == "order F360-1: asking Framework360: Framework360 404: gone"

    with pytest.raises(TransientError):  # not converted: Temporal retries the activity
        with temporal_errors(step, refuse):
            raise TransientError("TotalGest", "down", 503)
