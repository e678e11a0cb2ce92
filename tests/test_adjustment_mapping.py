"""Pure mapping of refunds and cancellations to credit notes: amounts to the cent, exactly the refund."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tgflow.clients.framework360_models import Order as ShopOrder
from tgflow.clients.framework360_models import Refund
from tgflow.clients.totalgest_models import CreditNote
from tgflow.clients.totalgest_models import Order as TgOrder
from tgflow.mapping.adjustments import (
    AdjustmentError,
    cancel_credit_note,
    refund_credit_note,
    split_amount,
)

D = Decimal
NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
ADDR = {"first_name": "A", "last_name": "B", "address_1": "x", "postcode": "1", "city": "c", "country": "CH"}


def shop_order(lines, shipping="0.00") -> ShopOrder:
    items = [{"id": 100 + i, "sku": sku, "name": sku or "wrap", "quantity": q, "unit_price": p, "vat_rate": r,
              "total": str(D(p) * q)} for i, (sku, q, p, r) in enumerate(lines)]
    total = sum((D(i["total"]) for i in items), D(0)) + D(shipping)
    return ShopOrder.model_validate({
        "id": 1, "number": "F360-10001", "status": "completed", "currency": "CHF", "created_at": NOW,
        "updated_at": NOW, "customer": {"email": "x@example.org"}, "billing_address": ADDR, "shipping_address": ADDR,
        "payment_method": {"code": "stripe"}, "line_items": items, "shipping_total": shipping, "total": str(total)})


def tg_order(order: ShopOrder, shipments=()) -> TgOrder:
    lines = [{"article_code": li.sku, "quantity": str(li.quantity), "unit_price_gross": str(li.unit_price),
              "vat_rate": str(li.vat_rate)} for li in order.line_items if li.sku]
    return TgOrder.model_validate({
        "id": 7, "number": "TG-7", "external_ref": order.number, "order_date": NOW, "customer_id": 1, "currency": "CHF",
        "payment_method": "CC", "billing": {"name": "n", "street": "s", "zip": "1", "city": "c", "country": "CH"},
        "shipping": {"name": "n", "street": "s", "zip": "1", "city": "c", "country": "CH"}, "lines": lines,
        "shipping_gross": str(order.shipping_total), "total_gross": str(order.total), "created_at": NOW,
        "status": "invoiced", "invoice_number": "FA-1",
        "shipments": [{"id": i + 1, "carrier": "Post", "tracking_number": f"T{i}", "shipped_at": NOW,
                       "lines": [{"article_code": c, "quantity": str(q)} for c, q in s]}
                      for i, s in enumerate(shipments)]})


def refund(rid, amount, lines=(), restock=False) -> Refund:
    return Refund.model_validate({"id": rid, "amount": amount, "created_at": NOW, "restock": restock,
                                  "line_items": [{"line_item_id": i, "quantity": q, "amount": a} for i, q, a in lines]})


# ---- split_amount ----------------------------------------------------------------------------------------------

def test_split_is_proportional_and_to_the_cent():
    assert split_amount(D("10.00"), {"a": D(1), "b": D(1), "c": D(1)}) == {"a": D("3.34"), "b": D("3.33"),
                                                                         "c": D("3.33")}
    assert split_amount(D("20.00"), {D("8.1"): D("300"), D("2.6"): D("100")}) == {D("8.1"): D("15.00"),
                                                                                  D("2.6"): D("5.00")}


def test_split_gives_leftover_cents_to_largest_remainders():
    # 0.05 over weights 1:1:3 → exact 1, 1, 3 cents; 0.07 → 1.4, 1.4, 4.2 → floors 1,1,4 (+1 to the first 0.4)
    assert split_amount(D("0.07"), {"a": D(1), "b": D(1), "c": D(3)}) == {"a": D("0.02"), "b": D("0.01"),
                                                                        "c": D("0.04")}


def test_split_property_parts_sum_exactly_and_stay_near_proportional():
    rng = random.Random(13)
    for _ in range(2000):
        amount = D(rng.randint(-100000, 100000)) / 100
        weights = {i: D(rng.randint(0, 50000)) / 100 for i in range(rng.randint(1, 6))}
        if not any(weights.values()):
            weights[0] = D(1)
        parts = split_amount(amount, weights)
        assert sum(parts.values(), D(0)) == amount
        total_w = sum(weights.values())
        for key, part in parts.items():
            assert part == part.quantize(D("0.01"))
            assert abs(part - amount * weights[key] / total_w) < D("0.01")
        assert all(weights[k] > 0 for k in parts)


def test_split_refuses_fractions_of_cents_and_nothing_to_split_across():
    with pytest.raises(AdjustmentError, match="whole cents"):
        split_amount(D("1.005"), {"a": D(1)})
    with pytest.raises(AdjustmentError, match="nothing to split"):
        split_amount(D("1.00"), {"a": D(0)})
    assert split_amount(D("0"), {"a": D(1)}) == {}


# ---- refunds ------------------------------------------------------------------------------------------------------

def test_refund_of_lines_maps_skus_amounts_rates_and_restock():
    order = shop_order([("A-1", 2, "30.00", "8.1"), ("B-2", 1, "10.00", "2.6")])
    note = refund_credit_note(order, refund(3, "30.00", [(100, 1, "30.00")], restock=True), tg_order(order))
    assert note.external_ref == "F360-10001-R3" and note.order_id == 7 and note.restock is True
    assert [(li.article_code, li.quantity, li.amount_gross, li.vat_rate) for li in note.lines] == [
        ("A-1", D(1), D("30.00"), D("8.1"))]
    assert note.total_gross == D("30.00")


def test_amount_only_refund_is_split_across_the_orders_vat_rates_exactly():
    order = shop_order([("A-1", 1, "60.00", "8.1"), ("B-2", 1, "30.00", "2.6"), ("C-3", 1, "10.00", "8.1")], "9.90")
    note = refund_credit_note(order, refund(1, "10.01"), tg_order(order))
    assert note.restock is False and note.total_gross == D("10.01")
    parts = {li.vat_rate: li.amount_gross for li in note.lines}
    assert all(li.article_code is None for li in note.lines)
    assert parts == {D("8.1"): D("7.01"), D("2.6"): D("3.00")}  # 70 % / 30 %, the odd cent to the larger remainder
    assert sum(parts.values()) == D("10.01")


def test_full_refund_credits_lines_and_splits_the_shipping():
    order = shop_order([("A-1", 1, "50.00", "8.1"), ("B-2", 1, "30.00", "2.6")], "9.90")
    note = refund_credit_note(order, refund(2, "89.90", [(100, 1, "50.00"), (101, 1, "30.00")], restock=True),
                              tg_order(order))
    assert sum(li.amount_gross for li in note.lines) == note.total_gross == D("89.90")
    shipping = {li.vat_rate: li.amount_gross for li in note.lines if li.article_code is None}
    assert shipping == {D("8.1"): D("6.19"), D("2.6"): D("3.71")}


def test_refund_worth_less_than_its_lines_scales_them_to_the_amount():
    order = shop_order([("A-1", 1, "50.00", "8.1"), ("B-2", 1, "25.00", "2.6")])
    note = refund_credit_note(order, refund(4, "60.00", [(100, 1, "50.00"), (101, 1, "25.00")]), tg_order(order))
    assert [li.amount_gross for li in note.lines] == [D("40.00"), D("20.00")]


def test_refund_of_a_line_the_order_does_not_have_names_it():
    order = shop_order([("A-1", 1, "50.00", "8.1")])
    with pytest.raises(AdjustmentError, match="line item 999"):
        refund_credit_note(order, refund(5, "5.00", [(999, 1, "5.00")]), tg_order(order))
    other = tg_order(shop_order([("Z-9", 1, "50.00", "8.1")]))
    with pytest.raises(AdjustmentError, match="SKU A-1 is not on TotalGest order TG-7"):
        refund_credit_note(order, refund(5, "5.00", [(100, 1, "5.00")]), other)


# ---- cancellations ----------------------------------------------------------------------------------------------

def _note(lines, total) -> CreditNote:
    return CreditNote.model_validate({"id": 1, "number": "NC-1", "created_at": NOW, "order_id": 7,
                                      "external_ref": "F360-10001-R1", "reason": "r", "restock": False,
                                      "total_gross": total, "lines": [
                                          {"article_code": c, "quantity": q, "amount_gross": a, "vat_rate": r}
                                          for c, q, a, r in lines]})


def test_cancel_credits_everything_left_and_restocks_only_what_did_not_ship():
    order = shop_order([("A-1", 3, "10.00", "8.1"), ("B-2", 2, "5.00", "2.6")], "9.90")
    tg = tg_order(order, shipments=[[("A-1", 1)]])
    note = cancel_credit_note(tg, [], f360_number=order.number, reason="cancelled in the shop")
    assert note is not None and note.external_ref == "F360-10001-C" and note.restock is True
    assert note.total_gross == D("49.90") == sum(li.amount_gross for li in note.lines)
    back = {li.article_code: li.quantity for li in note.lines if li.article_code}
    assert back == {"A-1": D(2), "B-2": D(2)}  # the shipped A-1 is credited as money only


def test_cancel_after_a_refund_credits_only_the_rest_and_nothing_when_all_is_credited():
    order = shop_order([("A-1", 2, "10.00", "8.1")])
    tg = tg_order(order)
    done = [_note([("A-1", "1", "10.00", "8.1")], "10.00")]
    note = cancel_credit_note(tg, done, f360_number=order.number, reason="cancelled")
    assert note is not None and note.total_gross == D("10.00")
    assert [(li.article_code, li.quantity) for li in note.lines] == [("A-1", D(1))]
    assert cancel_credit_note(tg, done + [_note([(None, "1", "10.00", "8.1")], "10.00")],
                              f360_number=order.number, reason="cancelled") is None


def test_cancel_of_a_fully_shipped_order_keeps_article_codes_without_restock():
    order = shop_order([("A-1", 1, "10.00", "8.1")])
    note = cancel_credit_note(tg_order(order, shipments=[[("A-1", 1)]]), [], f360_number=order.number, reason="c")
    assert note is not None and note.restock is False
    assert [(li.article_code, li.amount_gross) for li in note.lines] == [("A-1", D("10.00"))]
