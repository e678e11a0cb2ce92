"""Framework360 wire models (contract: framework360.openapi.yaml, version 1.1).

Pydantic models of what the site sends and accepts; the client module re-exports
them, so ``from tgflow.clients.framework360 import Order`` keeps working.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ItemT = TypeVar("ItemT")

OrderStatus = Literal["pending", "processing", "completed", "cancelled", "refunded"]
SyncStatus = Literal["linked", "not_linked", "pending", "error"]
FulfillmentStatus = Literal["unfulfilled", "partial", "fulfilled"]
EventType = Literal["order.completed", "order.updated", "order.cancelled", "order.refunded", "orders.export_requested"]
NotificationLevel = Literal["info", "warning", "error"]
#: ``orders.export_requested`` carries 1 to this many order ids.
MAX_EXPORT_REQUEST = 500


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Site(_Model):
    id: str
    name: str
    currency: str | None = None
    modules: dict[str, bool] = Field(default_factory=dict)

    @property
    def ecommerce_active(self) -> bool:
        return bool(self.modules.get("ecommerce"))


class IntegrationStatus(_Model):
    status: SyncStatus
    remote_id: str | None = None
    message: str | None = None
    synced_at: AwareDatetime | None = None


class Integrations(_Model):
    totalgest: IntegrationStatus | None = None


class ProductFields(_Model):
    """Every writable product field; an update sends only those it sets."""

    sku: str | None = None
    ean: str | None = None
    name: str | None = None
    description: str | None = None
    short_description: str | None = None
    price: Decimal | None = None
    vat_rate: Decimal | None = None
    manage_stock: bool | None = None
    stock_quantity: int | None = None
    status: Literal["published", "draft"] | None = None
    #: 1.1, optional in /products/batch items: sets the status column in the same call as the product.
    integrations: Integrations | None = None


class ProductInput(ProductFields):
    sku: str
    name: str
    price: Decimal
    vat_rate: Decimal


class ProductUpdate(ProductFields):
    id: int


class Product(_Model):
    id: int
    sku: str | None = None
    ean: str | None = None
    name: str | None = None
    description: str | None = None
    short_description: str | None = None
    price: str | None = None
    vat_rate: str | None = None
    manage_stock: bool = True
    stock_quantity: int | None = None
    status: str = "published"
    updated_at: AwareDatetime | None = None
    integrations: Integrations = Field(default_factory=Integrations)


class ErrorBody(_Model):
    error: str
    message: str = ""


class BatchResult(_Model):
    id: int | None = None
    sku: str | None = None
    error: ErrorBody | None = None


class BatchResponse(_Model):
    create: list[BatchResult] = Field(default_factory=list)
    update: list[BatchResult] = Field(default_factory=list)


class Address(_Model):
    first_name: str
    last_name: str
    company: str | None = None
    address_1: str
    address_2: str | None = None
    postcode: str
    city: str
    country: str
    phone: str | None = None


class Customer(_Model):
    email: str
    first_name: str | None = None
    last_name: str | None = None
    vat_number: str | None = None


class PaymentMethod(_Model):
    code: str
    title: str | None = None


class LineItem(_Model):
    id: int
    sku: str | None = None
    name: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = Decimal("0")
    vat_rate: Decimal
    total: Decimal


class FulfillmentLine(_Model):
    line_item_id: int
    quantity: int


class FulfillmentInput(_Model):
    """A parcel shown to the customer. ``line_items`` None means every remaining line. The site
    does not keep ``tracking_number`` unique: read the order's ``fulfillments`` before sending."""

    carrier: str
    tracking_number: str
    tracking_url: str | None = None
    shipped_at: AwareDatetime
    notify_customer: bool = True
    line_items: list[FulfillmentLine] | None = None


class Fulfillment(FulfillmentInput):
    id: int
    created_at: AwareDatetime


class RefundLine(_Model):
    line_item_id: int
    quantity: int
    amount: Decimal


class Refund(_Model):
    """Money given back; ``line_items`` empty for a refund of an amount only."""

    id: int
    amount: Decimal
    reason: str | None = None
    created_at: AwareDatetime
    restock: bool
    line_items: list[RefundLine] = Field(default_factory=list)


class Order(_Model):
    id: int
    number: str
    status: OrderStatus
    currency: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    completed_at: AwareDatetime | None = None
    customer: Customer
    billing_address: Address
    shipping_address: Address
    payment_method: PaymentMethod
    line_items: list[LineItem]
    shipping_total: Decimal
    total: Decimal
    customer_note: str | None = None
    integrations: Integrations = Field(default_factory=Integrations)
    # 1.1 (absent from a 1.0 site: nothing shipped, nothing refunded)
    fulfillment_status: FulfillmentStatus = "unfulfilled"
    fulfillments: list[Fulfillment] = Field(default_factory=list)
    refunds: list[Refund] = Field(default_factory=list)


class Page(_Model, Generic[ItemT]):
    items: list[ItemT]
    page: int
    per_page: int
    total: int

    @property
    def is_last(self) -> bool:
        return not self.items or self.page * self.per_page >= self.total


class OrderRef(_Model):
    """Just what a listing needs to decide; a malformed order body must not break a page."""

    id: int
    number: str | None = None
    status: str | None = None
    updated_at: AwareDatetime | None = None
    integrations: Integrations = Field(default_factory=Integrations)


class NotificationInput(_Model):
    """A message to the site's administrators (dashboard bell and e-mail digest)."""

    title: str = Field(max_length=120)
    message: str = Field(max_length=4000)
    level: NotificationLevel
    link: str | None = None
    request_id: str | None = None


class EventData(_Model):
    """Order events carry ``order_id``; ``orders.export_requested`` carries the rest."""

    order_id: int | None = None
    order_ids: list[int] | None = Field(default=None, min_length=1, max_length=MAX_EXPORT_REQUEST)
    request_id: str | None = None
    requested_by: str | None = None


class Event(_Model):
    """A webhook body. ``site_id`` is on every event since 1.1 (the same as ``GET /site`` id)."""

    id: str
    type: EventType
    created_at: AwareDatetime
    site_id: str | None = None
    data: EventData
