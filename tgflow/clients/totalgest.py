"""TotalGest ERP API client (contract: totalgest.openapi.yaml).

Logs in with the shop/owner/user credentials, caches the bearer token and logs
in again once when the server says ``token_expired``. It never retries
anything else: Temporal does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict

from tgflow.clients._http import json_body, parse, send
from tgflow.clients.errors import AuthError
from tgflow.config import TotalGestSettings

API = "TotalGest"
ItemT = TypeVar("ItemT")


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


class Order(OrderInput):
    id: int
    number: str
    created_at: AwareDatetime


_articles_page = Page[Article]
_stock_page = Page[StockLevel]


class _ListOf(_Model, Generic[ItemT]):
    items: list[ItemT]


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("timestamps sent to TotalGest must be timezone-aware")
    return value.isoformat()


class TotalGestClient:
    """Async client for one TotalGest shop. Use as ``async with TotalGestClient(settings) as tg``."""

    def __init__(
        self,
        settings: TotalGestSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | None = None,
    ) -> None:
        self._settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            timeout=timeout if timeout is not None else settings.timeout_seconds,
            transport=transport,
            headers={"Accept": "application/json"},
        )
        self._token: str | None = None
        self._login_lock = asyncio.Lock()

    @property
    def shop_id(self) -> str:
        return self._settings.shop_id

    async def __aenter__(self) -> "TotalGestClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- auth ---------------------------------------------------------------

    async def login(self) -> None:
        """Exchange the configured credentials for a bearer token."""
        s = self._settings
        response = await send(
            API, self._http, "POST", "/auth/token",
            json={
                "shop_id": s.shop_id,
                "owner_id": s.owner_id,
                "username": s.username,
                "password": s.password.get_secret_value(),
            },
        )
        body = json_body(response, API)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise AuthError(api=API, status=response.status_code, code="no_token",
                            message="login answered without an access_token (is this a TotalGest endpoint?)")
        self._token = token

    async def _ensure_token(self) -> str:
        async with self._login_lock:
            if self._token is None:
                await self.login()
            assert self._token is not None
            return self._token

    async def _relogin(self, stale: str) -> str:
        """A fresh token: logs in unless another caller already did. A failed login leaves no
        token behind, so the next caller logs in itself instead of sending a stale one."""
        async with self._login_lock:
            if self._token is None or self._token == stale:
                self._token = None
                await self.login()
            assert self._token is not None
            return self._token

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        token = await self._ensure_token()
        try:
            response = await send(API, self._http, method, path,
                                  headers={"Authorization": f"Bearer {token}"}, **kwargs)
        except AuthError as exc:
            if exc.code != "token_expired":
                raise
            token = await self._relogin(token)
            response = await send(API, self._http, method, path,
                                  headers={"Authorization": f"Bearer {token}"}, **kwargs)
        return json_body(response, API)

    def _shop(self, suffix: str = "") -> str:
        return f"/shops/{self._settings.shop_id}{suffix}"

    # -- shop ---------------------------------------------------------------

    async def get_shop(self) -> Shop:
        return parse(API, Shop, await self._call("GET", self._shop()), "shop")

    async def list_vat_codes(self) -> list[VatCode]:
        data = await self._call("GET", self._shop("/vat-codes"))
        return parse(API, _ListOf[VatCode], {"items": data}, "vat codes").items

    async def list_payment_methods(self) -> list[PaymentMethod]:
        data = await self._call("GET", self._shop("/payment-methods"))
        return parse(API, _ListOf[PaymentMethod], {"items": data}, "payment methods").items

    # -- catalog (cursor pagination) ------------------------------------------

    async def list_articles(
        self, *, updated_since: datetime | None = None, cursor: str | None = None, limit: int = 500
    ) -> Page[Article]:
        data = await self._call("GET", self._shop("/articles"),
                                params=_page_params(updated_since, cursor, limit))
        return parse(API, _articles_page, data, "articles page")

    async def list_stock(
        self, *, updated_since: datetime | None = None, cursor: str | None = None, limit: int = 1000
    ) -> Page[StockLevel]:
        data = await self._call("GET", self._shop("/stock"),
                                params=_page_params(updated_since, cursor, limit))
        return parse(API, _stock_page, data, "stock page")

    async def iter_articles(
        self, *, updated_since: datetime | None = None, cursor: str | None = None, limit: int = 500
    ) -> AsyncIterator[Page[Article]]:
        """Stream pages to the end; each page's ``next_cursor`` is a resume point."""
        while True:
            page = await self.list_articles(updated_since=updated_since, cursor=cursor, limit=limit)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def iter_stock(
        self, *, updated_since: datetime | None = None, cursor: str | None = None, limit: int = 1000
    ) -> AsyncIterator[Page[StockLevel]]:
        while True:
            page = await self.list_stock(updated_since=updated_since, cursor=cursor, limit=limit)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    # -- customers and orders ---------------------------------------------------

    async def find_customers(self, email: str) -> list[Customer]:
        data = await self._call("GET", self._shop("/customers"), params={"email": email})
        return parse(API, _ListOf[Customer], {"items": data}, "customers").items

    async def create_customer(self, customer: CustomerInput) -> Customer:
        data = await self._call("POST", self._shop("/customers"),
                                json=customer.model_dump(mode="json", exclude_none=True))
        return parse(API, Customer, data, "created customer")

    async def find_orders(self, external_ref: str) -> list[Order]:
        data = await self._call("GET", self._shop("/orders"), params={"external_ref": external_ref})
        return parse(API, _ListOf[Order], {"items": data}, "orders").items

    async def create_order(self, order: OrderInput) -> Order:
        data = await self._call("POST", self._shop("/orders"),
                                json=order.model_dump(mode="json", exclude_none=True))
        return parse(API, Order, data, "created order")

    async def get_order(self, order_id: int) -> Order:
        return parse(API, Order, await self._call("GET", self._shop(f"/orders/{order_id}")), "order")


def _page_params(updated_since: datetime | None, cursor: str | None, limit: int) -> dict[str, str]:
    params = {"limit": str(limit)}
    if updated_since is not None:
        params["updated_since"] = _iso(updated_since)
    if cursor:
        params["cursor"] = cursor
    return params
