"""Framework360 site API client (contract: framework360.openapi.yaml).

Bearer API key on every request; page-number pagination (``per_page`` <= 100);
``/products/batch`` answers per item. It never retries: Temporal does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

import h11
import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tgflow import metrics
from tgflow.clients._http import json_body, parse, send
from tgflow.clients.errors import TransientError, error_from_response
from tgflow.config import Framework360Settings

API = "Framework360"
#: The status-PUT lanes log their requests here, like httpx logs the others (at DEBUG in tgflow's set-up).
log = logging.getLogger(__name__)
MAX_PER_PAGE = 100
MAX_BATCH = 100
#: Integration-status PUTs in flight at once (``set_product_statuses``; the contract has no batch form).
STATUS_PUT_CONCURRENCY = 8
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


class _StaleConnection(Exception):
    """A reused keep-alive connection the server had closed: nothing of the answer arrived."""


class _Lane:
    """One keep-alive HTTP/1.1 connection for status PUTs, one request at a time (h11 on asyncio streams)."""

    def __init__(self, lanes: "_StatusLanes") -> None:
        self._lanes = lanes
        self._lock = asyncio.Lock()  # two pages' PUTs may share a lane
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn: h11.Connection | None = None
        self._idle_since = 0.0

    async def request(self, target: bytes, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        async with self._lock:
            try:
                if self._reusable():
                    try:
                        return await self._exchange(target, body, reused=True)
                    except _StaleConnection:
                        self.close()  # the PUT is idempotent and nothing was answered: once more, anew
                else:
                    self.close()
                await self._connect()
                return await self._exchange(target, body, reused=False)
            except BaseException:
                self.close()  # timed out, cancelled or broken mid-exchange: the connection's state is unknown
                raise

    def _reusable(self) -> bool:
        return (self._writer is not None and self._reader is not None and not self._reader.at_eof()
                and not self._writer.is_closing()
                and time.monotonic() - self._idle_since < self._lanes.keepalive_expiry)

    async def _connect(self) -> None:
        lanes = self._lanes
        async with asyncio.timeout(lanes.connect_timeout):
            self._reader, self._writer = await asyncio.open_connection(
                lanes.host, lanes.port, ssl=lanes.ssl_context,
                server_hostname=lanes.host if lanes.ssl_context is not None else None)
        self._conn = h11.Connection(h11.CLIENT)

    async def _exchange(self, target: bytes, body: bytes, *, reused: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        conn, reader, writer = self._conn, self._reader, self._writer
        assert conn is not None and reader is not None and writer is not None
        lanes = self._lanes
        request = h11.Request(method=b"PUT", target=target,
                              headers=[*lanes.headers, (b"Content-Length", b"%d" % len(body))])
        writer.write(conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        status, headers, chunks, received = 0, [], [], False
        async with asyncio.timeout(lanes.read_timeout):
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    try:
                        if not received:
                            await writer.drain()
                        data = await reader.read(65536)
                    except ConnectionError:
                        if reused and not received:
                            raise _StaleConnection() from None
                        raise
                    if not data and reused and not received:
                        raise _StaleConnection()
                    received = True
                    conn.receive_data(data)  # b"" is the end of the stream: h11 says whether that was allowed
                elif isinstance(event, h11.Response):
                    status, headers = event.status_code, list(event.headers)
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise h11.RemoteProtocolError("connection closed before the end of the answer")
                # h11.InformationalResponse (1xx): wait for the final answer
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            self._idle_since = time.monotonic()
        else:  # "Connection: close", HTTP/1.0 and the like
            self.close()
        return status, headers, b"".join(chunks)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = self._conn = None


class _StatusLanes:
    """Keep-alive connections for the integration-status PUTs, one request at a time on each.

    The contract has no batch form of the status, so a full import sends one PUT per new
    product (50,000 for 50,000 articles). Measured against the Framework360 simulator (event-loop
    CPU per PUT, 8 in flight): httpx's shared connection pool ~1.0 ms, and more as concurrency
    grows (every request walks all pooled connections, some twice, and probes each idle socket);
    one httpx client per lane 0.65 ms; one ``httpcore`` pool of one connection per lane 0.40 ms;
    this, ``h11`` (the HTTP/1.1 state machine under httpx) on a plain asyncio stream per lane,
    0.12 ms, while the simulator itself needs ~0.2 ms: the client, not the server, was the
    limit. Same headers, TLS defaults and timeouts as the client's httpx client; answers and
    failures are classified as ``send`` classifies them. A reused connection that the server
    had closed is replaced once (the PUT is idempotent); any other failure closes the connection.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        url = http.base_url
        https = url.scheme == "https"
        self.scheme, self.netloc = url.scheme, url.netloc.decode("ascii")
        self.host = url.raw_host.decode("ascii")
        self.port = url.port or (443 if https else 80)
        self.prefix = url.raw_path.rstrip(b"/")
        self.headers = [(b"Host", url.netloc), (b"Accept", b"application/json"),
                        (b"Authorization", http.headers["Authorization"].encode()),
                        (b"User-Agent", http.headers["User-Agent"].encode()),
                        (b"Content-Type", b"application/json")]
        self.connect_timeout = http.timeout.connect
        self.read_timeout = http.timeout.read
        self.keepalive_expiry = 5.0  # httpx's default
        self.ssl_context = httpx.create_ssl_context() if https else None
        self._lanes: list[_Lane] = []

    async def put(self, index: int, product_id: int, status: IntegrationStatus) -> None:
        while len(self._lanes) <= index:
            self._lanes.append(_Lane(self))
        target = b"%s/products/%d/integrations/totalgest" % (self.prefix, product_id)
        try:
            code, headers, content = await self._lanes[index].request(target, status.model_dump_json().encode())
        except (TimeoutError, OSError, h11.ProtocolError, asyncio.IncompleteReadError) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else "connection_error"
            metrics.api_call(API, kind)
            raise TransientError(api=API, message=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                                 code=kind) from None
        metrics.api_call(API, code)
        if log.isEnabledFor(logging.DEBUG):
            log.debug('HTTP Request: PUT %s://%s%s "HTTP/1.1 %d"', self.scheme, self.netloc, target.decode("ascii"),
                      code)
        if 200 <= code < 300:
            return
        if code == 429:
            metrics.rate_limited(API)
        raise error_from_response(API, httpx.Response(code, headers=headers, content=content,
                                                      request=httpx.Request("PUT", target.decode("ascii"))))

    def close(self) -> None:
        for lane in self._lanes:
            lane.close()
        self._lanes = []


def _proxied(base_url: str) -> bool:
    """Whether httpx would send this client's requests through a proxy from the environment."""
    proxies = urllib.request.getproxies()
    scheme = httpx.URL(base_url).scheme
    return bool(proxies.get(scheme) or proxies.get("all"))


def sign(secret: str, body: bytes) -> str:
    """The ``X-F360-Signature`` header value for a webhook body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and header is not None and hmac.compare_digest(sign(secret, body), header.strip())


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
        # Own lanes for the status PUTs, unless requests must go through an injected transport
        # (tests) or an environment proxy: then they take the httpx client like every other call.
        # Made on first use: most clients (check, webhook receiver, reports) never send a status PUT,
        # and an HTTPS lane set costs a TLS context (~20 ms of CPU) to make.
        self._use_lanes = transport is None and not _proxied(settings.base_url)
        self._lanes: _StatusLanes | None = None

    async def __aenter__(self) -> "Framework360Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._lanes is not None:
            self._lanes.close()
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
        """Set the integration status of many products: one PUT each, ``concurrency`` at a time,
        each lane on its own keep-alive connection (see ``_StatusLanes``).

        Stops taking new PUTs at the first failure and raises it once the PUTs in flight have
        ended. ``sent``, if given, collects the indexes (in ``statuses``) of the PUTs that went
        through, also when this raises or is cancelled. The answers' bodies are not parsed: a
        2xx is the confirmation.
        """
        items = iter(enumerate(statuses))
        failures: list[BaseException] = []
        if self._use_lanes and self._lanes is None:
            self._lanes = _StatusLanes(self._http)
        lanes = self._lanes

        async def lane(number: int) -> None:
            for index, (product_id, status) in items:
                if failures:
                    return
                try:
                    if lanes is not None:
                        await lanes.put(number, product_id, status)
                    else:
                        await self.set_product_status(product_id, status)
                except Exception as exc:  # noqa: BLE001 - re-raised below, after the other lanes stop
                    failures.append(exc)
                    return
                if sent is not None:
                    sent.append(index)

        await asyncio.gather(*(lane(n) for n in range(min(max(1, concurrency), len(statuses)))))
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

    async def subscribe_webhook(self, url: str, secret: str, events: list[str] | None = None) -> str:
        data = await self._call("POST", "/webhooks", json={
            "url": url, "secret": secret, "events": events or ["order.completed", "order.updated"],
        })
        return str(data["id"])
