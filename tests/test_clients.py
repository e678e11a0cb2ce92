"""Both API clients against the simulators over real HTTP: pagination, token expiry,
error classification (422 details, 429 Retry-After, 5xx, timeouts)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import httpx
import pytest

from tgflow.clients.errors import (
    AuthError,
    ConflictError,
    NotCancellableError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from tgflow.clients.framework360 import (
    Event,
    Framework360Client,
    FulfillmentInput,
    FulfillmentLine,
    Integrations,
    IntegrationStatus,
    NotificationInput,
    ProductInput,
    ProductUpdate,
)
from tgflow.clients.totalgest import (
    Address,
    CreditNoteInput,
    CreditNoteLine,
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


# ---- contracts 1.1 ------------------------------------------------------------------------------------------


async def _tg_order(tg: TotalGestClient, ref: str):
    customer = await tg.create_customer(CustomerInput(
        email=f"{ref.lower()}@example.ch",
        billing=Address(name="Test Kunde", street="Bahnhofstrasse 1", zip="8001", city="Zürich", country="CH")))
    return await tg.create_order(_order(customer.id, "ART-00001", "29.90").model_copy(update={"external_ref": ref}))


async def test_totalgest_streams_order_changes_with_status_invoice_and_shipments(settings, tg_sim):
    async with TotalGestClient(settings.totalgest) as tg:
        first, second, third = [await _tg_order(tg, f"F360-{i}") for i in range(3)]
        tg_sim.sim.ship_order(first.id, carrier="Swiss Post", tracking_number="99.00.1",
                              tracking_url="https://post.ch/t/99.00.1", lines=[{"article_code": "ART-00001",
                                                                                "quantity": "1"}])
        tg_sim.sim.invoice_order(third.id)
        pages = [page async for page in tg.iter_order_changes(limit=2)]
    assert [len(p.items) for p in pages] == [2, 1] and pages[-1].next_cursor is None
    changed = {o.id: o for page in pages for o in page.items}
    assert [o.id for page in pages for o in page.items] == [second.id, first.id, third.id]
    assert changed[second.id].status == "open" and changed[second.id].invoice_number is None
    assert changed[third.id].status == "invoiced" and changed[third.id].invoice_number.startswith("FA-")
    parcel = changed[first.id].shipments[0]
    assert changed[first.id].status == "invoiced"  # one of two pieces shipped
    assert (parcel.carrier, parcel.tracking_number, parcel.tracking_url) == (
        "Swiss Post", "99.00.1", "https://post.ch/t/99.00.1")
    assert [(line.article_code, line.quantity) for line in parcel.lines] == [("ART-00001", Decimal("1"))]
    assert parcel.shipped_at.tzinfo is not None


async def test_totalgest_cancels_an_open_order_and_refuses_an_invoiced_one(settings, tg_sim):
    async with TotalGestClient(settings.totalgest) as tg:
        open_order, invoiced = await _tg_order(tg, "F360-1"), await _tg_order(tg, "F360-2")
        tg_sim.sim.invoice_order(invoiced.id)
        assert (await tg.cancel_order(open_order.id, "customer request")).status == "cancelled"
        assert (await tg.cancel_order(open_order.id, "customer request")).status == "cancelled"  # repeatable
        with pytest.raises(NotCancellableError) as refused:
            await tg.cancel_order(invoiced.id, "too late")
    assert refused.value.code == "not_cancellable" and not refused.value.retryable
    assert isinstance(refused.value, ConflictError) and "credit note" in str(refused.value)
    assert {o["id"]: o["status"] for o in tg_sim.sim.orders()} == {open_order.id: "cancelled", invoiced.id: "invoiced"}


async def test_totalgest_credit_notes_found_by_ref_created_and_capped_at_what_is_left(settings, tg_sim):
    async with TotalGestClient(settings.totalgest) as tg:
        order = await _tg_order(tg, "F360-10042")
        tg_sim.sim.ship_order(order.id)
        assert await tg.find_credit_notes("F360-10042-R1") == []
        note = await tg.create_credit_note(CreditNoteInput(
            order_id=order.id, external_ref="F360-10042-R1", reason="return", restock=True, total_gross=Decimal("10.00"),
            lines=[CreditNoteLine(article_code="ART-00001", quantity=Decimal("1"), amount_gross=Decimal("10.00"),
                                  vat_rate=Decimal("8.1"))]))
        assert [n.id for n in await tg.find_credit_notes("F360-10042-R1")] == [note.id]
        with pytest.raises(ValidationError) as over:
            await tg.create_credit_note(CreditNoteInput(
                order_id=order.id, external_ref="F360-10042-R2", reason="goodwill", restock=False,
                total_gross=Decimal("19.91"),
                lines=[CreditNoteLine(article_code=None, quantity=Decimal("1"), amount_gross=Decimal("19.91"),
                                      vat_rate=Decimal("8.1"))]))
    assert note.number.startswith("NC-") and note.total_gross == Decimal("10.00") and note.created_at.tzinfo
    assert [d["field"] for d in over.value.details] == ["total_gross"] and "19.90" in str(over.value)
    [stored] = tg_sim.sim.credit_notes()
    assert (stored["external_ref"], stored["total_gross"], stored["lines"][0]["amount_gross"]) == (
        "F360-10042-R1", "10.00", "10.00")


async def test_framework360_fulfillment_notification_and_batch_status(settings, f360_sim):
    sim = f360_sim.sim
    order = sim.create_order(status="processing", lines=2)
    first = order["line_items"][0]
    shipped_at = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    async with Framework360Client(settings.f360) as f360:
        parcel = await f360.create_fulfillment(order["id"], FulfillmentInput(
            carrier="Swiss Post", tracking_number="99.00.1", tracking_url="https://post.ch/t/99.00.1",
            shipped_at=shipped_at, line_items=[FulfillmentLine(line_item_id=first["id"], quantity=first["quantity"])]))
        shown = await f360.get_order(order["id"])
        with pytest.raises(ValidationError):
            await f360.create_fulfillment(order["id"], FulfillmentInput(
                carrier="DPD", tracking_number="X", shipped_at=shipped_at,
                line_items=[FulfillmentLine(line_item_id=first["id"], quantity=1)]))
        sim.refund_order(order["id"], amount="5.00", reason="late")
        refunded = await f360.get_order(order["id"])
        note_id = await f360.create_notification(NotificationInput(
            title="1 order sent to TotalGest", message=f"{order['number']}: OV-2026-00001", level="info",
            request_id="req_1"))
        created = await f360.batch_products(create=[ProductInput(
            sku="S-1", name="Kette", price=Decimal("29.90"), vat_rate=Decimal("8.1"),
            integrations=Integrations(totalgest=IntegrationStatus(status="linked", remote_id="ART-1")))])
        site = await f360.get_site()
    assert parcel.id and parcel.shipped_at == shipped_at and parcel.notify_customer is True
    assert shown.fulfillment_status == "partial" and [f.tracking_number for f in shown.fulfillments] == ["99.00.1"]
    assert sim.emails_sent(order["id"]) == 1
    assert refunded.refunds[0].amount == Decimal("5.00") and refunded.refunds[0].line_items == []
    assert [(n["id"], n["request_id"], n["level"]) for n in sim.notifications()] == [(note_id, "req_1", "info")]
    assert created.create[0].error is None
    assert sim.product_by_sku("S-1")["integrations"]["totalgest"]["remote_id"] == "ART-1"
    assert sim.stats()["product_integration_puts"] == 0
    assert site.id == sim.site_id


async def test_framework360_events_of_1_1_parse_with_their_site_id(f360_sim):
    import json
    import threading

    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from tgflow.sim.server import ServerThread

    sim = f360_sim.sim
    got: list[bytes] = []
    done = threading.Event()

    async def hook(request):
        got.append(await request.body())
        if len(got) == 3:
            done.set()
        return Response(status_code=204)

    with ServerThread(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver:
        sim.subscribe(f"{receiver.url}/hook", ["order.cancelled", "order.refunded", "orders.export_requested"],
                      "client-test-secret-0123")
        order = sim.create_order(status="processing")
        sim.refund_order(order["id"], amount="1.00")
        sim.cancel_order(order["id"])
        httpx.post(f"{f360_sim.url}/_admin/export-requests",
                                 json={"order_ids": [order["id"], 3], "requested_by": "Anna Admin"}).raise_for_status()
        assert done.wait(10), f"{len(got)} of 3 events delivered"
    events = [Event.model_validate(json.loads(body)) for body in got]
    assert [e.type for e in events] == ["order.refunded", "order.cancelled", "orders.export_requested"]
    assert {e.site_id for e in events} == {sim.site_id}
    assert events[0].data.order_id == order["id"]
    assert (events[2].data.order_ids, events[2].data.requested_by) == ([order["id"], 3], "Anna Admin")
    assert events[2].data.request_id
