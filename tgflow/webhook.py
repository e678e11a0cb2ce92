"""Framework360 webhook receiver for every shop: ``POST /webhooks/framework360/<shop id>``,
``POST /webhooks/framework360`` and ``GET /healthz``.

Several shops (``[[shops]]``): ``/webhooks/framework360/<shop id>`` is that shop's; an event posted to
``/webhooks/framework360`` goes to the shop whose Framework360 ``GET /site`` id is the event's ``site_id``
(asked at start-up, and again at most once per ``SITE_REFRESH_SECONDS`` when an unknown site id arrives).
Each event is verified with its shop's webhook secret and acted on with its shop's settings (task queue,
TotalGest shop id). An event for no configured shop gets 404, logged once per unknown shop or site; a
disabled shop's events are verified and answered 202 ``ignored`` (the order reconciliation catches up once
it is enabled). With one shop, ``/webhooks/framework360`` is that shop's whatever the ``site_id``.

Verifies ``X-F360-Signature`` (HMAC-SHA256 of the raw body with the webhook secret)
before anything else, answers fast, and signals the shop's order queue
(signal-with-start). Repeated or out-of-order deliveries are harmless: the queue
ignores ids it holds, a finished order exported again is found by ``external_ref``,
and recently seen event ids are skipped outright.

``order.cancelled`` and ``order.refunded`` start the order's cancellation/refund handling
(``order-adjust-<shop>-<order>``, which joins a running one; done refunds never run twice).

``order.updated`` of a linked order that became cancelled or refunded flags it
``changed_after_export`` in the status store (checked in the background, the
response does not wait for Framework360).

``orders.export_requested`` ("Send to TotalGest" in the shop's order list) starts one request workflow
(``export-request-<shop>-<request id>``): a redelivery joins it or, once it finished, starts nothing and
answers ``duplicate``; it runs the bulk export and posts one notification with the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tgflow.clients.framework360 import Framework360Client, verify_signature
from tgflow.config import Settings

log = logging.getLogger(__name__)
#: Framework360 gives up on a delivery after a few seconds; answer 503 before that.
ENQUEUE_TIMEOUT_SECONDS = 3.0
#: An event naming an unknown site id makes the receiver ask every shop's ``GET /site`` again, at most this often.
SITE_REFRESH_SECONDS = 60.0
#: How long one shop's ``GET /site`` may take (the event that made the receiver ask is waiting).
SITE_ASK_TIMEOUT_SECONDS = 2.0

MAX_BODY = 1024 * 1024
SIGNATURE_HEADER = "X-F360-Signature"
SEEN_EVENTS = 10_000
#: What the receiver handles, so what ``tgflow webhook subscribe`` and ``tgflow dev`` subscribe.
HANDLED_EVENTS = ["order.completed", "order.updated", "order.cancelled", "order.refunded", "orders.export_requested"]


class _Seen:
    """The last N event ids, to drop duplicate deliveries cheaply (the queue would ignore them anyway)."""

    def __init__(self, size: int = SEEN_EVENTS) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


class _Once:
    """Keys already logged (bounded), so an unknown shop or site is logged once, not once per event."""

    def __init__(self, size: int = 1000) -> None:
        self._keys = _Seen(size)

    def first(self, key: str) -> bool:
        if key in self._keys:
            return False
        self._keys.add(key)
        return True


class _Sites:
    """``site_id`` -> shop id, from each shop's ``GET /site``: asked at start-up and again, at most once per
    ``every`` seconds, when an event names a site id not known yet (a shop whose Framework360 did not answer,
    or a site moved)."""

    def __init__(self, shops: dict[str, Settings], every: float) -> None:
        self._shops = shops
        self._every = every
        self._by_site: dict[str, str] = {}
        #: Shops whose site id is not known (their Framework360 did not answer the last time).
        self.unanswered: list[str] = list(shops)
        self._asked_at: float | None = None
        self._lock = asyncio.Lock()
        self._ambiguous = _Once()

    async def _ask(self, shop_id: str) -> str:
        async with Framework360Client(self._shops[shop_id].f360) as f360:
            return (await asyncio.wait_for(f360.get_site(), SITE_ASK_TIMEOUT_SECONDS)).id

    async def learn(self) -> None:
        self._asked_at = time.monotonic()
        ids = list(self._shops)
        answers = await asyncio.gather(*(self._ask(i) for i in ids), return_exceptions=True)
        by_site: dict[str, str] = {}
        unanswered = []
        for shop_id, answer in zip(ids, answers):
            if isinstance(answer, BaseException):
                unanswered.append(shop_id)
                log.warning("shop %s: its Framework360 did not tell its site id (%s); events routed by site_id "
                            "cannot reach it until it does", shop_id, type(answer).__name__)
                continue
            other = by_site.setdefault(answer, shop_id)
            if other != shop_id and self._ambiguous.first(answer):
                log.error("shops %s and %s have the same Framework360 site id %r: its events go to %s; subscribe "
                          "each shop to /webhooks/framework360/<shop id> instead", other, shop_id, answer, other)
        self._by_site, self.unanswered = by_site, unanswered

    async def resolve(self, site_id: str) -> str | None:
        """The shop of ``site_id``, asking the shops again if it is unknown and the last ask is old enough."""
        if site_id in self._by_site:
            return self._by_site[site_id]
        async with self._lock:
            if site_id not in self._by_site and (
                    self._asked_at is None or time.monotonic() - self._asked_at >= self._every):
                await self.learn()
        return self._by_site.get(site_id)


def create_app(settings: Settings, client: Any, *, store: Any = None, shop: str | None = None,
               site_refresh_seconds: float = SITE_REFRESH_SECONDS) -> Starlette:
    """``client`` is a connected Temporal client (pydantic data converter).

    ``settings`` as loaded serves every configured shop; with ``shop`` (``tgflow --shop``), or when a single
    shop is configured, that one shop, and ``POST /webhooks/framework360`` is that shop's as before."""
    state: dict[str, Any] = {"store": store}

    def get_store():
        if state["store"] is None:
            from tgflow.store import Store

            state["store"] = Store(settings.database_url)
        return state["store"]

    if shop is not None:
        receivers = {shop: _ShopReceiver(shop, settings.for_shop(shop), settings.shop(shop).enabled, client, get_store)}
    elif settings.multi_shop:
        receivers = {s.id: _ShopReceiver(s.id, settings.for_shop(s.id), s.enabled, client, get_store)
                     for s in settings.shops()}
    else:
        receivers = {settings.shop_key: _ShopReceiver(settings.shop_key, settings, True, client, get_store)}
    only = next(iter(receivers.values())) if len(receivers) == 1 else None
    sites = _Sites({i: r.settings for i, r in receivers.items()}, site_refresh_seconds)
    unknown = _Once()

    def no_shop(key: str, what: str) -> JSONResponse:
        if unknown.first(key):
            log.warning("webhook for no configured shop (%s): answered 404; the shops are %s", what,
                        ", ".join(receivers))
        return _error(404, "unknown_shop", f"{what} is not a configured shop; the shops are {', '.join(receivers)}")

    async def by_path(request: Request) -> JSONResponse:
        shop_id = request.path_params["shop"]
        receiver = receivers.get(shop_id)
        if receiver is None:
            return no_shop(f"path:{shop_id}", f"shop {shop_id!r}")
        body = await _read(request)
        if isinstance(body, JSONResponse):
            return body
        return await receiver.handle(body, request.headers.get(SIGNATURE_HEADER))

    async def by_site(request: Request) -> JSONResponse:
        body = await _read(request)
        if isinstance(body, JSONResponse):
            return body
        signature = request.headers.get(SIGNATURE_HEADER)
        if only is not None:
            return await only.handle(body, signature)
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            event = None
        site_id = event.get("site_id") if isinstance(event, dict) else None
        if not isinstance(site_id, str) or not site_id:
            # No site_id (a Framework360 before 1.1, or not JSON): the one shop whose secret signed it.
            fits = [r for r in receivers.values() if r.verified(body, signature)]
            if len(fits) == 1:
                return await fits[0].handle(body, signature)
            if not fits:
                return _error(401, "invalid_signature", f"{SIGNATURE_HEADER} is missing or does not match the body")
            return _error(400, "bad_request", "the event has no site_id and its signature fits several shops; "
                          "subscribe each shop to /webhooks/framework360/<shop id>")
        shop_id = await sites.resolve(site_id)
        if shop_id is None:
            if sites.unanswered:
                return _error(503, "unavailable", f"site {site_id!r} is not known and the Framework360 of "
                              f"{', '.join(sites.unanswered)} did not tell its site id; try again")
            return no_shop(f"site:{site_id}", f"site_id {site_id!r}")
        return await receivers[shop_id].handle(body, signature)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        if only is None:
            await sites.learn()  # bounded by SITE_ASK_TIMEOUT_SECONDS; an unanswered shop is asked again later
        yield

    return Starlette(lifespan=lifespan, routes=[
        Route("/webhooks/framework360", by_site, methods=["POST"]),
        Route("/webhooks/framework360/{shop}", by_path, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])


async def _read(request: Request) -> bytes | JSONResponse:
    """The raw body (the signature is over its bytes), or 413 past ``MAX_BODY``."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        return _error(413, "payload_too_large", f"bodies over {MAX_BODY} bytes are refused")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return _error(413, "payload_too_large", f"bodies over {MAX_BODY} bytes are refused")
    return body


class _ShopReceiver:
    """One shop's events: verified with its secret, acted on with its settings view (its task queue, its
    TotalGest shop id in workflow ids); a disabled shop's are verified, answered 202 and not acted on."""

    def __init__(self, shop_id: str, settings: Settings, enabled: bool, client: Any, get_store: Any) -> None:
        self.id = shop_id
        self.settings = settings
        self.enabled = enabled
        self._secret = settings.f360.webhook_secret.get_secret_value()
        self._client = client
        self._get_store = get_store
        self._seen = _Seen()

    def verified(self, body: bytes, signature: str | None) -> bool:
        return bool(self._secret) and verify_signature(self._secret, body, signature)

    async def check_changed(self, order_id: int) -> None:
        """A linked order cancelled/refunded after export is flagged in the store."""
        from tgflow.store import orders as ostore

        settings = self.settings
        try:
            store = self._get_store()
            link = await asyncio.to_thread(ostore.get_link, store, settings.totalgest.shop_id, order_id)
            if link is None or link.status != "linked":
                return
            async with Framework360Client(settings.f360) as f360:
                order = await f360.get_order(order_id)
            if order.status in ("cancelled", "refunded"):
                await asyncio.to_thread(ostore.mark_changed_after_export, store, settings.totalgest.shop_id,
                                        order_id, order.status)
                log.warning("order %s was %s after its export to TotalGest (%s)", order.number, order.status,
                            link.tg_order_number)
        except Exception as exc:  # a background check must never break the receiver
            log.warning("could not check order %s after order.updated: %s", order_id, exc)

    async def export_requested(self, data: dict[str, Any], event_id: str) -> JSONResponse:
        """"Send to TotalGest": one request workflow per request id; a redelivery starts nothing new."""
        from temporalio.exceptions import WorkflowAlreadyStartedError

        from tgflow.service.export_requests import BadRequest, start_export_request

        rid = data.get("request_id")
        if event_id and event_id in self._seen:
            return JSONResponse({"status": "duplicate", "request_id": rid}, status_code=202)
        by = data.get("requested_by")
        try:
            handle = await asyncio.wait_for(start_export_request(
                self._client, self.settings, self._get_store(), request_id=rid, order_ids=data.get("order_ids"),
                requested_by=by if isinstance(by, str) else None), ENQUEUE_TIMEOUT_SECONDS)
        except BadRequest as exc:
            return _error(400, "bad_request", str(exc))
        except WorkflowAlreadyStartedError:
            status = "duplicate"  # this request already ran to its end: nothing new, no second notification
        except Exception as exc:
            log.error("could not start export request %s: %s", rid, exc)
            return _error(503, "unavailable", "Temporal or the status database is not reachable; try again")
        else:
            status = "started"
            log.info("export request %s: workflow %s", rid, handle.id)
        if event_id:
            self._seen.add(event_id)
        return JSONResponse({"status": status, "request_id": rid}, status_code=202)

    async def handle(self, body: bytes, signature: str | None) -> JSONResponse:
        from tgflow.service.adjustments import start_adjustments
        from tgflow.service.orders import enqueue_orders

        if not self.verified(body, signature):
            return _error(401, "invalid_signature", f"{SIGNATURE_HEADER} is missing or does not match the body")
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly nested JSON
            return _error(400, "bad_request", "body is not valid JSON")
        if not isinstance(event, dict):
            return _error(400, "bad_request", "body must be a JSON object")
        kind = event.get("type")
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        order_id = data.get("order_id")
        event_id = str(event.get("id") or "")
        if not self.enabled:
            # Accepted, not acted on: the order reconciliation catches up once the shop is enabled again.
            log.info("shop %s is disabled: event %s (%s) ignored", self.id, event_id or "without id", kind)
            return JSONResponse({"status": "ignored", "shop": self.id,
                                 "reason": f"shop {self.id} is disabled"}, status_code=202)
        if kind == "orders.export_requested":
            return await self.export_requested(data, event_id)
        if kind not in HANDLED_EVENTS:
            return JSONResponse({"status": "ignored", "reason": f"event type {kind!r} is not handled"}, status_code=202)
        if isinstance(order_id, bool) or not isinstance(order_id, int):
            return _error(400, "bad_request", "data.order_id must be an integer")
        if event_id and event_id in self._seen:
            return JSONResponse({"status": "duplicate", "order_id": order_id}, status_code=202)
        if kind == "order.updated":
            if event_id:
                self._seen.add(event_id)
            return JSONResponse({"status": "accepted", "order_id": order_id}, status_code=202,
                                background=BackgroundTask(self.check_changed, order_id))
        if kind in ("order.cancelled", "order.refunded"):
            try:
                await asyncio.wait_for(start_adjustments(self._client, self.settings, order_id),
                                       ENQUEUE_TIMEOUT_SECONDS)
            except Exception as exc:
                log.error("could not start the %s handling of order %s: %s", kind, order_id, exc)
                return _error(503, "unavailable", "Temporal is not reachable; try again")
            if event_id:
                self._seen.add(event_id)
            return JSONResponse({"status": "started", "order_id": order_id}, status_code=202)
        try:
            # Answer within the sender's patience; a cut-off signal is harmless (the queue ignores repeats).
            await asyncio.wait_for(enqueue_orders(self._client, self.settings, [order_id]), ENQUEUE_TIMEOUT_SECONDS)
        except Exception as exc:
            log.error("could not enqueue order %s: %s", order_id, exc)
            # 503: Framework360 delivers again later; the order reconciliation catches it otherwise.
            return _error(503, "unavailable", "Temporal is not reachable; try again")
        if event_id:
            self._seen.add(event_id)
        return JSONResponse({"status": "enqueued", "order_id": order_id}, status_code=202)
