"""Pure mapping Framework360 order -> TotalGest customer + order: fields, and reasons a person can act on."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tgflow.clients.framework360 import Order
from tgflow.config import DEFAULT_PAYMENT_METHODS
from tgflow.mapping.orders import MappingError, explain_rejection, map_order
from tgflow.sim.framework360 import Framework360Sim

TG_CODES = ["CC", "PP", "TW", "RE", "VB", "NN"]
TG_RATES = ["8.1", "2.6", "3.8"]


@pytest.fixture(scope="module")
def sim():
    sim = Framework360Sim(orders=0, seed=7)
    yield sim
    sim.close()


def make(sim, **kw) -> Order:
    return Order.model_validate(sim.create_order(**kw))


def mapped(order: Order, **kw):
    return map_order(order, DEFAULT_PAYMENT_METHODS, tg_payment_codes=TG_CODES, tg_vat_rates=TG_RATES,
                     currency="CHF", **kw)


def test_full_details_are_mapped(sim):
    order = make(sim, lines=3, payment_code="paypal")
    m = mapped(order)
    o, c = m.order, m.customer
    assert o.external_ref == order.number
    assert o.order_date == order.completed_at
    assert o.payment_method == "PP" and o.currency == "CHF"
    assert o.total_gross == order.total and o.shipping_gross == order.shipping_total
    assert [li.article_code for li in o.lines] == [li.sku for li in order.line_items]
    for src, dst in zip(order.line_items, o.lines):
        assert dst.description == src.name
        assert dst.quantity == Decimal(src.quantity)
        assert dst.unit_price_gross == src.unit_price and dst.discount_gross == src.discount
        assert dst.vat_rate == src.vat_rate
    b = order.billing_address
    assert o.billing.name == f"{b.first_name} {b.last_name}"
    assert o.billing.street.startswith(b.address_1) and o.billing.zip == b.postcode and o.billing.city == b.city
    assert o.shipping.zip == order.shipping_address.postcode
    assert c.email == order.customer.email and c.billing == o.billing and c.shipping == o.shipping
    assert m.with_customer(42).customer_id == 42
    # the sum TotalGest checks holds exactly
    total = sum((li.quantity * li.unit_price_gross - li.discount_gross for li in o.lines), Decimal(0)) + o.shipping_gross
    assert total == o.total_gross


def test_address_2_is_appended_to_street(sim):
    order = make(sim)
    data = order.model_dump()
    data["billing_address"]["address_2"] = "Postfach 12"
    m = mapped(Order.model_validate(data))
    assert m.order.billing.street == f"{order.billing_address.address_1}, Postfach 12"


def test_total_off_by_a_cent_names_the_difference(sim):
    order = make(sim, problem="bad_total")
    with pytest.raises(MappingError) as exc:
        mapped(order)
    msg = str(exc.value)
    assert order.number in msg and "difference +0.01" in msg and f"shipping {order.shipping_total}" in msg
    assert str(order.total) in msg


def test_line_that_does_not_add_up_is_named_with_its_discount(sim):
    data = make(sim, lines=2).model_dump(mode="json")
    data["line_items"][1]["discount"] = str(Decimal(data["line_items"][1]["discount"]) + Decimal("0.05"))
    with pytest.raises(MappingError) as exc:
        mapped(Order.model_validate(data))
    msg = str(exc.value)
    assert "line 2" in msg and data["line_items"][1]["sku"] in msg and "difference +0.05" in msg and "discount" in msg


def test_unmapped_payment_method_names_code_and_setting(sim):
    with pytest.raises(MappingError) as exc:
        mapped(make(sim, problem="bad_payment"))
    assert "'bitcoin'" in str(exc.value) and "TGFLOW_PAYMENT_METHODS" in str(exc.value)


def test_payment_code_unknown_to_totalgest(sim):
    order = make(sim, payment_code="stripe")
    with pytest.raises(MappingError, match="'XX', which TotalGest does not know"):
        map_order(order, {"stripe": "XX"}, tg_payment_codes=TG_CODES)


def test_missing_sku_names_the_line(sim):
    order = make(sim, problem="no_sku", lines=2)
    with pytest.raises(MappingError) as exc:
        mapped(order)
    assert "line 2 (no SKU, 'Gift wrapping') has no SKU" in str(exc.value)


def test_unknown_vat_rate(sim):
    data = make(sim, lines=1).model_dump(mode="json")
    data["line_items"][0]["vat_rate"] = "7.7"
    with pytest.raises(MappingError, match=r"line 1 .* VAT rate 7.7%, which TotalGest does not know"):
        mapped(Order.model_validate(data))


def test_not_completed(sim):
    with pytest.raises(MappingError, match="status is 'processing', not 'completed'"):
        mapped(make(sim, status="processing"))


def test_quantity_must_be_positive(sim):
    data = make(sim, lines=1).model_dump(mode="json")
    data["line_items"][0]["quantity"] = 0
    data["line_items"][0]["total"] = "0.00"
    with pytest.raises(MappingError, match="quantity 0"):
        mapped(Order.model_validate(data))


def test_reasons_carry_no_customer_data(sim):
    for problem in ("bad_total", "bad_payment", "no_sku"):
        order = make(sim, problem=problem)
        with pytest.raises(MappingError) as exc:
            mapped(order)
        msg = str(exc.value)
        for private in (order.customer.email, order.billing_address.last_name, order.billing_address.address_1):
            assert private not in msg


def test_totalgest_rejection_details_name_line_and_sku(sim):
    order = make(sim, problem="unknown_sku", lines=2)
    text = explain_rejection(order, [{"field": "lines[0].article_code", "message": "unknown article code 'NOPE-404'"}])
    assert "line 1 (SKU NOPE-404" in text and "unknown in TotalGest" in text
