"""Framework360 API simulator: a faithful, fault-injectable peer for tests and ``tgflow dev``.

Serves the wire contract under ``/api/v1`` and a no-auth, fault-free control surface
under ``/_admin``. State lives in :class:`Framework360Sim` behind one ``threading.Lock``
because tests drive it from a thread other than the server's. Webhooks go out from a
daemon thread with its own ``httpx.Client`` so delivery works whichever thread
produced the event.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import heapq
import hmac
import itertools
import json
import random
import re
import secrets
import threading
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from tgflow.sim import DEMO_F360_API_KEY
from tgflow.sim._wire import error as _error
from tgflow.sim._wire import http_error as _http_error
from tgflow.sim._wire import now as _now
from tgflow.sim._wire import parse_dt as _parse_dt
from tgflow.sim._wire import ts as _ts

CENT = Decimal("0.01")
ORDER_STATUSES = ("pending", "processing", "completed", "cancelled", "refunded")
INTEGRATION_STATUSES = ("linked", "not_linked", "pending", "error")
EVENT_TYPES = ("order.completed", "order.updated", "order.cancelled", "order.refunded", "orders.export_requested")
NOTIFICATION_LEVELS = ("info", "warning", "error")
MAX_EXPORT_REQUEST = 500
SITE_ID = "site-velo-demo"
PROBLEMS = ("unknown_sku", "bad_payment", "bad_total", "no_sku")
MAX_BATCH = 100
MAX_DELIVERY_ATTEMPTS = 3
_DECIMAL_RE = re.compile(r"^\d+(\.\d+)?$")
_FAULT_KEYS = {"error_rate", "timeout_rate", "timeout_seconds", "rate_limit_burst", "retry_after_seconds", "slow_ms",
               "error_after_commit_rate"}
#: Routes whose answer the ``error_after_commit_rate`` fault loses after the effect is stored (1.1 routes).
_COMMIT_ROUTES = {"POST /orders/{order_id}/fulfillments", "POST /notifications"}

PAYMENT_METHODS = {
    "stripe": "Credit card (Stripe)",
    "paypal": "PayPal",
    "twint": "TWINT",
    "invoice": "Invoice",
    "bitcoin": "Bitcoin",
}
FIRST_NAMES = ["Luca", "Noah", "Lea", "Mia", "Laura", "Anna", "Jan", "Nico", "Elena", "Sophie", "Marco", "Giulia",
               "Reto", "Urs", "Beat", "Claudia", "Sandra", "Thomas", "Daniel", "Martina", "Céline", "Julien",
               "Chloé", "Matteo", "Sara", "Andrea", "Fabienne", "Jürg"]
LAST_NAMES = ["Müller", "Meier", "Schmid", "Keller", "Weber", "Huber", "Schneider", "Meyer", "Steiner", "Fischer",
              "Gerber", "Brunner", "Baumann", "Frei", "Zimmermann", "Moser", "Widmer", "Wyss", "Graf", "Roth",
              "Rossi", "Bernasconi", "Favre", "Dubois", "Bühler", "Käser"]
CITIES = [("8001", "Zürich"), ("3011", "Bern"), ("4051", "Basel"), ("1201", "Genève"), ("1003", "Lausanne"),
          ("6003", "Luzern"), ("9000", "St. Gallen"), ("6900", "Lugano"), ("8400", "Winterthur"),
          ("2502", "Biel/Bienne"), ("7000", "Chur"), ("5000", "Aarau"), ("6300", "Zug"), ("1700", "Fribourg"),
          ("3600", "Thun"), ("8200", "Schaffhausen")]
STREETS = ["Bahnhofstrasse", "Hauptstrasse", "Dorfstrasse", "Seestrasse", "Kirchweg", "Poststrasse", "Rue du Lac",
           "Via Nassa", "Rue de la Gare", "Schulhausstrasse", "Bergstrasse", "Industriestrasse"]
COMPANIES = ["Velotech AG", "Bike Service {last} GmbH", "Alpenrad AG", "Pedalwerk GmbH", "{last} Sport AG",
             "Cycles du Léman SA", "Ciclismo Ticino SA"]
MAIL_DOMAINS = ["bluewin.ch", "gmail.com", "gmx.ch", "sunrise.ch", "hispeed.ch", "outlook.com"]
PRODUCT_ADJ = ["Pro", "Sport", "Urban", "Trail", "Comfort", "Race", "Tour", "Light"]
PRODUCT_NOUNS = ["Bike Helmet", "Brake Pads", "Inner Tube 28\"", "Chain 11-speed", "LED Light Set", "Saddle",
                 "Water Bottle", "Bike Lock", "Tyre 700x28", "Pedals", "Handlebar Tape", "Pump", "Gloves",
                 "Rear Rack", "Mudguard Set", "Cassette 11-32"]


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _ascii(text: str) -> str:
    """E-mail local parts are ASCII; fold umlauts and accents the way people do."""
    text = text.replace("ü", "ue").replace("ä", "ae").replace("ö", "oe")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


class _BadRequest(Exception):
    """Raised by handlers to answer 400 ``bad_request`` (or another code) without nesting."""

    def __init__(self, message: str, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _ItemError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _not_linked() -> dict[str, Any]:
    return {"status": "not_linked", "remote_id": None, "message": None, "synced_at": None}


class _Delivery:
    """One webhook POST in flight; the same body (hence event id) is resent on retry."""

    __slots__ = ("url", "secret", "body", "attempt")

    def __init__(self, url: str, secret: str, body: bytes) -> None:
        self.url, self.secret, self.body, self.attempt = url, secret, body, 0


class Framework360Sim:
    """In-memory Framework360 site: products, seeded orders, webhooks, faults and stats."""

    def __init__(self, *, orders: int = 20, seed: int = 1, api_key: str = DEMO_F360_API_KEY,
                 ecommerce_active: bool = True, sku_pool: list[str] | None = None, site_id: str = SITE_ID) -> None:
        self.api_key = api_key
        self.site_id = site_id
        self.seed = seed
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._fault_rng = random.Random(seed + 1)
        self._hook_rng = random.Random(seed + 2)
        self._demo_rng = random.Random(seed + 3)
        self._sku_pool = list(sku_pool) if sku_pool else [f"ART-{i:05d}" for i in range(1, 301)]
        self._module_active = ecommerce_active
        self._products: dict[int, dict[str, Any]] = {}
        self._sku_index: dict[str, int] = {}
        self._next_product_id = 1
        self._orders: dict[int, dict[str, Any]] = {}
        self._order_updated: dict[int, datetime] = {}
        self._next_order_id = 1
        self._customers: list[dict[str, Any]] = []
        self._rejected: dict[str, str] = {}
        self._faults: dict[str, float] = {}
        self._burst_left = 0
        self._hooks_enabled = True
        self._drop_rate = 0.0
        self._duplicate_rate = 0.0
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._last_tick = _now() - timedelta(days=30)
        self._stats = self._empty_stats()
        # webhook delivery: a heap of (due, seq, delivery) served by one daemon thread
        self._queue: list[tuple[float, int, _Delivery]] = []
        self._queue_cv = threading.Condition()
        self._seq = itertools.count()
        self._delivery_thread: threading.Thread | None = None
        self._closing = False
        self._demo_thread: threading.Thread | None = None
        self._demo_stop = threading.Event()
        # 1.1: admin notifications, customer e-mails sent per order (one per notified fulfillment)
        self._notifications: list[dict[str, Any]] = []
        self._emails: Counter[int] = Counter()
        self._seed_orders(orders)

    # ---- seeding -------------------------------------------------------------------------------------------

    def _seed_orders(self, count: int) -> None:
        """Orders spread over the last days; mostly completed, a few open, one cancelled."""
        now = _now().replace(microsecond=0)
        start = now - timedelta(hours=6 * count + 12)
        cancelled_at = count // 2 if count >= 3 else -1
        for i in range(count):
            created = start + timedelta(hours=6 * i, minutes=self._rng.randint(0, 300))
            if i == cancelled_at:
                status = "cancelled"
            else:
                roll = self._rng.random()
                status = "pending" if roll < 0.07 else "processing" if roll < 0.17 else "completed"
            updated = created + timedelta(minutes=self._rng.randint(1, 50), seconds=self._rng.randint(0, 59))
            order = self._build_order(status=status, created=created, updated=updated)
            self._store_order(order, updated)
        self._last_tick = max([now - timedelta(minutes=1), *self._order_updated.values()])

    def _tick(self) -> datetime:
        """Strictly increasing 'now', so (updated_at, id) ordering and updated_after never tie."""
        now = _now()
        if now <= self._last_tick:
            now = self._last_tick + timedelta(microseconds=1)
        self._last_tick = now
        return now

    def _customer(self, email: str | None) -> dict[str, Any]:
        """A returning customer a quarter of the time; a fresh Swiss one otherwise."""
        rng = self._rng
        if email is None and self._customers and rng.random() < 0.25:
            return rng.choice(self._customers)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = vat = None
        if rng.random() < 0.2:
            company = rng.choice(COMPANIES).format(last=last)
            vat = f"CHE-{rng.randint(100, 999)}.{rng.randint(100, 999)}.{rng.randint(100, 999)} MWST"
        postcode, city = rng.choice(CITIES)
        address = {
            "first_name": first, "last_name": last, "company": company,
            "address_1": f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
            "address_2": None if rng.random() < 0.85 else f"Postfach {rng.randint(100, 999)}",
            "postcode": postcode, "city": city, "country": "CH",
            "phone": f"+41 7{rng.choice('6789')} {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        }
        if email is None:
            email = f"{_ascii(first)}.{_ascii(last)}{rng.choice(['', str(rng.randint(1, 99))])}@{rng.choice(MAIL_DOMAINS)}"
        customer = {"email": email, "first_name": first, "last_name": last, "vat_number": vat, "address": address}
        self._customers.append(customer)
        return customer

    def _article(self, sku: str) -> tuple[str, Decimal, str]:
        """Name, gross price and VAT rate for a SKU: the catalogue's if present, else stable per SKU."""
        pid = self._sku_index.get(sku)
        if pid is not None:
            product = self._products[pid]
            return product["name"], Decimal(product["price"]), product["vat_rate"]
        h = zlib.crc32(sku.encode())
        name = f"{PRODUCT_ADJ[h % len(PRODUCT_ADJ)]} {PRODUCT_NOUNS[(h // 8) % len(PRODUCT_NOUNS)]}"
        price = (Decimal(490 + (h // 128) % 24000) / 100).quantize(Decimal("0.05"))
        vat = "2.6" if h % 10 == 0 else "8.1"
        return name, price.quantize(CENT), vat

    def _build_order(self, *, status: str, created: datetime, updated: datetime, problem: str | None = None,
                     email: str | None = None, lines: int | None = None,
                     payment_code: str | None = None) -> dict[str, Any]:
        rng = self._rng
        order_id = self._next_order_id
        self._next_order_id += 1
        customer = self._customer(email)
        n_lines = lines if lines is not None else rng.randint(1, 5)
        skus = rng.sample(self._sku_pool, min(n_lines, len(self._sku_pool)))
        while len(skus) < n_lines:
            skus.append(rng.choice(self._sku_pool))
        line_items = []
        for idx, sku in enumerate(skus):
            name, price, vat = self._article(sku)
            qty = rng.choice([1, 1, 1, 2, 2, 3, 4, 5])
            gross = price * qty
            discount = Decimal("0.00")
            if rng.random() < 0.2:
                discount = (gross * Decimal(rng.choice([5, 10, 15])) / 100).quantize(CENT)
            line_items.append({
                "id": order_id * 100 + idx + 1, "sku": sku, "name": name, "quantity": qty,
                "unit_price": _money(price), "discount": _money(discount), "vat_rate": vat,
                "total": _money(gross - discount),
            })
        if problem == "unknown_sku":
            line_items[0]["sku"] = "NOPE-404"
        elif problem == "no_sku":
            line_items[-1]["sku"] = None
            line_items[-1]["name"] = "Gift wrapping"
        lines_total = sum((Decimal(li["total"]) for li in line_items), Decimal("0.00"))
        shipping = Decimal("0.00") if lines_total >= 100 else Decimal("9.90")
        total = lines_total + shipping
        if problem == "bad_total":
            total += CENT
        code = payment_code or rng.choice(["stripe", "stripe", "twint", "twint", "paypal", "invoice"])
        if problem == "bad_payment":
            code = "bitcoin"
        address = customer["address"]
        shipping_address = dict(address)
        if rng.random() < 0.1:
            postcode, city = rng.choice(CITIES)
            shipping_address.update(company=None, address_1=f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
                                    postcode=postcode, city=city)
        return {
            "id": order_id,
            "number": f"F360-{10000 + order_id}",
            "status": status,
            "currency": "CHF",
            "created_at": _ts(created),
            "updated_at": _ts(updated),
            "completed_at": _ts(updated) if status == "completed" else None,
            "customer": {k: customer[k] for k in ("email", "first_name", "last_name", "vat_number")},
            "billing_address": dict(address),
            "shipping_address": shipping_address,
            "payment_method": {"code": code, "title": PAYMENT_METHODS.get(code, code.title())},
            "line_items": line_items,
            "shipping_total": _money(shipping),
            "total": _money(total),
            "customer_note": rng.choice([None, None, None, None, "Bitte beim Nachbarn abgeben.", "Merci!"]),
            "integrations": {"totalgest": _not_linked()},
            "fulfillment_status": "unfulfilled",
            "fulfillments": [],
            "refunds": [],
        }

    def _store_order(self, order: dict[str, Any], updated: datetime) -> None:
        self._orders[order["id"]] = order
        self._order_updated[order["id"]] = updated

    # ---- public state API ----------------------------------------------------------------------------------

    # ---- persistence (``tgflow dev --keep``) ----------------------------------------------------------------

    #: What survives a restart: products, orders, customers, rejected SKUs and the random streams that make
    #: new orders. Webhook subscriptions (re-made at start), faults, pending deliveries and stats do not.
    _PERSISTED = ("_products", "_sku_index", "_next_product_id", "_orders", "_order_updated", "_next_order_id",
                  "_customers", "_rejected", "_last_tick", "_sku_pool", "_notifications", "_emails")
    _RANDOM = ("_rng", "_demo_rng")

    def state(self) -> dict[str, Any]:
        """A deep copy of the persisted state (picklable), for :meth:`restore`."""
        with self._lock:
            data = copy.deepcopy({name: getattr(self, name) for name in self._PERSISTED})
            data.update({name: getattr(self, name).getstate() for name in self._RANDOM})
            return data

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            for name in self._PERSISTED:
                if name in state:  # a state saved before a field existed keeps that field's fresh value
                    setattr(self, name, copy.deepcopy(state[name]))
            for name in self._RANDOM:
                getattr(self, name).setstate(state[name])

    def products(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._products.values()))

    def product_by_sku(self, sku: str) -> dict | None:
        with self._lock:
            pid = self._sku_index.get(sku)
            return copy.deepcopy(self._products[pid]) if pid is not None else None

    def orders(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._orders.values()))

    def order(self, order_id: int) -> dict | None:
        with self._lock:
            order = self._orders.get(order_id)
            return copy.deepcopy(order) if order else None

    def create_order(self, *, status: str = "completed", problem: str | None = None, email: str | None = None,
                     lines: int | None = None, payment_code: str | None = None) -> dict:
        if status not in ORDER_STATUSES:
            raise ValueError(f"unknown order status {status!r}")
        if problem is not None and problem not in PROBLEMS:
            raise ValueError(f"unknown problem {problem!r}; one of {PROBLEMS}")
        if lines is not None and lines < 1:
            raise ValueError("lines must be >= 1")
        with self._lock:
            now = self._tick()
            order = self._build_order(status=status, created=now, updated=now, problem=problem, email=email,
                                      lines=lines, payment_code=payment_code)
            self._store_order(order, now)
            if status == "completed":
                self._emit("order.completed", order["id"])
            return copy.deepcopy(order)

    def set_order_status(self, order_id: int, status: str) -> dict:
        if status not in ORDER_STATUSES:
            raise ValueError(f"unknown order status {status!r}")
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                raise KeyError(order_id)
            now = self._tick()
            order["status"] = status
            order["updated_at"] = _ts(now)
            self._order_updated[order_id] = now
            if status == "completed":
                order["completed_at"] = _ts(now)
                self._emit("order.completed", order_id)
            else:
                self._emit("order.updated", order_id)
            return copy.deepcopy(order)

    def patch_order(self, order_id: int, edit: Callable[[dict[str, Any]], Any]) -> dict:
        """Test/admin hook: ``edit(order)`` mutates the stored order in place (raw, bad data allowed, e.g.
        ``lambda o: o["line_items"][0].update(quantity=0)``); bumps ``updated_at``, emits no webhook."""
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                raise KeyError(order_id)
            edit(order)
            now = self._tick()
            order["updated_at"] = _ts(now)
            self._order_updated[order_id] = now
            return copy.deepcopy(order)

    # ---- 1.1: fulfillments, cancellations, refunds, "Send to TotalGest", notifications ---------------------

    def emails_sent(self, order_id: int) -> int:
        """Shipping e-mails the site "sent" the customer of this order (one per notified fulfillment)."""
        with self._lock:
            return self._emails[order_id]

    def notifications(self) -> list[dict]:
        """Notifications shown to the administrators, oldest first."""
        with self._lock:
            return copy.deepcopy(self._notifications)

    def cancel_order(self, order_id: int, reason: str | None = None) -> dict:
        """A person cancels the order in the back office: status ``cancelled``, event ``order.cancelled``.
        Cancelling a cancelled order changes nothing and sends nothing."""
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                raise KeyError(order_id)
            if order["status"] != "cancelled":
                order["status"] = "cancelled"
                self._touch(order)
                self._emit("order.cancelled", order_id)
            return copy.deepcopy(order)

    def refund_order(self, order_id: int, *, line_items: list[dict[str, Any]] | None = None,
                     amount: str | None = None, reason: str | None = None, restock: bool | None = None) -> dict:
        """A person refunds in the back office; event ``order.refunded``. No ``line_items`` and no
        ``amount``: everything left (lines and shipping). ``line_items`` ``[{"line_item_id", "quantity"}]``
        (amount per line pro rata of its total unless given as ``"amount"``): those goods. ``amount`` only
        (``line_items`` empty): money only, e.g. goodwill or shipping. The order's status becomes
        ``refunded`` once everything is refunded. Returns the refund."""
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                raise KeyError(order_id)
            refunded = sum((Decimal(r["amount"]) for r in order["refunds"]), Decimal(0))
            left = Decimal(order["total"]) - refunded
            by_id = {li["id"]: li for li in order["line_items"]}
            done: Counter[int] = Counter()
            for r in order["refunds"]:
                for rl in r["line_items"]:
                    done[rl["line_item_id"]] += rl["quantity"]
            lines: list[dict[str, Any]] = []
            if line_items is None and amount is None:
                lines = [{"line_item_id": li["id"], "quantity": li["quantity"] - done[li["id"]]}
                         for li in order["line_items"] if li["quantity"] > done[li["id"]]]
                total = left
            else:
                for raw in line_items or []:
                    li = by_id.get(int(raw["line_item_id"]))
                    if li is None:
                        raise ValueError(f"order {order_id} has no line item {raw['line_item_id']}")
                    qty = int(raw["quantity"])
                    if not 0 < qty <= li["quantity"] - done[li["id"]]:
                        raise ValueError(f"line item {li['id']}: {qty} is more than the "
                                         f"{li['quantity'] - done[li['id']]} left to refund")
                    lines.append({"line_item_id": li["id"], "quantity": qty, "amount": raw.get("amount")})
                line_sum = Decimal(0)
                for line in lines:
                    li = by_id[line["line_item_id"]]
                    if line["amount"] is None:
                        line["amount"] = _money(Decimal(li["total"]) * line["quantity"] / li["quantity"])
                    line["amount"] = _money(Decimal(str(line["amount"])))
                    line_sum += Decimal(line["amount"])
                total = Decimal(str(amount)) if amount is not None else line_sum
            if total <= 0 or total > left:
                raise ValueError(f"refund of {_money(total)} is not within 0.01..{_money(left)} left to refund")
            if line_items is None and amount is None:
                # a full refund: the lines' own totals; whatever is left over (shipping) stays on the refund only
                for line in lines:
                    li = by_id[line["line_item_id"]]
                    line["amount"] = _money(Decimal(li["total"]) * line["quantity"] / li["quantity"])
            now = self._tick()
            refund = {"id": sum(len(o["refunds"]) for o in self._orders.values()) + 1, "amount": _money(total),
                      "reason": reason, "created_at": _ts(now),
                      "restock": bool(lines) if restock is None else bool(restock), "line_items": lines}
            order["refunds"].append(refund)
            if total == left:
                order["status"] = "refunded"
            self._touch(order, now)
            self._emit("order.refunded", order_id)
            return copy.deepcopy(refund)

    def request_export(self, order_ids: list[int], requested_by: str = "Demo Admin",
                       request_id: str | None = None) -> dict:
        """A person selects orders in the order list and chooses "Send to TotalGest":
        event ``orders.export_requested``. Returns ``{"request_id", "event_id"}``."""
        if not isinstance(order_ids, list) or not 1 <= len(order_ids) <= MAX_EXPORT_REQUEST \
                or any(isinstance(i, bool) or not isinstance(i, int) for i in order_ids):
            raise ValueError(f"order_ids must be a list of 1 to {MAX_EXPORT_REQUEST} order ids")
        with self._lock:
            rid = request_id or f"req_{secrets.token_hex(8)}"
            event_id = self._emit_event("orders.export_requested",
                                        {"order_ids": list(order_ids), "request_id": rid,
                                         "requested_by": requested_by})
            return {"request_id": rid, "event_id": event_id}

    def _touch(self, order: dict[str, Any], now: datetime | None = None) -> None:
        now = now or self._tick()
        order["updated_at"] = _ts(now)
        self._order_updated[order["id"]] = now

    def _fulfil(self, order_id: int, body: Any) -> dict[str, Any]:
        """POST /orders/{id}/fulfillments; raises _BadRequest(422 validation_error) for what the contract names."""
        def invalid(message: str) -> _BadRequest:
            return _BadRequest(message, 422, "validation_error")

        if not isinstance(body, dict):
            raise invalid("body must be a FulfillmentInput object")
        for key in ("carrier", "tracking_number"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                raise invalid(f"{key} is required (a non-empty string)")
        if _parse_dt(body.get("shipped_at")) is None:
            raise invalid("shipped_at is required (RFC 3339 with offset)")
        if body.get("tracking_url") is not None and not isinstance(body["tracking_url"], str):
            raise invalid("tracking_url must be a string or null")
        notify = body.get("notify_customer", True)
        if not isinstance(notify, bool):
            raise invalid("notify_customer must be a boolean")
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                raise _BadRequest("no such order", 404, "not_found")
            if order["status"] == "cancelled":
                raise invalid(f"order {order['number']} is cancelled")
            shipped: Counter[int] = Counter()
            for f in order["fulfillments"]:
                for fl in f["line_items"]:
                    shipped[fl["line_item_id"]] += fl["quantity"]
            left = {li["id"]: li["quantity"] - shipped[li["id"]] for li in order["line_items"]}
            raw_lines = body.get("line_items")
            if raw_lines is None:
                lines = [{"line_item_id": i, "quantity": q} for i, q in left.items() if q > 0]
                if not lines:
                    raise invalid(f"order {order['number']} has nothing left to ship")
            else:
                if not isinstance(raw_lines, list) or not raw_lines:
                    raise invalid("line_items must be a non-empty list or omitted")
                want: Counter[int] = Counter()
                for i, line in enumerate(raw_lines):
                    lid, qty = (line.get("line_item_id"), line.get("quantity")) if isinstance(line, dict) else (None, None)
                    if isinstance(lid, bool) or not isinstance(lid, int) or lid not in left:
                        raise invalid(f"line_items[{i}]: unknown line item {lid!r}")
                    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
                        raise invalid(f"line_items[{i}].quantity must be a positive integer")
                    want[lid] += qty
                for lid, qty in want.items():
                    if qty > left[lid]:
                        raise invalid(f"line item {lid}: {qty} is more than the {left[lid]} left to ship")
                lines = [{"line_item_id": lid, "quantity": qty} for lid, qty in want.items()]
            now = self._tick()
            fulfillment = {"id": sum(len(o["fulfillments"]) for o in self._orders.values()) + 1,
                           "carrier": body["carrier"], "tracking_number": body["tracking_number"],
                           "tracking_url": body.get("tracking_url"), "shipped_at": body["shipped_at"],
                           "notify_customer": notify, "line_items": lines, "created_at": _ts(now)}
            order["fulfillments"].append(fulfillment)
            for line in lines:
                shipped[line["line_item_id"]] += line["quantity"]
            complete = all(shipped[li["id"]] >= li["quantity"] for li in order["line_items"])
            order["fulfillment_status"] = "fulfilled" if complete else "partial"
            self._touch(order, now)
            if notify:
                self._emails[order_id] += 1
                self._stats["customer_emails"] += 1
            return copy.deepcopy(fulfillment)

    def _notify(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _BadRequest("body must be an object with title, message and level")
        title, message, level = body.get("title"), body.get("message"), body.get("level")
        if not isinstance(title, str) or not title.strip() or len(title) > 120:
            raise _BadRequest("title is required, at most 120 characters")
        if not isinstance(message, str) or len(message) > 4000:
            raise _BadRequest("message is required, at most 4000 characters")
        if level not in NOTIFICATION_LEVELS:
            raise _BadRequest(f"level must be one of {', '.join(NOTIFICATION_LEVELS)}")
        for key in ("link", "request_id"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise _BadRequest(f"{key} must be a string or null")
        with self._lock:
            note = {"id": len(self._notifications) + 1, "title": title, "message": message, "level": level,
                    "link": body.get("link"), "request_id": body.get("request_id"), "created_at": _ts(_now())}
            self._notifications.append(note)
            return {"id": note["id"]}

    def set_module_active(self, active: bool) -> None:
        with self._lock:
            self._module_active = bool(active)

    def reject_skus(self, reasons: dict[str, str]) -> None:
        with self._lock:
            self._rejected = {str(k): str(v) for k, v in reasons.items()}

    def set_faults(self, **faults: float) -> None:
        """error_rate, timeout_rate, timeout_seconds, rate_limit_burst, retry_after_seconds, slow_ms; none clears."""
        unknown = set(faults) - _FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(_FAULT_KEYS)}")
        with self._lock:
            self._faults = {k: float(v) for k, v in faults.items() if v is not None}
            self._burst_left = int(self._faults.get("rate_limit_burst", 0))

    def set_webhooks(self, *, enabled: bool = True, drop_rate: float = 0.0, duplicate_rate: float = 0.0) -> None:
        with self._lock:
            self._hooks_enabled = bool(enabled)
            self._drop_rate = float(drop_rate)
            self._duplicate_rate = float(duplicate_rate)

    def start_demo_traffic(self, every_seconds: float = 5.0, bad_share: float = 0.15) -> None:
        """Complete a new order every N seconds, an occasional bad one, until stopped."""
        self.stop_demo_traffic()
        self._demo_stop = stop = threading.Event()

        def run() -> None:
            while not stop.wait(every_seconds):
                bad = self._demo_rng.random() < bad_share
                self.create_order(problem=self._demo_rng.choice(PROBLEMS) if bad else None)

        self._demo_thread = threading.Thread(target=run, daemon=True, name="f360-demo-traffic")
        self._demo_thread.start()

    def stop_demo_traffic(self) -> None:
        self._demo_stop.set()
        if self._demo_thread is not None:
            self._demo_thread.join(timeout=5)
            self._demo_thread = None

    def close(self) -> None:
        """Stop background threads (demo traffic, webhook delivery); pending deliveries are dropped."""
        self.stop_demo_traffic()
        with self._queue_cv:
            self._closing = True
            self._queue.clear()
            self._queue_cv.notify_all()

    @staticmethod
    def _empty_stats() -> dict[str, Any]:
        return {"total": 0, "by_route": Counter(), "by_status": Counter(), "batch_calls": 0, "products_created": 0,
                "products_updated": 0, "product_integration_puts": 0, "order_integration_puts": 0,
                "webhook_deliveries": 0, "webhook_failures": 0, "webhook_given_up": 0,
                "batch_integration_sets": 0, "customer_emails": 0}

    def stats(self) -> dict:
        """Counters since the last reset. webhook_failures counts failed attempts; webhook_given_up, events lost."""
        with self._lock:
            out = dict(self._stats)
            out["by_route"] = dict(self._stats["by_route"])
            out["by_status"] = dict(self._stats["by_status"])
            return out

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = self._empty_stats()

    # ---- webhooks ------------------------------------------------------------------------------------------

    def subscribe(self, url: str, events: list[str], secret: str) -> str:
        with self._lock:
            sub_id = f"wh_{secrets.token_hex(8)}"
            self._subscriptions[sub_id] = {"url": url, "events": list(events), "secret": secret}
            return sub_id

    def _emit(self, event_type: str, order_id: int) -> None:
        """Queue an order event to each matching subscription (caller holds the lock)."""
        self._emit_event(event_type, {"order_id": order_id})

    def _emit_event(self, event_type: str, data: dict[str, Any]) -> str | None:
        """Queue an event (``site_id`` on it, as since 1.1) to each matching subscription; its id, or
        None when webhooks are off (caller holds the lock)."""
        if not self._hooks_enabled:
            return None
        event = {"id": f"evt_{secrets.token_hex(12)}", "type": event_type, "created_at": _ts(_now()),
                 "site_id": self.site_id, "data": data}
        body = json.dumps(event, separators=(",", ":")).encode()
        for sub in self._subscriptions.values():
            if event_type not in sub["events"] or self._hook_rng.random() < self._drop_rate:
                continue
            self._enqueue(_Delivery(sub["url"], sub["secret"], body), 0.0)
            if self._hook_rng.random() < self._duplicate_rate:
                self._enqueue(_Delivery(sub["url"], sub["secret"], body), self._hook_rng.uniform(0.05, 0.3))
        return str(event["id"])

    def _enqueue(self, delivery: _Delivery, delay: float) -> None:
        with self._queue_cv:
            if self._closing:
                return
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), delivery))
            if self._delivery_thread is None:
                self._delivery_thread = threading.Thread(target=self._deliver_loop, daemon=True,
                                                         name="f360-webhooks")
                self._delivery_thread.start()
            self._queue_cv.notify()

    def _deliver_loop(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while True:
                with self._queue_cv:
                    while not self._closing and (not self._queue or self._queue[0][0] > time.monotonic()):
                        wait = self._queue[0][0] - time.monotonic() if self._queue else None
                        self._queue_cv.wait(wait)
                    if self._closing:
                        return
                    _, _, delivery = heapq.heappop(self._queue)
                self._attempt(client, delivery)

    def _attempt(self, client: httpx.Client, delivery: _Delivery) -> None:
        delivery.attempt += 1
        signature = hmac.new(delivery.secret.encode(), delivery.body, hashlib.sha256).hexdigest()
        try:
            response = client.post(delivery.url, content=delivery.body, headers={
                "Content-Type": "application/json", "X-F360-Signature": f"sha256={signature}"})
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError:
            ok = False
        with self._lock:
            self._stats["webhook_deliveries" if ok else "webhook_failures"] += 1
            if not ok and delivery.attempt >= MAX_DELIVERY_ATTEMPTS:
                self._stats["webhook_given_up"] += 1
        if not ok and delivery.attempt < MAX_DELIVERY_ATTEMPTS:
            self._enqueue(delivery, 0.2 * 2 ** (delivery.attempt - 1))

    # ---- request-side helpers (called by the app) ----------------------------------------------------------

    def _decide_fault(self) -> tuple[str, float] | None:
        """('rate_limit', retry_after) | ('error', status) | ('timeout', seconds) | ('slow', seconds) | None."""
        with self._lock:
            f = self._faults
            if self._burst_left > 0:
                self._burst_left -= 1
                return ("rate_limit", f.get("retry_after_seconds", 1.0))
            if f.get("error_rate") and self._fault_rng.random() < f["error_rate"]:
                return ("error", float(self._fault_rng.choice([500, 503])))
            if f.get("timeout_rate") and self._fault_rng.random() < f["timeout_rate"]:
                return ("timeout", f.get("timeout_seconds", 5.0))
            if f.get("slow_ms"):
                return ("slow", f["slow_ms"] / 1000)
            return None

    def _lose_response(self) -> bool:
        with self._lock:
            rate = self._faults.get("error_after_commit_rate", 0.0)
            return bool(rate) and self._fault_rng.random() < rate

    def _count(self, route: str, status: int) -> None:
        with self._lock:
            self._stats["total"] += 1
            self._stats["by_route"][route] += 1
            self._stats["by_status"][str(status)] += 1

    def _bump(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _module_on(self) -> bool:
        with self._lock:
            return self._module_active

    def _list_orders(self, status: str | None, after: datetime | None, page: int, per_page: int) -> dict:
        with self._lock:
            ids = sorted(self._orders, key=lambda i: (self._order_updated[i], i))
            hits = [i for i in ids if (status is None or self._orders[i]["status"] == status)
                    and (after is None or self._order_updated[i] > after)]
            start = (page - 1) * per_page
            items = [copy.deepcopy(self._orders[i]) for i in hits[start:start + per_page]]
            return {"items": items, "page": page, "per_page": per_page, "total": len(hits)}

    def _list_products(self, sku: str | None, page: int, per_page: int) -> dict:
        start = (page - 1) * per_page
        with self._lock:
            if sku is not None:
                pid = self._sku_index.get(sku)
                hits = [self._products[pid]] if pid is not None else []
                items, total = hits[start:start + per_page], len(hits)
            else:
                items = list(itertools.islice(self._products.values(), start, start + per_page))
                total = len(self._products)
            return {"items": copy.deepcopy(items), "page": page, "per_page": per_page, "total": total}

    def _get_product(self, product_id: int) -> dict | None:
        with self._lock:
            product = self._products.get(product_id)
            return copy.deepcopy(product) if product else None

    def _put_integration(self, kind: str, entity_id: int, status: dict[str, Any]) -> bool:
        with self._lock:
            store = self._products if kind == "product" else self._orders
            entity = store.get(entity_id)
            if entity is None:
                return False
            entity["integrations"] = {"totalgest": dict(status)}
            self._stats[f"{kind}_integration_puts"] += 1
            return True

    def _batch(self, creates: list[Any], updates: list[Any]) -> dict[str, list[dict]]:
        with self._lock:
            self._stats["batch_calls"] += 1
            return {"create": [self._item(self._create_product, item) for item in creates],
                    "update": [self._item(self._update_product, item) for item in updates]}

    @staticmethod
    def _item(fn: Callable[[Any], dict], item: Any) -> dict:
        try:
            return fn(item)
        except _ItemError as exc:
            return {"error": {"error": exc.code, "message": exc.message}}

    def _clean_fields(self, item: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        """Validate ProductInput fields; raises _ItemError('validation_error', …)."""
        def bad(msg: str) -> _ItemError:
            return _ItemError("validation_error", msg)

        if not partial:
            missing = [k for k in ("sku", "name", "price", "vat_rate") if item.get(k) in (None, "")]
            if missing:
                raise bad(f"missing required field(s): {', '.join(missing)}")
        out: dict[str, Any] = {}
        for key in ("sku", "name"):
            if key in item:
                if not isinstance(item[key], str) or not item[key].strip():
                    raise bad(f"{key} must be a non-empty string")
                out[key] = item[key]
        for key in ("price", "vat_rate"):
            if key in item:
                value = item[key]
                if not isinstance(value, str) or not _DECIMAL_RE.match(value):
                    raise bad(f"{key} must be a decimal string like \"12.50\", got {value!r}")
                try:
                    dec = Decimal(value)
                except InvalidOperation:
                    raise bad(f"{key} is not a decimal") from None
                out[key] = _money(dec) if key == "price" else value
        for key in ("ean", "description", "short_description"):
            if key in item:
                if item[key] is not None and not isinstance(item[key], str):
                    raise bad(f"{key} must be a string or null")
                out[key] = item[key]
        if item.get("manage_stock") is not None:
            if not isinstance(item["manage_stock"], bool):
                raise bad("manage_stock must be a boolean")
            out["manage_stock"] = item["manage_stock"]
        if "stock_quantity" in item:
            qty = item["stock_quantity"]
            if qty is not None and (isinstance(qty, bool) or not isinstance(qty, int)):
                raise bad("stock_quantity must be an integer or null")
            out["stock_quantity"] = qty
        if item.get("status") is not None:  # null on a defaulted field means "the default"
            if item["status"] not in ("published", "draft"):
                raise bad("status must be published or draft")
            out["status"] = item["status"]
        return out

    @staticmethod
    def _batch_integration_status(item: dict[str, Any]) -> dict[str, Any] | None:
        """1.1: a batch item's optional ``integrations.totalgest`` (validated before anything is stored)."""
        integrations = item.get("integrations")
        if integrations is None:
            return None
        if not isinstance(integrations, dict):
            raise _ItemError("validation_error", "integrations must be an object")
        if integrations.get("totalgest") is None:
            return None
        try:
            return _integration_input(integrations["totalgest"])
        except _BadRequest as exc:
            raise _ItemError("validation_error", f"integrations.totalgest: {exc.message}") from None

    def _batch_integration(self, product: dict[str, Any], item: dict[str, Any]) -> None:
        status = self._batch_integration_status(item)
        if status is not None:
            product["integrations"] = {"totalgest": status}
            self._stats["batch_integration_sets"] += 1

    def _check_rejected(self, sku: str) -> None:
        if sku in self._rejected:
            raise _ItemError("validation_error", self._rejected[sku])

    def _create_product(self, item: Any) -> dict:
        if not isinstance(item, dict):
            raise _ItemError("validation_error", "item must be an object")
        fields = self._clean_fields(item, partial=False)
        self._batch_integration_status(item)
        self._check_rejected(fields["sku"])
        if fields["sku"] in self._sku_index:
            raise _ItemError("duplicate_sku", f"a product with sku {fields['sku']!r} already exists "
                                              f"(id {self._sku_index[fields['sku']]})")
        pid = self._next_product_id
        self._next_product_id += 1
        product = {"id": pid, "sku": fields["sku"], "ean": None, "name": fields["name"], "description": None,
                   "short_description": None, "price": fields["price"], "vat_rate": fields["vat_rate"],
                   "manage_stock": True, "stock_quantity": None, "status": "published"}
        product.update(fields)
        product["updated_at"] = _ts(self._tick())
        product["integrations"] = {"totalgest": _not_linked()}
        self._batch_integration(product, item)
        self._products[pid] = product
        self._sku_index[product["sku"]] = pid
        self._stats["products_created"] += 1
        return {"id": pid, "sku": product["sku"]}

    def _update_product(self, item: Any) -> dict:
        if not isinstance(item, dict):
            raise _ItemError("validation_error", "item must be an object")
        pid = item.get("id")
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise _ItemError("validation_error", "id must be an integer")
        product = self._products.get(pid)
        if product is None:
            raise _ItemError("not_found", f"no product with id {pid}")
        fields = self._clean_fields({k: v for k, v in item.items() if k != "id"}, partial=True)
        self._batch_integration_status(item)
        sku = fields.get("sku", product["sku"])
        self._check_rejected(sku)
        owner = self._sku_index.get(sku)
        if owner is not None and owner != pid:
            raise _ItemError("duplicate_sku", f"sku {sku!r} belongs to product {owner}")
        if sku != product["sku"]:
            del self._sku_index[product["sku"]]
            self._sku_index[sku] = pid
        product.update(fields)
        product["updated_at"] = _ts(self._tick())
        self._batch_integration(product, item)
        self._stats["products_updated"] += 1
        return {"id": pid, "sku": product["sku"]}


# ---- the ASGI app ----------------------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise _BadRequest("body is not valid JSON") from None


def _int_param(request: Request, name: str, default: int, lo: int, hi: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None
    if value < lo or (hi is not None and value > hi):
        raise _BadRequest(f"{name} must be between {lo} and {hi}" if hi else f"{name} must be >= {lo}")
    return value


def _integration_input(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _BadRequest("body must be an IntegrationStatus object")
    if body.get("status") not in INTEGRATION_STATUSES:
        raise _BadRequest(f"status must be one of {', '.join(INTEGRATION_STATUSES)}")
    for key in ("remote_id", "message"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise _BadRequest(f"{key} must be a string or null")
    synced = body.get("synced_at")
    if synced is not None and _parse_dt(synced) is None:
        raise _BadRequest("synced_at must be RFC 3339 with offset")
    return {"status": body["status"], "remote_id": body.get("remote_id"), "message": body.get("message"),
            "synced_at": synced}


def create_app(sim: Framework360Sim) -> Starlette:
    """The contract under /api/v1 (auth, module gate, faults, stats) plus the /_admin control surface."""

    def api(method: str, path: str, handler: Handler, *, module: bool = True) -> Route:
        route_key = f"{method} {path.replace(':int', '')}"

        async def endpoint(request: Request) -> Response:
            response = await guarded(request)
            sim._count(route_key, response.status_code)
            return response

        async def guarded(request: Request) -> Response:
            fault = sim._decide_fault()
            if fault is not None:
                kind, value = fault
                if kind == "rate_limit":
                    return _error(429, "rate_limited", "too many requests",
                                  headers={"Retry-After": str(max(0, round(value)))})
                if kind == "error":
                    return _error(int(value), "server_error" if value == 500 else "unavailable",
                                  "injected fault")
                await asyncio.sleep(value)
            auth = request.headers.get("authorization", "")
            if not hmac.compare_digest(auth.encode(), f"Bearer {sim.api_key}".encode()):
                return _error(401, "invalid_api_key", "missing or invalid API key")
            if module and not sim._module_on():
                return _error(409, "module_inactive", "the E-commerce module is not active on this site")
            try:
                response = await handler(request)
            except _BadRequest as exc:
                return _error(exc.status, exc.code, exc.message)
            if route_key in _COMMIT_ROUTES and response.status_code < 300 and sim._lose_response():
                return _error(500, "server_error", "injected fault: response lost after commit")
            return response

        return Route(path, endpoint, methods=[method])

    async def get_site(request: Request) -> Response:
        return JSONResponse({"id": sim.site_id, "name": "Velo Demo Shop", "currency": "CHF",
                             "modules": {"ecommerce": sim._module_on(), "blog": True}})

    async def list_products(request: Request) -> Response:
        page = _int_param(request, "page", 1, 1)
        per_page = _int_param(request, "per_page", 20, 1, 100)
        return JSONResponse(sim._list_products(request.query_params.get("sku"), page, per_page))

    async def get_product(request: Request) -> Response:
        product = sim._get_product(request.path_params["product_id"])
        return JSONResponse(product) if product else _error(404, "not_found", "no such product")

    async def batch_products(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise _BadRequest("body must be an object with create and/or update lists")
        creates, updates = body.get("create") or [], body.get("update") or []
        if not isinstance(creates, list) or not isinstance(updates, list):
            raise _BadRequest("create and update must be lists")
        if len(creates) > MAX_BATCH or len(updates) > MAX_BATCH:
            raise _BadRequest(f"at most {MAX_BATCH} items per list", 413, "payload_too_large")
        return JSONResponse(sim._batch(creates, updates))

    async def put_product_integration(request: Request) -> Response:
        status = _integration_input(await _json_body(request))
        if not sim._put_integration("product", request.path_params["product_id"], status):
            return _error(404, "not_found", "no such product")
        return JSONResponse(status)

    async def list_orders(request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in ORDER_STATUSES:
            raise _BadRequest(f"status must be one of {', '.join(ORDER_STATUSES)}")
        after = None
        if "updated_after" in request.query_params:
            after = _parse_dt(request.query_params["updated_after"])
            if after is None:
                raise _BadRequest("updated_after must be RFC 3339 with offset")
        page = _int_param(request, "page", 1, 1)
        per_page = _int_param(request, "per_page", 20, 1, 100)
        return JSONResponse(sim._list_orders(status, after, page, per_page))

    async def get_order(request: Request) -> Response:
        order = sim.order(request.path_params["order_id"])
        return JSONResponse(order) if order else _error(404, "not_found", "no such order")

    async def put_order_integration(request: Request) -> Response:
        status = _integration_input(await _json_body(request))
        if not sim._put_integration("order", request.path_params["order_id"], status):
            return _error(404, "not_found", "no such order")
        return JSONResponse(status)

    async def create_fulfillment(request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse(sim._fulfil(request.path_params["order_id"], body), status_code=201)

    async def create_notification(request: Request) -> Response:
        return JSONResponse(sim._notify(await _json_body(request)), status_code=201)

    async def subscribe(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise _BadRequest("body must be an object")
        url, events, secret = body.get("url"), body.get("events"), body.get("secret")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _BadRequest("url must be an http(s) URL")
        if not isinstance(events, list) or not events or any(e not in EVENT_TYPES for e in events):
            raise _BadRequest(f"events must be a non-empty list of {', '.join(EVENT_TYPES)}")
        if not isinstance(secret, str) or len(secret) < 16:
            raise _BadRequest("secret must be a string of at least 16 characters")
        return JSONResponse({"id": sim.subscribe(url, events, secret)}, status_code=201)

    api_routes = [
        api("GET", "/site", get_site, module=False),
        api("GET", "/products", list_products),
        api("POST", "/products/batch", batch_products),
        api("GET", "/products/{product_id:int}", get_product),
        api("PUT", "/products/{product_id:int}/integrations/totalgest", put_product_integration),
        api("GET", "/orders", list_orders),
        api("GET", "/orders/{order_id:int}", get_order),
        api("PUT", "/orders/{order_id:int}/integrations/totalgest", put_order_integration),
        api("POST", "/orders/{order_id:int}/fulfillments", create_fulfillment),
        api("POST", "/notifications", create_notification, module=False),
        api("POST", "/webhooks", subscribe, module=False),
    ]
    return Starlette(
        routes=[Mount("/api/v1", routes=api_routes), Mount("/_admin", routes=_admin_routes(sim))],
        exception_handlers={HTTPException: _http_error},
    )


def _admin_routes(sim: Framework360Sim) -> list[Route]:
    """No auth, no faults: the test/dev harness's levers."""

    def admin(fn: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                result = await fn(request)
            except _BadRequest as exc:
                return _error(exc.status, exc.code, exc.message)
            except (ValueError, TypeError) as exc:
                return _error(400, "bad_request", str(exc))
            except KeyError as exc:
                return _error(404, "not_found", f"no such item {exc}")
            if isinstance(result, Response):
                return result
            return JSONResponse(result if result is not None else {"ok": True})
        return endpoint

    async def body_obj(request: Request) -> dict[str, Any]:
        raw = await request.body()
        body = await _json_body(request) if raw.strip() else {}
        if not isinstance(body, dict):
            raise _BadRequest("body must be an object")
        return body

    async def products(request: Request) -> Any:
        return sim.products()

    async def product(request: Request) -> Any:
        found = sim.product_by_sku(request.path_params["sku"])
        return found if found else _error(404, "not_found", "no such product")

    async def orders(request: Request) -> Any:
        return sim.orders()

    async def order(request: Request) -> Any:
        found = sim.order(request.path_params["order_id"])
        return found if found else _error(404, "not_found", "no such order")

    async def create_orders(request: Request) -> Any:
        body = await body_obj(request)
        many = "count" in body
        count = int(body.pop("count", 1))
        created = [sim.create_order(**body) for _ in range(count)]
        return JSONResponse(created if many else created[0], status_code=201)

    async def order_status(request: Request) -> Any:
        body = await body_obj(request)
        return sim.set_order_status(request.path_params["order_id"], str(body.get("status")))

    async def cancel(request: Request) -> Any:
        body = await body_obj(request)
        return sim.cancel_order(request.path_params["order_id"], body.get("reason"))

    async def refund(request: Request) -> Any:
        body = await body_obj(request)
        unknown = set(body) - {"line_items", "amount", "reason", "restock"}
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}")
        return JSONResponse(sim.refund_order(request.path_params["order_id"], **body), status_code=201)

    async def export_request(request: Request) -> Any:
        body = await body_obj(request)
        unknown = set(body) - {"order_ids", "requested_by", "request_id"}
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}")
        return JSONResponse(sim.request_export(**body), status_code=201)

    async def notifications(request: Request) -> Any:
        return sim.notifications()

    async def emails(request: Request) -> Any:
        return {"order_id": request.path_params["order_id"], "sent": sim.emails_sent(request.path_params["order_id"])}

    async def module(request: Request) -> Any:
        sim.set_module_active(bool((await body_obj(request)).get("active", True)))

    async def reject(request: Request) -> Any:
        sim.reject_skus(await body_obj(request))

    async def faults(request: Request) -> Any:
        sim.set_faults(**(await body_obj(request)))

    async def webhooks(request: Request) -> Any:
        sim.set_webhooks(**(await body_obj(request)))

    async def demo_start(request: Request) -> Any:
        sim.start_demo_traffic(**(await body_obj(request)))

    async def demo_stop(request: Request) -> Any:
        sim.stop_demo_traffic()

    async def stats(request: Request) -> Any:
        return sim.stats()

    async def stats_reset(request: Request) -> Any:
        sim.reset_stats()

    return [
        Route("/products", admin(products), methods=["GET"]),
        Route("/products/{sku}", admin(product), methods=["GET"]),
        Route("/orders", admin(orders), methods=["GET"]),
        Route("/orders", admin(create_orders), methods=["POST"]),
        Route("/orders/{order_id:int}", admin(order), methods=["GET"]),
        Route("/orders/{order_id:int}/status", admin(order_status), methods=["POST"]),
        Route("/orders/{order_id:int}/cancel", admin(cancel), methods=["POST"]),
        Route("/orders/{order_id:int}/refund", admin(refund), methods=["POST"]),
        Route("/orders/{order_id:int}/emails", admin(emails), methods=["GET"]),
        Route("/export-requests", admin(export_request), methods=["POST"]),
        Route("/notifications", admin(notifications), methods=["GET"]),
        Route("/module", admin(module), methods=["PUT"]),
        Route("/reject-skus", admin(reject), methods=["PUT"]),
        Route("/faults", admin(faults), methods=["PUT"]),
        Route("/webhooks", admin(webhooks), methods=["PUT"]),
        Route("/demo-traffic", admin(demo_start), methods=["POST"]),
        Route("/demo-traffic", admin(demo_stop), methods=["DELETE"]),
        Route("/stats", admin(stats), methods=["GET"]),
        Route("/stats/reset", admin(stats_reset), methods=["POST"]),
    ]
