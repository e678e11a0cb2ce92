"""Framework360 order -> TotalGest customer and order (pure, no I/O).

``map_order`` validates everything that can be checked without TotalGest's
catalog and raises :class:`MappingError` with a reason a person can act on. The
reasons name order numbers, line positions, SKUs, product names, codes and
amounts - never the customer (name, e-mail, address), because they are stored in
Temporal's history and the status store.

Amounts are exact ``Decimal``; the order's total must equal the sum of the lines
(quantity x unit price - discount) plus shipping, to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tgflow.clients import framework360 as f360
from tgflow.clients import totalgest as tg

CENT = Decimal("0.01")
PAYMENT_SETTING = "TGFLOW_PAYMENT_METHODS"


class MappingError(ValueError):
    """An order that cannot be exported as it is; ``reason`` says what to fix and where."""

    def __init__(self, number: str | None, reason: str) -> None:
        super().__init__(f"order {number}: {reason}" if number else reason)
        self.number = number
        self.reason = reason


@dataclass(frozen=True)
class MappedOrder:
    """What TotalGest receives; ``order`` still needs the customer id (``with_customer``)."""

    number: str
    customer: tg.CustomerInput
    order: tg.OrderInput

    def with_customer(self, customer_id: int) -> tg.OrderInput:
        return self.order.model_copy(update={"customer_id": customer_id})


def money(value: Decimal) -> str:
    """An amount as people read it: ``12.30``, ``-0.01``."""
    return f"{value.quantize(CENT):.2f}" if value == value.quantize(CENT) else f"{value.normalize():f}"


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + money(value)


def _rate(value: Decimal) -> str:
    return f"{value.normalize():f}"


def map_address(address: f360.Address) -> tg.Address:
    street = address.address_1.strip()
    if address.address_2 and address.address_2.strip():
        street = f"{street}, {address.address_2.strip()}"
    return tg.Address(
        name=f"{address.first_name} {address.last_name}".strip(),
        company=address.company or None,
        street=street,
        zip=address.postcode,
        city=address.city,
        country=address.country,
        phone=address.phone or None,
    )


#: Reasons travel into workflow history and Framework360's status column: keep quoted names short.
MAX_QUOTED_NAME = 60


def _short(text: str) -> str:
    return text if len(text) <= MAX_QUOTED_NAME else text[:MAX_QUOTED_NAME - 1] + "…"


def _line_label(index: int, line: f360.LineItem) -> str:
    sku = f"SKU {_short(line.sku.strip())}" if line.sku and line.sku.strip() else "no SKU"
    return f"line {index + 1} ({sku}, {_short(line.name)!r})"


def check_totals(order: f360.Order) -> None:
    """Every line's total and the order total must add up to the cent; the reason names the difference."""
    number = order.number
    for i, line in enumerate(order.line_items):
        expected = Decimal(line.quantity) * line.unit_price - line.discount
        if expected != line.total:
            raise MappingError(number, (
                f"{_line_label(i, line)} does not add up: {line.quantity} x {money(line.unit_price)} "
                f"- discount {money(line.discount)} = {money(expected)}, but the line total is {money(line.total)} "
                f"(difference {_signed(line.total - expected)}, VAT rate {_rate(line.vat_rate)}%)"))
    lines_sum = sum((Decimal(li.quantity) * li.unit_price - li.discount for li in order.line_items), Decimal("0"))
    expected_total = lines_sum + order.shipping_total
    if expected_total != order.total:
        diff = order.total - expected_total
        parts = " + ".join(money(Decimal(li.quantity) * li.unit_price - li.discount) for li in order.line_items)
        raise MappingError(number, (
            f"total {money(order.total)} does not add up: lines {parts} + shipping {money(order.shipping_total)} "
            f"= {money(expected_total)} (difference {_signed(diff)}); check the discounts and the shipping amount "
            f"in Framework360"))


def map_order(
    order: f360.Order,
    payment_methods: Mapping[str, str],
    *,
    tg_payment_codes: Iterable[str] | None = None,
    tg_vat_rates: Iterable[Decimal | str] | None = None,
    currency: str | None = None,
) -> MappedOrder:
    """Validate and map; ``tg_payment_codes``/``tg_vat_rates``/``currency`` are TotalGest's, when known."""
    number = order.number
    if order.status != "completed":
        raise MappingError(number, (
            f"status is {order.status!r}, not 'completed': only completed orders are exported "
            f"(it is exported by itself once it is completed)"))
    if not order.line_items:
        raise MappingError(number, "the order has no lines")
    if currency and order.currency != currency:
        raise MappingError(number, f"currency {order.currency} differs from the TotalGest shop's {currency}")

    code = order.payment_method.code
    tg_code = payment_methods.get(code)
    if tg_code is None:
        raise MappingError(number, (
            f"payment method {code!r} has no TotalGest code: add it to {PAYMENT_SETTING} "
            f"(e.g. {{\"{code}\": \"CC\"}}); mapped now: {', '.join(sorted(payment_methods)) or 'none'}"))
    if tg_payment_codes is not None:
        known = sorted(set(tg_payment_codes))
        if tg_code not in known:
            raise MappingError(number, (
                f"payment method {code!r} maps to TotalGest code {tg_code!r}, which TotalGest does not know "
                f"(its codes: {', '.join(known)}); fix {PAYMENT_SETTING}"))

    rates = {Decimal(str(r)) for r in tg_vat_rates} if tg_vat_rates is not None else None
    lines: list[tg.OrderLine] = []
    for i, line in enumerate(order.line_items):
        if not line.sku or not line.sku.strip():
            raise MappingError(number, (
                f"{_line_label(i, line)} has no SKU: give the product in Framework360 the TotalGest article code"))
        if line.quantity <= 0:
            raise MappingError(number, f"{_line_label(i, line)} has quantity {line.quantity}; it must be at least 1")
        if line.unit_price < 0 or line.discount < 0:
            raise MappingError(number, (
                f"{_line_label(i, line)} has a negative amount (unit price {money(line.unit_price)}, "
                f"discount {money(line.discount)})"))
        if rates is not None and line.vat_rate not in rates:
            raise MappingError(number, (
                f"{_line_label(i, line)} has VAT rate {_rate(line.vat_rate)}%, which TotalGest does not know "
                f"(its rates: {', '.join(_rate(r) for r in sorted(rates))}%)"))
        lines.append(tg.OrderLine(
            article_code=line.sku.strip(),
            description=line.name,
            quantity=Decimal(line.quantity),
            unit_price_gross=line.unit_price,
            discount_gross=line.discount,
            vat_rate=line.vat_rate,
        ))
    check_totals(order)

    billing = map_address(order.billing_address)
    shipping = map_address(order.shipping_address)
    customer = tg.CustomerInput(
        email=order.customer.email.strip(),
        vat_number=order.customer.vat_number or None,
        billing=billing,
        shipping=shipping,
    )
    mapped = tg.OrderInput(
        external_ref=number,
        order_date=order.completed_at or order.created_at,
        customer_id=0,
        currency=order.currency,
        payment_method=tg_code,
        billing=billing,
        shipping=shipping,
        lines=lines,
        shipping_gross=order.shipping_total,
        total_gross=order.total,
        notes=order.customer_note or None,
    )
    return MappedOrder(number=number, customer=customer, order=mapped)


def explain_rejection(order: f360.Order, details: list[dict[str, Any]]) -> str:
    """TotalGest's 422 ``details`` (``lines[2].article_code`` ...) as a reason naming lines and SKUs."""
    import re

    parts: list[str] = []
    for d in details:
        field = str(d.get("field") or "")
        message = str(d.get("message") or "refused")
        m = re.match(r"lines\[(\d+)\]\.?(\w*)", field)
        if m and int(m.group(1)) < len(order.line_items):
            i = int(m.group(1))
            line = order.line_items[i]
            what = m.group(2)
            if what == "article_code":
                parts.append(f"{_line_label(i, line)}: SKU {line.sku} is unknown in TotalGest "
                             f"(create the article or fix the SKU in Framework360)")
            else:
                parts.append(f"{_line_label(i, line)}: {what or 'line'} {message}")
        elif field in ("billing", "shipping") or field.startswith(("billing.", "shipping.", "email")):
            # Name the field, never its value (customer data).
            parts.append(f"{field}: refused by TotalGest, fix the customer's address in Framework360")
        else:
            parts.append(f"{field or 'order'}: {message}")
    return "TotalGest refused the order: " + "; ".join(parts) if parts else "TotalGest refused the order"
