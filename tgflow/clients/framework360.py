"""Framework360 site API client (contract: framework360.openapi.yaml).

Bearer API key on every request; page-number pagination (``per_page`` <= 100);
``/products/batch`` answers per item. It never retries: Temporal does.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tgflow.clients._http import json_body, parse, send
from tgflow.config import Framework360Settings

API = "Framework360"
MAX_PER_PAGE = 100
MAX_BATCH = 100
ItemT = TypeVar("ItemT")

OrderStatus = Literal["pending", "processing", "completed", "cancelled", "refunded"]
SyncStatus = Literal["linked", "not_linked", "pending", "error"]


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


def sign(secret: str, body: bytes) -> str:
    """The ``X-F360-Signature`` header value for a webhook body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(sign(secret, body), header.strip())


class Framework360Client:
    """Async client for one Framework360 site. Use as ``async with Framework360Client(settings) as f360``."""

    def __init__(
        self,
        settings: Framework360Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            timeout=timeout if timeout is not None else settings.timeout_seconds,
            transport=transport,
            headers={
                "Accept": "application/json",
                "Authorization": f"Bearer {settings.api_key.get_secret_value()}",
            },
        )

    async def __aenter__(self) -> "Framework360Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return json_body(await send(API, self._http, method, path, **kwargs), API)

    async def get_site(self) -> Site:
        return parse(API, Site, await self._call("GET", "/site"), "site")

    # -- products ------------------------------------------------------------------

    async def list_products(self, *, page: int = 1, per_page: int = MAX_PER_PAGE, sku: str | None = None) -> Page[Product]:
        params: dict[str, str] = {"page": str(page), "per_page": str(per_page)}
        if sku is not None:
            params["sku"] = sku
        return parse(API, Page[Product], await self._call("GET", "/products", params=params), "products page")

    async def iter_products(self, *, per_page: int = MAX_PER_PAGE) -> AsyncIterator[Page[Product]]:
        page = 1
        while True:
            result = await self.list_products(page=page, per_page=per_page)
            yield result
            if result.is_last:
                return
            page += 1

    async def find_product(self, sku: str) -> Product | None:
        result = await self.list_products(sku=sku, per_page=1)
        return result.items[0] if result.items else None

    async def get_product(self, product_id: int) -> Product:
        return parse(API, Product, await self._call("GET", f"/products/{product_id}"), "product")

    async def batch_products(
        self, *, create: list[ProductInput] = (), update: list[ProductUpdate] = ()  # type: ignore[assignment]
    ) -> BatchResponse:
        """Create and update up to 100 products each; results come back in request order."""
        if len(create) > MAX_BATCH or len(update) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} creates and {MAX_BATCH} updates per batch")
        body = {
            "create": [p.model_dump(mode="json", exclude_none=True) for p in create],
            "update": [p.model_dump(mode="json", exclude_unset=True) for p in update],
        }
        return parse(API, BatchResponse, await self._call("POST", "/products/batch", json=body), "batch result")

    async def set_product_status(self, product_id: int, status: IntegrationStatus) -> IntegrationStatus:
        data = await self._call("PUT", f"/products/{product_id}/integrations/totalgest",
                                json=status.model_dump(mode="json"))
        return parse(API, IntegrationStatus, data, "product integration")

    # -- orders ----------------------------------------------------------------------

    async def list_orders(
        self,
        *,
        status: OrderStatus | None = None,
        updated_after: datetime | None = None,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
    ) -> Page[OrderRef]:
        params: dict[str, str] = {"page": str(page), "per_page": str(per_page)}
        if status:
            params["status"] = status
        if updated_after is not None:
            if updated_after.tzinfo is None:
                raise ValueError("updated_after must be timezone-aware")
            params["updated_after"] = updated_after.isoformat()
        return parse(API, Page[OrderRef], await self._call("GET", "/orders", params=params), "orders page")

    async def iter_orders(
        self, *, status: OrderStatus | None = None, updated_after: datetime | None = None, per_page: int = MAX_PER_PAGE
    ) -> AsyncIterator[Page[OrderRef]]:
        page = 1
        while True:
            result = await self.list_orders(status=status, updated_after=updated_after, page=page, per_page=per_page)
            yield result
            if result.is_last:
                return
            page += 1

    async def get_order(self, order_id: int) -> Order:
        return parse(API, Order, await self._call("GET", f"/orders/{order_id}"), f"order {order_id}")

    async def set_order_status(self, order_id: int, status: IntegrationStatus) -> IntegrationStatus:
        data = await self._call("PUT", f"/orders/{order_id}/integrations/totalgest",
                                json=status.model_dump(mode="json"))
        return parse(API, IntegrationStatus, data, "order integration")

    async def subscribe_webhook(self, url: str, secret: str, events: list[str] | None = None) -> str:
        data = await self._call("POST", "/webhooks", json={
            "url": url, "secret": secret, "events": events or ["order.completed", "order.updated"],
        })
        return str(data["id"])
