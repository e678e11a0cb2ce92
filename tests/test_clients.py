"""Both API clients against the simulators over real HTTP: pagination, token expiry,
error classification (422 details, 429 Retry-After, 5xx, timeouts)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tgflow.clients.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from tgflow.clients.framework360 import (
    Framework360Client,
    IntegrationStatus,
    ProductInput,
    ProductUpdate,
)
from tgflow.clients.totalgest import (
    Address,
    CustomerInput,
    OrderInput,
    OrderLine,
    TotalGestClient,
)


async def test_totalgest_pages_every_article_once_to_the_end(settings, tg_sim):
    seen: list[int] = []
    pages = 0
    async with TotalGestClient(settings.totalgest) as tg:
        async for page in tg.iter_articles(limit=37):
            pages += 1
            seen += [a.id for a in page.items]
    assert len(seen) == 300 == len(set(seen))
    assert pages == 9  # 8 full pages of 37 and one of 4
    async with TotalGestClient(settings.totalgest) as tg:
        rows = [row async for page in tg.iter_stock(limit=100) for row in page.items]
    assert len(rows) == 300 * len(tg_sim.sim.warehouses)


async def test_totalgest_updated_since_returns_only_touched_articles(settings, tg_sim):
    since = datetime.now(timezone.utc)
    tg_sim.sim.touch_articles(["ART-00003", "ART-00150"], price_gross="99.90")
    async with TotalGestClient(settings.totalgest) as tg:
        page = await tg.list_articles(updated_since=since)
    assert {a.code for a in page.items} == {"ART-00003", "ART-00150"}
    assert {a.price_gross for a in page.items} == {"99.90"}
    assert page.next_cursor is None


async def test_totalgest_logs_in_again_once_when_the_token_expires(settings, tg_sim):
    async with TotalGestClient(settings.totalgest) as tg:
        await tg.get_shop()
        tg_sim.sim.expire_tokens()
        shop = await tg.get_shop()
    assert shop.currency == "CHF"
    assert tg_sim.sim.stats()["logins"] == 2


async def test_totalgest_wrong_password_is_a_permanent_auth_error(settings):
    bad = settings.totalgest.model_copy(update={"password": __import__("pydantic").SecretStr("nope")})
    async with TotalGestClient(bad) as tg:
        with pytest.raises(AuthError) as err:
            await tg.get_shop()
    assert err.value.code == "invalid_credentials" and not err.value.retryable
    assert "nope" not in str(err.value)


def _order(customer_id: int, code: str, total: str) -> OrderInput:
    addr = Address(name="Test Kunde", street="Bahnhofstrasse 1", zip="8001", city="Zürich", country="CH")
    return OrderInput(
        external_ref="F360-T1", order_date=datetime.now(timezone.utc), customer_id=customer_id, currency="CHF",
        payment_method="CC", billing=addr, shipping=addr,
        lines=[OrderLine(article_code=code, quantity=Decimal("2"), unit_price_gross=Decimal("10.00"), vat_rate=Decimal("8.1"))],
        shipping_gross=Decimal("9.90"), total_gross=Decimal(total),
    )


async def test_totalgest_422_carries_field_details(settings, tg_sim):
    async with TotalGestClient(settings.totalgest) as tg:
        customer = await tg.create_customer(CustomerInput(
            email="t@example.ch",
            billing=Address(name="Test Kunde", street="Bahnhofstrasse 1", zip="8001", city="Zürich", country="CH")))
        with pytest.raises(ValidationError) as err:
            await tg.create_order(_order(customer.id, "NOPE-1", "29.90"))
        created = await tg.create_order(_order(customer.id, "ART-00001", "29.90"))
    assert any("lines[0].article_code" == d.get("field") for d in err.value.details)
    assert not err.value.retryable
    assert [o["number"] for o in tg_sim.sim.orders()] == [created.number]
    assert Decimal(tg_sim.sim.orders()[0]["total_gross"]) == Decimal("29.90")


async def test_totalgest_429_is_transient_with_retry_after_and_5xx_is_transient(settings, tg_sim):
    async with TotalGestClient(settings.totalgest) as tg:
        await tg.login()
        tg_sim.sim.set_faults(rate_limit_burst=1, retry_after_seconds=7)
        with pytest.raises(RateLimitedError) as limited:
            await tg.get_shop()
        assert limited.value.retryable and limited.value.retry_after == 7
        tg_sim.sim.set_faults(error_rate=1.0)
        with pytest.raises(TransientError) as failing:
            await tg.get_shop()
        assert failing.value.status in (500, 503)
        tg_sim.sim.set_faults()
        assert (await tg.get_shop()).id == settings.totalgest.shop_id


async def test_timeouts_and_unreachable_hosts_are_transient(settings, tg_sim):
    tg_sim.sim.set_faults(timeout_rate=1.0, timeout_seconds=2.0)
    async with TotalGestClient(settings.totalgest, timeout=0.3) as tg:
        with pytest.raises(TransientError) as err:
            await tg.login()
    assert err.value.code == "timeout"
    from tgflow.sim.server import free_port

    gone = settings.totalgest.model_copy(update={"endpoint": f"http://127.0.0.1:{free_port()}/api/v1"})
    async with TotalGestClient(gone) as tg:
        with pytest.raises(TransientError) as err:
            await tg.login()
    assert err.value.code == "connection_error"


async def test_framework360_pages_orders_and_products_and_batches_per_item(settings, f360_sim):
    async with Framework360Client(settings.f360) as f360:
        orders = [o.id async for page in f360.iter_orders(per_page=7) for o in page.items]
        assert sorted(orders) == sorted(o["id"] for o in f360_sim.sim.orders())
        f360_sim.sim.reject_skus({"SKU-BAD": "name too long"})
        result = await f360.batch_products(create=[
            ProductInput(sku=f"SKU-{i}", name=f"P{i}", price=Decimal("1.50"), vat_rate=Decimal("8.1")) for i in range(3)
        ] + [ProductInput(sku="SKU-BAD", name="x", price=Decimal("1"), vat_rate=Decimal("8.1"))])
        assert [r.error is None for r in result.create] == [True, True, True, False]
        assert result.create[3].error.message == "name too long"
        dup = await f360.batch_products(create=[ProductInput(sku="SKU-0", name="again", price=Decimal("2"), vat_rate=Decimal("8.1"))],
                                        update=[ProductUpdate(id=result.create[1].id, stock_quantity=4)])
        assert dup.create[0].error.error == "duplicate_sku"
        assert dup.update[0].error is None
        products = [p async for page in f360.iter_products(per_page=2) for p in page.items]
        assert [p.sku for p in products] == ["SKU-0", "SKU-1", "SKU-2"]
        assert products[1].stock_quantity == 4 and products[1].price == "1.50"
        await f360.set_product_status(products[0].id, IntegrationStatus(status="linked", remote_id="17"))
        assert (await f360.find_product("SKU-0")).integrations.totalgest.remote_id == "17"
    assert f360_sim.sim.product_by_sku("SKU-0")["integrations"]["totalgest"]["status"] == "linked"


async def test_framework360_errors_are_classified(settings, f360_sim):
    async with Framework360Client(settings.f360) as f360:
        with pytest.raises(NotFoundError):
            await f360.get_order(999_999)
        f360_sim.sim.set_faults(rate_limit_burst=1, retry_after_seconds=3)
        with pytest.raises(RateLimitedError) as limited:
            await f360.get_site()
        assert limited.value.retry_after == 3
        f360_sim.sim.set_faults()
        f360_sim.sim.set_module_active(False)
        with pytest.raises(ConflictError) as inactive:
            await f360.list_products()
        assert inactive.value.code == "module_inactive"
        assert not (await f360.get_site()).ecommerce_active
    bad = settings.f360.model_copy(update={"api_key": __import__("pydantic").SecretStr("wrong-key")})
    async with Framework360Client(bad) as f360:
        with pytest.raises(AuthError):
            await f360.get_site()
