"""Framework360 site API client (contract: framework360.openapi.yaml).

Bearer API key on every request; page-number pagination (``per_page`` <= 100);
``/products/batch`` answers per item. It never retries: Temporal does.

The wire models live in :mod:`tgflow.clients.framework360_models` and the webhook
signature check in :mod:`tgflow.clients.signatures`; the names other modules import
from here are re-exported. Every call goes through httpx (the product import writes
the status column inside its ``/products/batch`` items since contract 1.1, so the
hand-built HTTP/1.1 lanes for per-product status PUTs are gone).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel

from tgflow.clients._http import json_body, parse, send
from tgflow.clients.framework360_models import (
    MAX_EXPORT_REQUEST,
    Address,
    BatchResponse,
    BatchResult,
    Customer,
    ErrorBody,
    Event,
    EventData,
    EventType,
    Fulfillment,
    FulfillmentInput,
    FulfillmentLine,
    FulfillmentStatus,
    Integrations,
    IntegrationStatus,
    LineItem,
    NotificationInput,
    NotificationLevel,
    Order,
    OrderRef,
    OrderStatus,
    Page,
    PaymentMethod,
    Product,
    ProductFields,
    ProductInput,
    ProductUpdate,
    Refund,
    RefundLine,
    Site,
    SyncStatus,
)
from tgflow.clients.signatures import sign, verify_signature
from tgflow.config import Framework360Settings

__all__ = [
    "API",
    "Address",
    "BatchResponse",
    "BatchResult",
    "Customer",
    "ErrorBody",
    "Event",
    "EventData",
    "EventType",
    "Framework360Client",
    "Fulfillment",
    "FulfillmentInput",
    "FulfillmentLine",
    "FulfillmentStatus",
    "IntegrationStatus",
    "Integrations",
    "LineItem",
    "MAX_BATCH",
    "MAX_EXPORT_REQUEST",
    "MAX_PER_PAGE",
    "NotificationInput",
    "NotificationLevel",
    "Order",
    "OrderRef",
    "OrderStatus",
    "Page",
    "PaymentMethod",
    "Product",
    "ProductFields",
    "ProductInput",
    "ProductUpdate",
    "Refund",
    "RefundLine",
    "STATUS_PUT_CONCURRENCY",
    "Site",
    "SyncStatus",
    "sign",
    "verify_signature",
]

API = "Framework360"
MAX_PER_PAGE = 100
MAX_BATCH = 100
#: Integration-status PUTs in flight at once (``set_product_statuses``: the refusals and resends that
#: still go one by one; the import's creates and updates carry the status in their batch items).
STATUS_PUT_CONCURRENCY = 8


class _Created(BaseModel):
    id: int


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

    async def set_product_statuses(self, statuses: Sequence[tuple[int, IntegrationStatus]], *,
                                   concurrency: int = STATUS_PUT_CONCURRENCY, sent: list[int] | None = None) -> None:
        """Set the integration status of many products: one PUT each, ``concurrency`` at a time
        (on the client's keep-alive connections).

        Stops taking new PUTs at the first failure and raises it once the PUTs in flight have
        ended. ``sent``, if given, collects the indexes (in ``statuses``) of the PUTs that went
        through, also when this raises or is cancelled. The answers' bodies are not parsed: a
        2xx is the confirmation.
        """
        items = iter(enumerate(statuses))
        failures: list[BaseException] = []

        async def lane() -> None:
            for index, (product_id, status) in items:
                if failures:
                    return
                try:
                    await self.set_product_status(product_id, status)
                except Exception as exc:  # noqa: BLE001 - re-raised below, after the other lanes stop
                    failures.append(exc)
                    return
                if sent is not None:
                    sent.append(index)

        await asyncio.gather(*(lane() for _ in range(min(max(1, concurrency), len(statuses)))))
        if failures:
            raise failures[0]

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

    async def create_fulfillment(self, order_id: int, fulfillment: FulfillmentInput) -> Fulfillment:
        """Record a parcel (the site e-mails the customer when ``notify_customer``). Not idempotent:
        the site keeps every POST, so read ``get_order(...).fulfillments`` first."""
        data = await self._call("POST", f"/orders/{order_id}/fulfillments",
                                json=fulfillment.model_dump(mode="json", exclude_none=True))
        return parse(API, Fulfillment, data, f"fulfillment of order {order_id}")

    # -- administrators ------------------------------------------------------------------

    async def create_notification(self, notification: NotificationInput) -> int:
        """Show a message to the site's administrators; returns the notification id."""
        data = await self._call("POST", "/notifications", json=notification.model_dump(mode="json"))
        return parse(API, _Created, data, "notification").id

    async def subscribe_webhook(self, url: str, secret: str, events: list[str] | None = None) -> str:
        data = await self._call("POST", "/webhooks", json={
            "url": url, "secret": secret, "events": events or ["order.completed", "order.updated"],
        })
        return str(data["id"])
