"""TotalGest shipment -> Framework360 fulfillment (pure, no I/O), and the order's progress text.

A shipment's lines name TotalGest article codes; the shop order's line items carry the same
codes as SKUs. Each shipment line becomes fulfilled quantities of the shop's line items with
that SKU (several line items of one SKU are filled in order, each up to what it has left to
ship), so a partial shipment is a partial fulfillment. What cannot be mapped raises
:class:`ShipmentMappingError` with a reason naming the order, the code and the quantity,
never the customer.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from tgflow.clients import framework360 as f360
from tgflow.clients import totalgest as tg


class ShipmentMappingError(ValueError):
    """A shipment that cannot become a fulfillment as it is; the text says what to fix."""


def find_fulfillment(order: f360.Order, shipment: tg.Shipment) -> f360.Fulfillment | None:
    """The fulfillment an earlier attempt already created for this parcel (same carrier and tracking number).

    Framework360 does not keep tracking numbers unique, so this look-up before creating is what keeps
    one parcel one fulfillment (and one customer e-mail) after a lost answer or a killed worker."""
    for fulfillment in order.fulfillments:
        if (fulfillment.tracking_number.strip() == shipment.tracking_number.strip()
                and fulfillment.carrier.strip().casefold() == shipment.carrier.strip().casefold()):
            return fulfillment
    return None


def left_to_ship(order: f360.Order) -> dict[int, int]:
    """Units of each line item not yet in a fulfillment."""
    shipped: Counter[int] = Counter()
    for fulfillment in order.fulfillments:
        for line in fulfillment.line_items or []:
            shipped[line.line_item_id] += line.quantity
    return {item.id: item.quantity - shipped[item.id] for item in order.line_items}


def fulfillment_lines(order: f360.Order, shipment: tg.Shipment, tg_order_number: str) -> list[f360.FulfillmentLine]:
    """The shop's line items (and units) the shipment carries."""
    left = left_to_ship(order)
    by_sku: dict[str, list[int]] = {}
    for item in order.line_items:
        if item.sku:
            by_sku.setdefault(item.sku.strip(), []).append(item.id)
    wanted: Counter[int] = Counter()
    for line in shipment.lines:
        code = line.article_code.strip()
        quantity = line.quantity
        if quantity != quantity.to_integral_value() or quantity <= 0:
            raise ShipmentMappingError(
                f"shipment {shipment.id} of TotalGest order {tg_order_number}: quantity {quantity} of {code} "
                "is not a whole number of units; Framework360 fulfils whole units")
        units = int(quantity)
        items = by_sku.get(code)
        if not items:
            raise ShipmentMappingError(
                f"shipment {shipment.id} of TotalGest order {tg_order_number} carries {code}, which Framework360 "
                f"order {order.number} does not have")
        for item_id in items:
            take = min(units, left[item_id] - wanted[item_id])
            if take > 0:
                wanted[item_id] += take
                units -= take
        if units > 0:
            raise ShipmentMappingError(
                f"shipment {shipment.id} of TotalGest order {tg_order_number} ships {units} more of {code} than "
                f"Framework360 order {order.number} has left to ship")
    return [f360.FulfillmentLine(line_item_id=item_id, quantity=qty) for item_id, qty in wanted.items() if qty > 0]


def fulfillment_input(order: f360.Order, shipment: tg.Shipment, tg_order_number: str) -> f360.FulfillmentInput:
    return f360.FulfillmentInput(
        carrier=shipment.carrier, tracking_number=shipment.tracking_number, tracking_url=shipment.tracking_url,
        shipped_at=shipment.shipped_at, notify_customer=True,
        line_items=fulfillment_lines(order, shipment, tg_order_number))


def shipping_state(order: tg.Order) -> str | None:
    """``partly shipped`` | ``shipped`` | None (nothing shipped yet), from TotalGest's order."""
    if order.status == "shipped":
        return "shipped"
    if order.shipments:
        shipped = sum((ln.quantity for s in order.shipments for ln in s.lines), Decimal(0))
        total = sum((ln.quantity for ln in order.lines), Decimal(0))
        return "shipped" if total and shipped >= total else "partly shipped"
    return None


def progress_text(tg_status: str | None, invoice_number: str | None, shipping: str | None) -> str | None:
    """What the order's status column says about its life in TotalGest once known:
    ``invoiced FA-…``, ``partly shipped``, ``shipped``, ``cancelled``; None before anything is known."""
    if shipping:
        return shipping
    if tg_status == "invoiced" and invoice_number:
        return f"invoiced {invoice_number}"
    if tg_status in ("invoiced", "shipped", "cancelled"):
        return tg_status
    return None
