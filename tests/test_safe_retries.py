"""The TotalGest client's retries of safe calls (``clients/_http.retrying``): reads, look-ups and the login are
tried again on a transient failure, honouring Retry-After; a create is sent exactly once whatever happens."""

from __future__ import annotations

import httpx
import pytest

from tgflow.clients._http import SAFE_ATTEMPTS, SAFE_MAX_RETRY_AFTER_SECONDS, retry_delay
from tgflow.clients.errors import RateLimitedError, TransientError
from tgflow.clients.totalgest import OrderInput, TotalGestClient


class Script:
    """A TotalGest stand-in: answers each route from a list of (status, headers) failures, then succeeds."""

    def __init__(self, **failures: list[tuple[int, dict[str, str]]]) -> None:
        self.failures = failures
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        route = ("login" if path.endswith("/auth/token") else "customers" if path.endswith("/customers")
                 else "create_order" if request.method == "POST" else "find_orders")
        self.calls.append(route)
        pending = self.failures.get(route) or []
        if pending:
            status, headers = pending.pop(0)
            return httpx.Response(status, headers=headers, json={"error": "injected", "message": "injected"})
        if route == "login":
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 3600})
        if route == "create_order":
            return httpx.Response(500, json={"error": "server_error", "message": "lost after commit"})
        return httpx.Response(200, json=[])


def client(settings, script: Script) -> TotalGestClient:
    return TotalGestClient(settings.totalgest, transport=httpx.MockTransport(script))


async def test_reads_and_the_login_are_retried_until_they_answer(settings):
    script = Script(login=[(500, {})], find_orders=[(503, {}), (429, {"Retry-After": "0"})])
    async with client(settings, script) as tg:
        assert await tg.find_orders("SO-1") == []
    assert script.calls == ["login", "login", "find_orders", "find_orders", "find_orders"]


async def test_a_read_gives_up_after_the_safe_attempts(settings):
    script = Script(find_orders=[(500, {})] * 10)
    async with client(settings, script) as tg:
        with pytest.raises(TransientError) as failed:
            await tg.find_orders("SO-1")
    assert failed.value.status == 500
    assert script.calls.count("find_orders") == SAFE_ATTEMPTS


async def test_a_retry_after_too_long_to_wait_goes_to_the_caller_at_once(settings):
    long = str(int(SAFE_MAX_RETRY_AFTER_SECONDS) + 5)
    script = Script(find_orders=[(429, {"Retry-After": long})])
    async with client(settings, script) as tg:
        with pytest.raises(RateLimitedError) as limited:
            await tg.find_orders("SO-1")
    assert limited.value.retry_after == float(long)  # the step's next retry waits it (next_retry_delay)
    assert script.calls.count("find_orders") == 1


async def test_a_create_is_never_repeated_by_the_client(settings):
    script = Script()
    async with client(settings, script) as tg:
        order = OrderInput.model_validate(_order_body())
        with pytest.raises(TransientError):
            await tg.create_order(order)
    assert script.calls.count("create_order") == 1


def test_backoff_is_short_jittered_and_honours_retry_after():
    plain = TransientError(api="TotalGest", status=500, code="server_error", message="x")
    assert retry_delay(plain, 1, rand=lambda: 0.0) == pytest.approx(0.05)
    assert retry_delay(plain, 1, rand=lambda: 1.0) == pytest.approx(0.15)
    assert retry_delay(plain, 2, rand=lambda: 0.5) == pytest.approx(0.2)
    assert retry_delay(plain, 10, rand=lambda: 0.5) == pytest.approx(1.0)  # capped
    assert retry_delay(RateLimitedError(api="TotalGest", status=429, code="rate_limited", message="x", retry_after=2.0), 1) == 2.0
    assert retry_delay(RateLimitedError(api="TotalGest", status=429, code="rate_limited", message="x", retry_after=60.0), 1) is None


def _order_body() -> dict:
    address = {"name": "N", "street": "S 1", "zip": "8000", "city": "Z", "country": "CH"}
    return {"external_ref": "SO-1", "customer_id": 1, "order_date": "2026-11-30T10:00:00+00:00",
            "payment_method": "CARD", "currency": "CHF", "billing": address, "shipping": address,
            "total_gross": "10.00",
            "lines": [{"article_code": "ART-00001", "quantity": 1, "unit_price_gross": "10.00", "vat_rate": "8.1"}]}


async def test_a_lost_answer_to_the_last_create_is_resolved_by_the_look_up(settings, tg_sim):
    """The TotalGest simulator refuses the first creates (429, Retry-After 0) and loses the answer to the last one
    it commits: ``create_or_find`` looks the customer up even after its last attempt, so the export goes on with
    the one customer created instead of failing the step (which would restart every call of the export)."""
    from tgflow.activities.orders import create_or_find
    from tgflow.clients.totalgest import Address, CustomerInput

    email = "last.attempt@example.com"
    address = Address.model_validate({"name": "N", "street": "S 1", "zip": "8000", "city": "Z", "country": "CH"})
    async with TotalGestClient(settings.totalgest) as tg:
        await tg.find_customers(email)  # logged in before the faults: they meet the creates only
        tg_sim.sim.set_faults(rate_limit_burst=SAFE_ATTEMPTS - 1, retry_after_seconds=0, error_after_commit_rate=1.0)
        try:
            async def lookup():
                return await tg.find_customers(email) or None

            got = await create_or_find(lambda: tg.create_customer(CustomerInput(email=email, billing=address)), lookup)
        finally:
            tg_sim.sim.set_faults()
    stats = tg_sim.sim.stats()
    assert stats["by_status"].get("429") == SAFE_ATTEMPTS - 1 and stats["by_status"].get("500") == 1
    created = [c for c in tg_sim.sim.customers() if c["email"] == email]
    assert len(created) == 1  # sent once past the refusals, never repeated blindly
    assert [c.id for c in got] == [created[0]["id"]]
