"""TotalGest ERP API client (contract: totalgest.openapi.yaml, version 1.1).

Logs in with the shop/owner/user credentials, caches the bearer token and logs
in again once when the server says ``token_expired``. Safe requests (reads,
look-ups, the login, a cancel) are tried again a few times on a transient failure
with a short jittered backoff that honours Retry-After (``_http.retrying``), so one
5xx does not restart a whole workflow step; creates are sent once (a lost answer is
resolved by the caller's look-up, never by a blind repeat). The rest is Temporal's. The wire models live in
:mod:`tgflow.clients.totalgest_models` and are re-exported here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx

from tgflow.clients._http import json_body, parse, retrying, send
from tgflow.clients.errors import AuthError
from tgflow.clients.totalgest_models import (
    Address,
    Article,
    CreditNote,
    CreditNoteInput,
    CreditNoteLine,
    Customer,
    CustomerInput,
    ListOf,
    Order,
    OrderInput,
    OrderLine,
    OrderStatus,
    Page,
    PaymentMethod,
    Shipment,
    ShipmentLine,
    Shop,
    StockLevel,
    VatCode,
)
from tgflow.config import TotalGestSettings

__all__ = [
    "API",
    "TotalGestClient",
    "Address",
    "Article",
    "CreditNote",
    "CreditNoteInput",
    "CreditNoteLine",
    "Customer",
    "CustomerInput",
    "ListOf",
    "Order",
    "OrderInput",
    "OrderLine",
    "OrderStatus",
    "Page",
    "PaymentMethod",
    "Shipment",
    "ShipmentLine",
    "Shop",
    "StockLevel",
    "VatCode",
]

API = "TotalGest"


_articles_page = Page[Article]
_stock_page = Page[StockLevel]
_orders_page = Page[Order]
_ListOf = ListOf


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
        """Exchange the configured credentials for a bearer token (safe to repeat: retried)."""
        s = self._settings
        response = await retrying(lambda: send(
            API, self._http, "POST", "/auth/token",
            json={
                "shop_id": s.shop_id,
                "owner_id": s.owner_id,
                "username": s.username,
                "password": s.password.get_secret_value(),
            },
        ))
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

    async def _call(self, method: str, path: str, *, safe: bool | None = None, **kwargs: Any) -> Any:
        """One request with the token; ``safe`` (default: GET) ones are retried on transient failures."""

        async def once() -> httpx.Response:
            token = await self._ensure_token()
            try:
                return await send(API, self._http, method, path,
                                  headers={"Authorization": f"Bearer {token}"}, **kwargs)
            except AuthError as exc:
                if exc.code != "token_expired":
                    raise
                token = await self._relogin(token)
                return await send(API, self._http, method, path,
                                  headers={"Authorization": f"Bearer {token}"}, **kwargs)

        response = await (retrying(once) if (method == "GET" if safe is None else safe) else once())
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

    # -- the order's life after registration (1.1) -------------------------------------

    async def list_order_changes(
        self, *, updated_since: datetime | None = None, cursor: str | None = None, limit: int = 500
    ) -> Page[Order]:
        """Orders whose status, invoice number or shipments changed, oldest change first."""
        data = await self._call("GET", self._shop("/order-changes"),
                                params=_page_params(updated_since, cursor, limit))
        return parse(API, _orders_page, data, "order changes page")

    async def iter_order_changes(
        self, *, updated_since: datetime | None = None, cursor: str | None = None, limit: int = 500
    ) -> AsyncIterator[Page[Order]]:
        """Stream pages of changed orders to the end; each page's ``next_cursor`` is a resume point.
        An order appears again each time it changes: the last appearance is its current state."""
        while True:
            page = await self.list_order_changes(updated_since=updated_since, cursor=cursor, limit=limit)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def cancel_order(self, order_id: int, reason: str) -> Order:
        """Cancel an order that is still open (safe to repeat: a cancelled order comes back unchanged).

        Raises ``NotCancellableError`` once the order is invoiced or shipped: credit it instead.
        """
        data = await self._call("POST", self._shop(f"/orders/{order_id}/cancel"), safe=True,
                                json={"reason": reason})
        return parse(API, Order, data, "cancelled order")

    async def find_credit_notes(self, external_ref: str) -> list[CreditNote]:
        """Credit notes carrying this reference; the server does not keep it unique, so look before creating."""
        data = await self._call("GET", self._shop("/credit-notes"), params={"external_ref": external_ref})
        return parse(API, _ListOf[CreditNote], {"items": data}, "credit notes").items

    async def create_credit_note(self, credit_note: CreditNoteInput) -> CreditNote:
        """Credit (part of) an order. A total above what the order has left to credit is a
        ``ValidationError`` whose details name ``total_gross``."""
        data = await self._call("POST", self._shop("/credit-notes"),
                                json=credit_note.model_dump(mode="json"))
        return parse(API, CreditNote, data, "created credit note")


def _page_params(updated_since: datetime | None, cursor: str | None, limit: int) -> dict[str, str]:
    params = {"limit": str(limit)}
    if updated_since is not None:
        params["updated_since"] = _iso(updated_since)
    if cursor:
        params["cursor"] = cursor
    return params
