"""Framework360 webhook receiver: ``POST /webhooks/framework360`` and ``GET /healthz``.

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
import json
import logging
from collections import OrderedDict
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tgflow.clients.framework360 import verify_signature
from tgflow.config import Settings

log = logging.getLogger(__name__)
#: Framework360 gives up on a delivery after a few seconds; answer 503 before that.
ENQUEUE_TIMEOUT_SECONDS = 3.0

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


def create_app(settings: Settings, client: Any, *, store: Any = None) -> Starlette:
    """``client`` is a connected Temporal client (pydantic data converter)."""
    from tgflow.service.adjustments import start_adjustments
    from tgflow.service.export_requests import BadRequest, start_export_request
    from tgflow.service.orders import enqueue_orders

    secret = settings.f360.webhook_secret.get_secret_value()
    seen = _Seen()
    state: dict[str, Any] = {"store": store}

    def get_store():
        if state["store"] is None:
            from tgflow.store import Store

            state["store"] = Store(settings.database_url)
        return state["store"]

    async def check_changed(order_id: int) -> None:
        """A linked order cancelled/refunded after export is flagged in the store."""
        from tgflow.clients.framework360 import Framework360Client
        from tgflow.store import orders as ostore

        try:
            store = get_store()
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

    async def export_requested(data: dict[str, Any], event_id: str) -> JSONResponse:
        """"Send to TotalGest": one request workflow per request id; a redelivery starts nothing new."""
        from temporalio.exceptions import WorkflowAlreadyStartedError

        rid = data.get("request_id")
        if event_id and event_id in seen:
            return JSONResponse({"status": "duplicate", "request_id": rid}, status_code=202)
        by = data.get("requested_by")
        try:
            handle = await asyncio.wait_for(start_export_request(
                client, settings, get_store(), request_id=rid, order_ids=data.get("order_ids"),
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
            seen.add(event_id)
        return JSONResponse({"status": status, "request_id": rid}, status_code=202)

    async def receive(request: Request) -> JSONResponse:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return _error(413, "payload_too_large", f"bodies over {MAX_BODY} bytes are refused")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _error(413, "payload_too_large", f"bodies over {MAX_BODY} bytes are refused")
        if not secret or not verify_signature(secret, body, request.headers.get(SIGNATURE_HEADER)):
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
        if kind == "orders.export_requested":
            return await export_requested(data, event_id)
        if kind not in HANDLED_EVENTS:
            return JSONResponse({"status": "ignored", "reason": f"event type {kind!r} is not handled"}, status_code=202)
        if isinstance(order_id, bool) or not isinstance(order_id, int):
            return _error(400, "bad_request", "data.order_id must be an integer")
        if event_id and event_id in seen:
            return JSONResponse({"status": "duplicate", "order_id": order_id}, status_code=202)
        if kind == "order.updated":
            if event_id:
                seen.add(event_id)
            return JSONResponse({"status": "accepted", "order_id": order_id}, status_code=202,
                                background=BackgroundTask(check_changed, order_id))
        if kind in ("order.cancelled", "order.refunded"):
            try:
                await asyncio.wait_for(start_adjustments(client, settings, order_id), ENQUEUE_TIMEOUT_SECONDS)
            except Exception as exc:
                log.error("could not start the %s handling of order %s: %s", kind, order_id, exc)
                return _error(503, "unavailable", "Temporal is not reachable; try again")
            if event_id:
                seen.add(event_id)
            return JSONResponse({"status": "started", "order_id": order_id}, status_code=202)
        try:
            # Answer within the sender's patience; a cut-off signal is harmless (the queue ignores repeats).
            await asyncio.wait_for(enqueue_orders(client, settings, [order_id]), ENQUEUE_TIMEOUT_SECONDS)
        except Exception as exc:
            log.error("could not enqueue order %s: %s", order_id, exc)
            # 503: Framework360 delivers again later; the order reconciliation catches it otherwise.
            return _error(503, "unavailable", "Temporal is not reachable; try again")
        if event_id:
            seen.add(event_id)
        return JSONResponse({"status": "enqueued", "order_id": order_id}, status_code=202)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/webhooks/framework360", receive, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])
