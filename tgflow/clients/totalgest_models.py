"""TotalGest wire models (contract: totalgest.openapi.yaml, version 1.1).

Money and quantities are ``Decimal`` (decimal strings on the wire); timestamps are
timezone-aware. The client module re-exports every model, so
``from tgflow.clients.totalgest import Order`` keeps working.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ItemT = TypeVar("ItemT")

#: open → invoiced → shipped; open → cancelled. A partly shipped order stays ``invoiced``.
OrderStatus = Literal["open", "invoiced", "shipped", "cancelled"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Shop(_Model):
    id: str
    name: str
    currency: str


class Article(_Model):
    """Master data as TotalGest sends it; prices stay raw strings because the
    server does not validate them and the mapping must name what is wrong."""

    id: int
    code: str | None = None
    ean: str | None = None
    name: str | None = None
    description: str | None = None
    short_description: str | None = None
    price_gross: str | None = None
    vat_code: str | None = None
    vat_rate: str | None = None
    currency: str | None = None
    unit: str | None = None
    weight_kg: str | None = None
    active: bool = True
    updated_at: AwareDatetime


class StockLevel(_Model):
    article_id: int
    article_code: str | None = None
    warehouse_id: str
    available: str
    updated_at: AwareDatetime


class Page(_Model, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = None


class VatCode(_Model):
    code: str
    rate: Decimal
    label: str | None = None


class PaymentMethod(_Model):
    code: str
    label: str


class Address(_Model):
    name: str
    company: str | None = None
    street: str
    zip: str
    city: str
    country: str
    phone: str | None = None


class CustomerInput(_Model):
    email: str
    vat_number: str | None = None
    billing: Address
    shipping: Address | None = None


class Customer(CustomerInput):
    id: int


class OrderLine(_Model):
    article_code: str
    description: str | None = None
    quantity: Decimal
    unit_price_gross: Decimal
    discount_gross: Decimal = Decimal("0")
    vat_rate: Decimal


class OrderInput(_Model):
    external_ref: str
    order_date: AwareDatetime
    customer_id: int
    currency: str
    payment_method: str
    billing: Address
    shipping: Address
    lines: list[OrderLine]
    shipping_gross: Decimal = Decimal("0")
    total_gross: Decimal
    notes: str | None = None


class ShipmentLine(_Model):
    article_code: str
    quantity: Decimal


class Shipment(_Model):
    """One parcel: its carrier and tracking, and which articles (by code) it carries."""

    id: int
    carrier: str
    tracking_number: str
    tracking_url: str | None = None
    shipped_at: AwareDatetime
    lines: list[ShipmentLine]


class Order(OrderInput):
    id: int
    number: str
    created_at: AwareDatetime
    # 1.1: the order's life after registration (absent from a 1.0 server: an open order).
    updated_at: AwareDatetime | None = None
    status: OrderStatus = "open"
    invoice_number: str | None = None
    shipments: list[Shipment] = Field(default_factory=list)


class CreditNoteLine(_Model):
    """One credited line; ``article_code`` None is a refund of an amount only (no goods back)."""

    article_code: str | None = None
    quantity: Decimal
    amount_gross: Decimal
    vat_rate: Decimal


class CreditNoteInput(_Model):
    order_id: int
    external_ref: str
    reason: str
    lines: list[CreditNoteLine]
    total_gross: Decimal
    restock: bool


class CreditNote(CreditNoteInput):
    id: int
    number: str
    created_at: AwareDatetime


class ListOf(_Model, Generic[ItemT]):
    """A bare JSON array, wrapped so it validates as one model."""

    items: list[ItemT]
