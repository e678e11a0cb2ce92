"""TotalGest API simulator: a faithful, fault-injectable peer for tests and ``tgflow dev``.

Serves the wire contract under ``/api/v1`` and a no-auth, fault-free control surface
under ``/_admin``. State lives in :class:`TotalGestSim` behind one ``threading.Lock``
because tests drive it from a thread other than the server's. Articles and stock rows
are kept in lists of sort keys ordered by ``(updated_at, id)`` so a page is a ``bisect``
plus a slice, even with a 50,000-article catalog.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import copy
import json
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from tgflow.sim import (
    DEMO_TG_OWNER_ID,
    DEMO_TG_PASSWORD,
    DEMO_TG_SHOP_ID,
    DEMO_TG_USERNAME,
)
from tgflow.sim._wire import error as _error
from tgflow.sim._wire import http_error as _http_error
from tgflow.sim._wire import now as _now
from tgflow.sim._wire import parse_dt as _parse_dt
from tgflow.sim._wire import ts as _ts

CENT = Decimal("0.01")
SHOP_NAME = "Velo Demo AG"
CURRENCY = "CHF"
WAREHOUSES = ["MAIN", "STORE", "OUTLET"]
VAT_CODES = {"N": ("8.1", "Normalsatz"), "R": ("2.6", "reduziert"), "S": ("3.8", "Beherbergung")}
PAYMENT_METHODS = {"CC": "Credit card", "PP": "PayPal", "TW": "TWINT", "RE": "Rechnung",
                   "VB": "Vorauskasse/Bank", "NN": "Nachnahme"}
ARTICLE_LIMIT = (100, 500)   # (default, max)
ORDER_CHANGES_LIMIT = (100, 500)
STOCK_LIMIT = (200, 1000)
_DECIMAL_RE = re.compile(r"^-?\d+(\.\d+)?$")
_FAULT_DEFAULTS: dict[str, float] = {
    "error_rate": 0.0, "error_after_commit_rate": 0.0, "timeout_rate": 0.0, "timeout_seconds": 5.0,
    "rate_limit_burst": 0, "retry_after_seconds": 1, "slow_ms": 0.0, "token_ttl_seconds": 0,
    "rate_limit_rate": 0.0,
}
_ADDRESS_FIELDS = ("name", "street", "zip", "city", "country")
_COMMIT_ROUTES = {"POST /shops/{shop_id}/customers", "POST /shops/{shop_id}/orders",
                  "POST /shops/{shop_id}/orders/{order_id}/cancel", "POST /shops/{shop_id}/credit-notes"}

# (name, price range CHF, vat code, weight range kg or None); variants multiply them into a catalog.
_PRODUCTS: list[tuple[str, tuple[int, int], str, tuple[float, float] | None]] = [
    ("Kettenöl 100 ml", (9, 19), "N", (0.10, 0.13)),
    ("Schlauch 28\"", (7, 14), "N", (0.09, 0.13)),
    ("Schlauch 29\" MTB", (8, 16), "N", (0.15, 0.22)),
    ("Faltreifen 700x28", (39, 69), "N", (0.22, 0.32)),
    ("MTB-Reifen 29x2.4", (49, 89), "N", (0.75, 1.05)),
    ("Bremsbeläge Scheibenbremse", (14, 35), "N", (0.03, 0.06)),
    ("Kette 11-fach", (29, 69), "N", (0.25, 0.28)),
    ("Kassette 11-32", (49, 139), "N", (0.25, 0.40)),
    ("Velohelm", (69, 249), "N", (0.25, 0.40)),
    ("Veloschloss Bügel", (39, 119), "N", (0.9, 1.6)),
    ("LED-Lichtset USB", (29, 89), "N", (0.10, 0.20)),
    ("Sattel Comfort", (39, 129), "N", (0.25, 0.45)),
    ("Trinkflasche 750 ml", (9, 19), "N", (0.08, 0.12)),
    ("Minipumpe", (19, 49), "N", (0.09, 0.18)),
    ("Lenkerband", (19, 39), "N", (0.06, 0.10)),
    ("Handschuhe Langfinger", (29, 59), "N", (0.08, 0.12)),
    ("Gepäckträger", (39, 99), "N", (0.5, 0.9)),
    ("Schutzblech-Set", (29, 69), "N", (0.3, 0.6)),
    ("Flaschenhalter Alu", (9, 29), "N", (0.03, 0.06)),
    ("Multitool 15 Funktionen", (19, 59), "N", (0.15, 0.25)),
    ("Pedale Flat", (39, 129), "N", (0.3, 0.45)),
    ("Velotasche wasserdicht", (59, 149), "N", (0.8, 1.3)),
    ("Energieriegel Hafer", (2, 4), "R", (0.04, 0.06)),
    ("Isotonisches Getränkepulver 500 g", (19, 29), "R", (0.5, 0.55)),
    ("Velokarte Schweiz 1:100 000", (19, 29), "R", (0.1, 0.15)),
    ("Buch: Velotouren Graubünden", (24, 39), "R", (0.3, 0.5)),
    ("Servicepauschale Standard", (79, 149), "N", None),
]
_VARIANTS = ["", "schwarz", "rot", "blau", "Grösse S", "Grösse M", "Grösse L", "Pro", "Sport", "Urban", "Race"]
_BLURBS = ["Bewährte Qualität aus unserem Velo-Sortiment.", "Ideal für Pendler und Tourenfahrer.",
           "Leicht, robust und langlebig.", "Von unseren Mechanikern empfohlen."]


def _dec(value: Any) -> Decimal | None:
    """A decimal string (the wire's money/quantity form), else None; JSON numbers are refused."""
    if not isinstance(value, str) or not _DECIMAL_RE.match(value.strip()):
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        return None


def ean13(body12: str) -> str:
    """Append the EAN-13 check digit (weights 1,3,1,3... from the left)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


class _ApiError(Exception):
    """Raised by handlers to answer an Error body without nesting."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _bad(message: str) -> _ApiError:
    return _ApiError(400, "bad_request", message)


def _encode_cursor(key: tuple) -> str:
    raw = json.dumps([_ts(key[0]), *key[1:]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, width: int) -> tuple:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        dt = _parse_dt(raw[0])
        rest = raw[1:]
        if dt is None or len(rest) != width - 1 or not all(type(x) is int for x in rest):
            raise ValueError(cursor)
        return (dt, *rest)
    except Exception:  # noqa: BLE001 - any garbage is the same client error
        raise _bad("malformed cursor") from None


def _address_problems(value: Any, field: str) -> list[dict[str, str]]:
    if not isinstance(value, dict):
        return [{"field": field, "message": "required object with name, street, zip, city, country"}]
    out = [{"field": f"{field}.{name}", "message": "required non-empty string"}
           for name in _ADDRESS_FIELDS if not isinstance(value.get(name), str) or not value[name].strip()]
    country = value.get("country")
    if isinstance(country, str) and country.strip() and not re.fullmatch(r"[A-Z]{2}", country):
        out.append({"field": f"{field}.country", "message": "must be an ISO 3166-1 alpha-2 code, e.g. CH"})
    return out


class TotalGestSim:
    """In-memory TotalGest shop with a deterministic bike-shop catalog, auth, and injectable faults."""

    warehouses: list[str]
    vat_rates: dict[str, str]
    payment_codes: list[str]

    def __init__(self, *, articles: int = 300, seed: int = 1, shop_id: str = DEMO_TG_SHOP_ID,
                 owner_id: str = DEMO_TG_OWNER_ID, username: str = DEMO_TG_USERNAME,
                 password: str = DEMO_TG_PASSWORD, token_ttl_seconds: int = 3600) -> None:
        self.shop_id, self.owner_id, self.username, self.password = shop_id, owner_id, username, password
        self.token_ttl_seconds = token_ttl_seconds
        self.warehouses = list(WAREHOUSES)
        self.vat_rates = {code: rate for code, (rate, _) in VAT_CODES.items()}
        self.payment_codes = list(PAYMENT_METHODS)
        self._lock = threading.Lock()
        self._fault_rng = random.Random(seed * 7919 + 1)
        self._faults: dict[str, float] = dict(_FAULT_DEFAULTS)
        self._burst_left = 0
        self._tokens: dict[str, tuple[str, float]] = {}   # token -> (shop_id, monotonic expiry)
        self._stats = self._empty_stats()
        self._articles: dict[int, dict[str, Any]] = {}   # id -> record (updated_at as datetime)
        self._by_code: dict[str, int] = {}
        self._art_keys: list[tuple[datetime, int]] = []
        self._stock: dict[tuple[int, int], dict[str, Any]] = {}  # (article_id, warehouse index) -> record
        self._stock_keys: list[tuple[datetime, int, int]] = []
        self._next_article_id = 1
        self._customers: list[dict[str, Any]] = []
        self._orders: list[dict[str, Any]] = []
        # 1.1: credit notes, cancellation reasons (order id -> reason), the order-change clock
        self._credit_notes: list[dict[str, Any]] = []
        self._cancel_reasons: dict[int, str] = {}
        self._last_order_change: datetime | None = None
        self._seed(articles, random.Random(seed))

    # ---- seed data -----------------------------------------------------------------------------------------

    def _seed(self, count: int, rng: random.Random) -> None:
        """Build the catalog in one pass and sort the key lists once (fast for 50k articles)."""
        now = _now().replace(microsecond=0)
        span = 30 * 24 * 3600
        width = max(5, len(str(count)))
        for i in range(1, count + 1):
            name, (lo, hi), vat, weight = rng.choice(_PRODUCTS)
            variant = rng.choice(_VARIANTS)
            full = f"{name} {variant}".strip()
            price = Decimal(rng.randint(lo, hi)) + rng.choice((Decimal("0.90"), Decimal("0.50"), Decimal("0.00"),
                                                               Decimal("0.95")))
            updated = now - timedelta(seconds=rng.randrange(span))
            record = {
                "id": i,
                "code": f"ART-{i:0{width}d}",
                "ean": None if rng.random() < 0.03 else ean13("76" + f"{rng.randrange(10**10):010d}"),
                "name": full,
                "description": f"<p>{full}. {rng.choice(_BLURBS)}</p><p>Art.-Nr. {i}</p>",
                "short_description": rng.choice(_BLURBS),
                "price_gross": str(price.quantize(CENT)),
                "vat_code": vat,
                "vat_rate": self.vat_rates[vat],
                "currency": CURRENCY,
                "unit": "pz",
                "weight_kg": None if weight is None else f"{rng.uniform(*weight):.3f}",
                "active": rng.random() >= 0.02,
                "updated_at": updated,
            }
            self._articles[i] = record
            self._by_code[record["code"]] = i
            self._art_keys.append((updated, i))
            for w, wh in enumerate(self.warehouses):
                roll = rng.random()
                avail = 0 if roll < 0.15 else -rng.randint(1, 3) if roll < 0.17 else rng.randint(1, 50)
                s_updated = now - timedelta(seconds=rng.randrange(span))
                self._stock[(i, w)] = {"article_id": i, "article_code": record["code"], "warehouse_id": wh,
                                       "available": str(avail), "updated_at": s_updated}
                self._stock_keys.append((s_updated, i, w))
        self._next_article_id = count + 1
        self._art_keys.sort()
        self._stock_keys.sort()

    # ---- wire shaping & ordered-index maintenance (call with the lock held) --------------------------------

    @staticmethod
    def _wire(record: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(record)
        if isinstance(out.get("updated_at"), datetime):
            out["updated_at"] = _ts(out["updated_at"])
        return out

    def _art_key(self, article_id: int) -> tuple[datetime, int]:
        return (self._articles[article_id]["updated_at"], article_id)

    @staticmethod
    def _remove_key(keys: list, key: tuple) -> None:
        i = bisect.bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            del keys[i]

    def _set_article_time(self, article_id: int, when: datetime) -> None:
        self._remove_key(self._art_keys, self._art_key(article_id))
        self._articles[article_id]["updated_at"] = when
        bisect.insort(self._art_keys, (when, article_id))

    def _set_stock(self, article_id: int, w: int, available: str, when: datetime) -> None:
        row = self._stock.get((article_id, w))
        if row is not None:
            self._remove_key(self._stock_keys, (row["updated_at"], article_id, w))
        code = self._articles[article_id].get("code")
        self._stock[(article_id, w)] = {"article_id": article_id, "article_code": code,
                                        "warehouse_id": self.warehouses[w], "available": available,
                                        "updated_at": when}
        bisect.insort(self._stock_keys, (when, article_id, w))

    def _drop_article(self, article_id: int) -> None:
        record = self._articles.pop(article_id)
        self._remove_key(self._art_keys, (record["updated_at"], article_id))
        code = record.get("code")
        if isinstance(code, str) and self._by_code.get(code) == article_id:
            del self._by_code[code]
        for w in range(len(self.warehouses)):
            row = self._stock.pop((article_id, w), None)
            if row is not None:
                self._remove_key(self._stock_keys, (row["updated_at"], article_id, w))

    # ---- persistence (``tgflow dev --keep``) ----------------------------------------------------------------

    #: What survives a restart: the catalog, stock, customers and orders. Tokens, faults and stats do not.
    _PERSISTED = ("_articles", "_by_code", "_art_keys", "_stock", "_stock_keys", "_next_article_id", "_customers",
                  "_orders", "_credit_notes", "_cancel_reasons", "_last_order_change")

    def state(self) -> dict[str, Any]:
        """A deep copy of the persisted state (picklable), for :meth:`restore`."""
        with self._lock:
            return copy.deepcopy({name: getattr(self, name) for name in self._PERSISTED})

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            for name in self._PERSISTED:
                if name in state:  # a state saved before a field existed keeps that field's fresh value
                    setattr(self, name, copy.deepcopy(state[name]))

    # ---- public state API (thread-safe) --------------------------------------------------------------------

    def orders(self) -> list[dict]:
        """TotalGest orders received, as GET would return them."""
        with self._lock:
            return copy.deepcopy(self._orders)

    def customers(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._customers)

    def credit_notes(self) -> list[dict]:
        """Credit notes issued, as GET would return them."""
        with self._lock:
            return copy.deepcopy(self._credit_notes)

    def cancel_reason(self, order_id: int) -> str | None:
        with self._lock:
            return self._cancel_reasons.get(order_id)

    def invoice_order(self, order_id: int) -> dict:
        """The back office invoices an open order (status ``invoiced``, an FA- number); idempotent."""
        with self._lock:
            order = self._admin_order(order_id)
            self._invoice(order)
            return copy.deepcopy(order)

    def ship_order(self, order_id: int, *, carrier: str = "Swiss Post", tracking_number: str | None = None,
                   tracking_url: str | None = None, shipped_at: str | None = None,
                   lines: list[dict[str, Any]] | None = None) -> dict:
        """The warehouse ships one parcel: all that is left (``lines`` None) or the given
        ``[{"article_code", "quantity"}]``. Invoices an open order first; the order becomes
        ``shipped`` when its last line ships and stays ``invoiced`` until then."""
        when = _parse_dt(shipped_at) if shipped_at is not None else None
        if shipped_at is not None and when is None:
            raise ValueError("shipped_at must be RFC 3339 with offset")
        with self._lock:
            order = self._admin_order(order_id)
            left = self._left_to_ship(order)
            if lines is None:
                parcel = {code: qty for code, qty in left.items() if qty > 0}
            else:
                parcel = {}
                for line in lines:
                    code, qty = str(line["article_code"]), _dec(str(line["quantity"]))
                    if qty is None or qty <= 0:
                        raise ValueError(f"quantity of {code} must be a positive decimal string")
                    parcel[code] = parcel.get(code, Decimal(0)) + qty
            for code, qty in parcel.items():
                if qty > left.get(code, Decimal(0)):
                    raise ValueError(f"{code}: {qty} is more than the {left.get(code, Decimal(0))} left to ship")
            if not parcel:
                raise ValueError(f"order {order['number']} has nothing left to ship")
            self._invoice(order)
            shipments = order.setdefault("shipments", [])
            seq = sum(len(o.get("shipments", [])) for o in self._orders) + 1
            number = tracking_number or f"99.00.{100000 + order_id}.{10000000 + seq}"
            shipments.append({
                "id": seq, "carrier": carrier, "tracking_number": number, "tracking_url": tracking_url,
                "shipped_at": _ts(when or _now()),
                "lines": [{"article_code": code, "quantity": str(qty)} for code, qty in parcel.items()],
            })
            if all(qty <= 0 for qty in self._left_to_ship(order).values()):
                order["status"] = "shipped"
            self._changed(order)
            return copy.deepcopy(order)

    def ship_some(self, rng: random.Random) -> dict | None:
        """Demo traffic: the warehouse ships one parcel of an order not fully shipped (an open order's first
        parcel carries its first line only when it has several, so some orders ship in two parcels)."""
        with self._lock:
            candidates = [o["id"] for o in self._orders if o.get("status", "open") in ("open", "invoiced")]
        if not candidates:
            return None
        order_id = rng.choice(candidates)
        with self._lock:
            order = next(o for o in self._orders if o["id"] == order_id)
            first = order["lines"][0] if len(order["lines"]) > 1 and not order.get("shipments") else None
        lines = [{"article_code": first["article_code"], "quantity": first["quantity"]}] if first else None
        try:
            return self.ship_order(order_id, carrier=rng.choice(["Swiss Post", "DHL", "DPD"]), lines=lines)
        except ValueError:  # cancelled or shipped meanwhile
            return None

    def start_demo_shipping(self, every_seconds: float = 20.0, seed: int = 7) -> None:
        """Ship a parcel every N seconds (``tgflow dev``'s demo traffic) until ``stop_demo_shipping``."""
        self.stop_demo_shipping()
        self._ship_stop = stop = threading.Event()
        rng = random.Random(seed)

        def run() -> None:
            while not stop.wait(every_seconds):
                self.ship_some(rng)

        threading.Thread(target=run, daemon=True, name="tg-demo-shipping").start()

    def stop_demo_shipping(self) -> None:
        stop = getattr(self, "_ship_stop", None)
        if stop is not None:
            stop.set()

    def _admin_order(self, order_id: int) -> dict[str, Any]:
        order = next((o for o in self._orders if o["id"] == order_id), None)
        if order is None:
            raise KeyError(f"no order {order_id}")
        if order.get("status") == "cancelled":
            raise ValueError(f"order {order['number']} is cancelled")
        return order

    def _invoice(self, order: dict[str, Any]) -> None:
        if order.get("status", "open") != "open":
            return
        seq = sum(1 for o in self._orders if o.get("invoice_number")) + 1
        order["status"] = "invoiced"
        order["invoice_number"] = f"FA-{_now().year}-{seq:05d}"
        self._changed(order)

    @staticmethod
    def _left_to_ship(order: dict[str, Any]) -> dict[str, Decimal]:
        left: dict[str, Decimal] = {}
        for line in order["lines"]:
            left[line["article_code"]] = left.get(line["article_code"], Decimal(0)) + Decimal(line["quantity"])
        for shipment in order.get("shipments", []):
            for line in shipment["lines"]:
                left[line["article_code"]] = left.get(line["article_code"], Decimal(0)) - Decimal(line["quantity"])
        return left

    def article_codes(self, limit: int | None = None) -> list[str]:
        """Codes of the catalog in id order (the Framework360 simulator's orders use them as SKUs)."""
        with self._lock:
            ids = sorted(self._articles)[:limit]
            return [self._articles[i]["code"] for i in ids]

    def article(self, code: str) -> dict | None:
        with self._lock:
            article_id = self._by_code.get(code)
            return None if article_id is None else self._wire(self._articles[article_id])

    def touch_articles(self, codes: list[str], **changes: Any) -> None:
        """Apply field changes (price_gross="12.50", active=False, ...) and bump updated_at to now."""
        changes = {k: str(v) if isinstance(v, Decimal) else v for k, v in changes.items() if k != "updated_at"}
        with self._lock:
            missing = [c for c in codes if c not in self._by_code]
            if missing:
                raise KeyError(f"unknown article code(s) {missing}")
            for code in codes:
                article_id = self._by_code[code]
                record = self._articles[article_id]
                if "code" in changes and changes["code"] != code:
                    del self._by_code[code]
                    if isinstance(changes["code"], str) and changes["code"]:
                        self._by_code[changes["code"]] = article_id
                record.update(changes)
                self._set_article_time(article_id, _now())
                if "code" in changes:
                    for w in range(len(self.warehouses)):
                        if (article_id, w) in self._stock:
                            self._stock[(article_id, w)]["article_code"] = changes["code"]

    def upsert_article(self, article: dict) -> dict:
        """Raw insert/replace (bad data allowed); matched by code, else id; assigns id/updated_at if missing."""
        record = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in copy.deepcopy(article).items()}
        code = record.get("code")
        with self._lock:
            existing = self._by_code.get(code) if isinstance(code, str) and code else None
            if existing is None and type(record.get("id")) is int and record["id"] in self._articles:
                existing = record["id"]
            if existing is not None and type(record.get("id")) is not int:
                record["id"] = existing
            if type(record.get("id")) is not int:
                record["id"] = self._next_article_id
            self._next_article_id = max(self._next_article_id, record["id"] + 1)
            updated = record.get("updated_at")
            record["updated_at"] = (updated.astimezone(timezone.utc) if isinstance(updated, datetime)
                                    and updated.tzinfo else _parse_dt(updated) or _now())
            stock_rows = {}
            if existing is not None:
                stock_rows = {w: self._stock[(existing, w)]["available"] for w in range(len(self.warehouses))
                              if (existing, w) in self._stock}
                self._drop_article(existing)
            if record["id"] in self._articles:   # replacing by code onto another article's id
                self._drop_article(record["id"])
            self._articles[record["id"]] = record
            bisect.insort(self._art_keys, (record["updated_at"], record["id"]))
            if isinstance(code, str) and code:
                self._by_code[code] = record["id"]
            for w, available in stock_rows.items():
                self._set_stock(record["id"], w, available, _now())
            return self._wire(record)

    def delete_article(self, code: str) -> None:
        """Gone from listings, with its stock rows."""
        with self._lock:
            article_id = self._by_code.get(code)
            if article_id is None:
                raise KeyError(f"unknown article code {code!r}")
            self._drop_article(article_id)

    def set_stock(self, article_code: str, warehouse_id: str, available: str) -> None:
        """Set one stock row (created if absent) and bump its updated_at."""
        if warehouse_id not in self.warehouses:
            raise ValueError(f"unknown warehouse {warehouse_id!r}; known: {self.warehouses}")
        value = str(available)
        if _dec(value) is None:
            raise ValueError(f"available must be a decimal string, got {available!r}")
        with self._lock:
            article_id = self._by_code.get(article_code)
            if article_id is None:
                raise KeyError(f"unknown article code {article_code!r}")
            self._set_stock(article_id, self.warehouses.index(warehouse_id), value, _now())

    def sellable(self, article_code: str, warehouses: list[str] | None = None) -> Decimal:
        """Sum of available over the warehouses (all by default), each negative row counted as 0."""
        wanted = self.warehouses if warehouses is None else warehouses
        with self._lock:
            article_id = self._by_code.get(article_code)
            if article_id is None:
                return Decimal(0)
            total = Decimal(0)
            for w, wh in enumerate(self.warehouses):
                row = self._stock.get((article_id, w))
                if wh in wanted and row is not None:
                    total += max(Decimal(row["available"]), Decimal(0))
            return total

    def set_faults(self, **faults: float) -> None:
        """Replace the fault set (error_rate, error_after_commit_rate, timeout_rate, timeout_seconds,
        rate_limit_burst, rate_limit_rate, retry_after_seconds, slow_ms, token_ttl_seconds); no args clears all."""
        seed = faults.pop("seed", None)  # a fresh random stream for the faults (runs that differ)
        unknown = set(faults) - set(_FAULT_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(_FAULT_DEFAULTS)}")
        merged = dict(_FAULT_DEFAULTS)
        merged.update({k: float(v) for k, v in faults.items() if v is not None})
        for name in ("error_rate", "error_after_commit_rate", "timeout_rate", "rate_limit_rate"):
            if not 0.0 <= merged[name] <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        with self._lock:
            self._faults = merged
            self._burst_left = int(merged["rate_limit_burst"])
            if seed is not None:
                self._fault_rng = random.Random(int(seed))

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 401 token_expired."""
        with self._lock:
            self._tokens = {t: (shop, 0.0) for t, (shop, _) in self._tokens.items()}

    @staticmethod
    def _empty_stats() -> dict[str, Any]:
        return {"total": 0, "by_route": Counter(), "by_status": Counter(), "logins": 0}

    def stats(self) -> dict:
        """Request counts since the last reset; ``logins`` counts tokens issued."""
        with self._lock:
            return {"total": self._stats["total"], "by_route": dict(self._stats["by_route"]),
                    "by_status": dict(self._stats["by_status"]), "logins": self._stats["logins"]}

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = self._empty_stats()

    # ---- request-side helpers (called by the app) ----------------------------------------------------------

    def _decide_fault(self) -> tuple[str, float] | None:
        """('rate_limit', retry_after) | ('error', status) | ('timeout', seconds) | None; slow_ms is separate."""
        with self._lock:
            f = self._faults
            if self._burst_left > 0:
                self._burst_left -= 1
                return ("rate_limit", f["retry_after_seconds"])
            if f["rate_limit_rate"] and self._fault_rng.random() < f["rate_limit_rate"]:
                return ("rate_limit", f["retry_after_seconds"])
            if f["error_rate"] and self._fault_rng.random() < f["error_rate"]:
                return ("error", float(self._fault_rng.choice([500, 503])))
            if f["timeout_rate"] and self._fault_rng.random() < f["timeout_rate"]:
                return ("timeout", f["timeout_seconds"])
            return None

    def _slow_seconds(self) -> float:
        with self._lock:
            return self._faults["slow_ms"] / 1000

    def _lose_response(self) -> bool:
        with self._lock:
            rate = self._faults["error_after_commit_rate"]
            return bool(rate) and self._fault_rng.random() < rate

    def _count(self, route: str, status: int) -> None:
        with self._lock:
            self._stats["total"] += 1
            self._stats["by_route"][route] += 1
            self._stats["by_status"][str(status)] += 1

    def _login(self, body: dict[str, Any]) -> dict[str, Any]:
        shop, owner, user, pw = (str(body.get(k, "")) for k in ("shop_id", "owner_id", "username", "password"))
        if shop != self.shop_id:
            raise _ApiError(404, "unknown_shop", f"no shop with id {shop!r}")
        if not (secrets.compare_digest(owner, self.owner_id) and secrets.compare_digest(user, self.username)
                and secrets.compare_digest(pw.encode(), self.password.encode())):
            raise _ApiError(401, "invalid_credentials", "wrong username/password or owner not allowed on this shop")
        with self._lock:
            ttl = float(self._faults["token_ttl_seconds"] or self.token_ttl_seconds)
            token = secrets.token_urlsafe(24)
            self._tokens[token] = (shop, time.monotonic() + ttl)
            self._stats["logins"] += 1
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(ttl)}

    def _authorize(self, header: str, path_shop: str | None) -> None:
        scheme, _, token = header.partition(" ")
        with self._lock:
            entry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None:
            raise _ApiError(401, "invalid_token", "missing or unknown bearer token")
        shop, expires = entry
        if time.monotonic() >= expires:
            raise _ApiError(401, "token_expired", "the access token has expired; log in again")
        if path_shop is not None and path_shop != shop:
            raise _ApiError(403, "forbidden", "the token is not valid for this shop")

    def _page(self, kind: str, since: datetime | None, cursor: str | None, limit: int) -> dict[str, Any]:
        """One page ordered by (updated_at, id): bisect to the start, slice, shape."""
        with self._lock:
            keys: list = self._art_keys if kind == "articles" else self._stock_keys
            width = 2 if kind == "articles" else 3
            start = 0
            if since is not None:
                start = bisect.bisect_left(keys, (since,))
            if cursor is not None:
                start = max(start, bisect.bisect_right(keys, _decode_cursor(cursor, width)))
            chunk = keys[start:start + limit]
            if kind == "articles":
                items = [self._wire(self._articles[k[1]]) for k in chunk]
            else:
                items = [self._wire(self._stock[(k[1], k[2])]) for k in chunk]
            more = start + limit < len(keys)
            return {"items": items, "next_cursor": _encode_cursor(chunk[-1]) if more and chunk else None}

    def _find_customers(self, email: str) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._customers if str(c.get("email", "")).lower() == email.lower()]

    def _create_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        problems: list[dict[str, str]] = []
        email = body.get("email")
        if not isinstance(email, str) or "@" not in email:
            problems.append({"field": "email", "message": "required e-mail address"})
        problems += _address_problems(body.get("billing"), "billing")
        if body.get("shipping") is not None:
            problems += _address_problems(body["shipping"], "shipping")
        vat_number = body.get("vat_number")
        if vat_number is not None and not isinstance(vat_number, str):
            problems.append({"field": "vat_number", "message": "must be a string or null"})
        if problems:
            raise _ApiError(422, "validation_error", "customer not acceptable", problems)
        with self._lock:
            customer = {**copy.deepcopy(body), "id": len(self._customers) + 1}
            self._customers.append(customer)
            return copy.deepcopy(customer)

    def _find_orders(self, external_ref: str) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(o) for o in self._orders if o.get("external_ref") == external_ref]

    def _get_order(self, order_id: int) -> dict | None:
        with self._lock:
            found = next((o for o in self._orders if o["id"] == order_id), None)
            return copy.deepcopy(found) if found else None

    def _order_problems(self, body: dict[str, Any]) -> list[dict[str, str]]:
        """Every reason the order is not acceptable, one entry per problem (call with the lock held)."""
        problems: list[dict[str, str]] = []

        def bad(field: str, message: str) -> None:
            problems.append({"field": field, "message": message})

        if not isinstance(body.get("external_ref"), str) or not body["external_ref"].strip():
            bad("external_ref", "required non-empty string")
        if _parse_dt(body.get("order_date")) is None:
            bad("order_date", "required RFC 3339 date-time with offset")
        customer_id = body.get("customer_id")
        if type(customer_id) is not int:
            bad("customer_id", "required integer")
        elif not any(c["id"] == customer_id for c in self._customers):
            bad("customer_id", f"unknown customer {customer_id}")
        if body.get("currency") != CURRENCY:
            bad("currency", f"must be the shop currency {CURRENCY}")
        if body.get("payment_method") not in PAYMENT_METHODS:
            bad("payment_method", f"unknown payment method {body.get('payment_method')!r}; "
                                  f"known: {', '.join(PAYMENT_METHODS)}")
        problems += _address_problems(body.get("billing"), "billing")
        problems += _address_problems(body.get("shipping"), "shipping")
        if body.get("notes") is not None and not isinstance(body["notes"], str):
            bad("notes", "must be a string or null")
        rates = {Decimal(r) for r in self.vat_rates.values()}
        lines = body.get("lines")
        expected: Decimal | None = Decimal(0)
        if not isinstance(lines, list) or not lines:
            bad("lines", "at least one line is required")
            expected = None
        else:
            for i, line in enumerate(lines):
                at = f"lines[{i}]"
                if not isinstance(line, dict):
                    bad(at, "must be an object")
                    expected = None
                    continue
                code = line.get("article_code")
                if not isinstance(code, str) or code not in self._by_code:
                    bad(f"{at}.article_code", f"unknown article code {code!r}")
                if line.get("description") is not None and not isinstance(line["description"], str):
                    bad(f"{at}.description", "must be a string")
                qty, price = _dec(line.get("quantity")), _dec(line.get("unit_price_gross"))
                discount = _dec(line.get("discount_gross", "0"))
                if qty is None or qty <= 0:
                    bad(f"{at}.quantity", "required positive decimal string")
                if price is None or price < 0:
                    bad(f"{at}.unit_price_gross", "required non-negative decimal string")
                if discount is None or discount < 0:
                    bad(f"{at}.discount_gross", "must be a non-negative decimal string")
                rate = _dec(line.get("vat_rate"))
                if rate is None or rate not in rates:
                    bad(f"{at}.vat_rate", f"unknown VAT rate {line.get('vat_rate')!r}; "
                                          f"known: {', '.join(self.vat_rates.values())}")
                if qty is None or price is None or discount is None or expected is None:
                    expected = None
                else:
                    expected += qty * price - discount
        shipping = _dec(body.get("shipping_gross", "0"))
        if shipping is None or shipping < 0:
            bad("shipping_gross", "must be a non-negative decimal string")
            expected = None
        total = _dec(body.get("total_gross"))
        if total is None:
            bad("total_gross", "required decimal string")
        elif expected is not None and shipping is not None:
            want = (expected + shipping).quantize(CENT, rounding=ROUND_HALF_UP)
            if total != want:
                bad("total_gross", f"total does not add up: expected {want}, received {body['total_gross']}")
        return problems

    def _create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            problems = self._order_problems(body)
            if problems:
                raise _ApiError(422, "validation_error", f"order not acceptable ({len(problems)} problem(s))",
                                problems)
            order = copy.deepcopy(body)
            order.setdefault("shipping_gross", "0")
            for line in order["lines"]:
                line.setdefault("discount_gross", "0")
            now = self._order_tick()
            seq = len(self._orders) + 1
            order.update({"id": seq, "number": f"OV-{now.year}-{seq:05d}", "created_at": _ts(now),
                          "updated_at": _ts(now), "status": "open", "invoice_number": None, "shipments": []})
            self._orders.append(order)
            return copy.deepcopy(order)

    # ---- 1.1: the order's life after registration (call the _ helpers with the lock held) ----------------------

    def _order_tick(self) -> datetime:
        """Strictly increasing change time, so (updated_at, id) cursors never skip a change."""
        now = _now()
        if self._last_order_change is not None and now <= self._last_order_change:
            now = self._last_order_change + timedelta(microseconds=1)
        self._last_order_change = now
        return now

    def _order_ref(self, order_id: int) -> dict[str, Any]:
        found = next((o for o in self._orders if o["id"] == order_id), None)
        if found is None:
            raise _ApiError(404, "not_found", f"no order {order_id}")
        return found

    @staticmethod
    def _change_key(order: dict[str, Any]) -> tuple[datetime, int]:
        when = _parse_dt(order.get("updated_at") or order.get("created_at"))
        return (when or datetime.min.replace(tzinfo=timezone.utc), order["id"])

    def _order_changes(self, since: datetime | None, cursor: str | None, limit: int) -> dict[str, Any]:
        """A page of orders by (updated_at, id); creation counts as the first change."""
        after = _decode_cursor(cursor, 2) if cursor is not None else None
        with self._lock:
            keyed = sorted((self._change_key(o), i) for i, o in enumerate(self._orders))
            hits = [(k, i) for k, i in keyed
                    if (since is None or k[0] >= since) and (after is None or k > after)]
            chunk = hits[:limit]
            items = [copy.deepcopy(self._orders[i]) for _, i in chunk]
            more = len(hits) > limit
            return {"items": items, "next_cursor": _encode_cursor(chunk[-1][0]) if more and chunk else None}

    def _changed(self, order: dict[str, Any]) -> None:
        order["updated_at"] = _ts(self._order_tick())

    def _cancel_order(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise _bad("reason is required (a non-empty string)")
        with self._lock:
            order = self._order_ref(order_id)
            status = order.get("status", "open")
            if status in ("invoiced", "shipped"):
                raise _ApiError(409, "not_cancellable",
                                f"order {order['number']} is {status} (invoice {order.get('invoice_number')}); "
                                "issue a credit note instead")
            if status == "open":
                order["status"] = "cancelled"
                self._cancel_reasons[order_id] = reason
                self._changed(order)
            return copy.deepcopy(order)

    def _find_credit_notes(self, external_ref: str) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(n) for n in self._credit_notes if n.get("external_ref") == external_ref]

    def _left_to_credit(self, order: dict[str, Any]) -> Decimal:
        if order.get("status") == "cancelled":
            return Decimal(0)
        credited = sum((Decimal(n["total_gross"]) for n in self._credit_notes if n["order_id"] == order["id"]),
                       Decimal(0))
        return Decimal(order["total_gross"]) - credited

    def _create_credit_note(self, body: dict[str, Any]) -> dict[str, Any]:
        problems: list[dict[str, str]] = []

        def bad(field: str, message: str) -> None:
            problems.append({"field": field, "message": message})

        with self._lock:
            order_id = body.get("order_id")
            if type(order_id) is not int:
                raise _ApiError(422, "validation_error", "credit note not acceptable",
                                [{"field": "order_id", "message": "required integer"}])
            order = self._order_ref(order_id)
            if not isinstance(body.get("external_ref"), str) or not body["external_ref"].strip():
                bad("external_ref", "required non-empty string")
            if not isinstance(body.get("reason"), str):
                bad("reason", "required string")
            if not isinstance(body.get("restock"), bool):
                bad("restock", "required boolean")
            rates = {Decimal(r) for r in self.vat_rates.values()}
            ordered_codes = {line["article_code"] for line in order["lines"]}
            lines = body.get("lines")
            expected: Decimal | None = Decimal(0)
            if not isinstance(lines, list) or not lines:
                bad("lines", "at least one line is required")
                expected = None
                lines = []
            for i, line in enumerate(lines):
                at = f"lines[{i}]"
                if not isinstance(line, dict):
                    bad(at, "must be an object")
                    expected = None
                    continue
                code = line.get("article_code")
                if code is not None and code not in ordered_codes:
                    bad(f"{at}.article_code", f"article {code!r} is not on order {order['number']}")
                qty, amount, rate = (_dec(line.get(k)) for k in ("quantity", "amount_gross", "vat_rate"))
                if qty is None or qty <= 0:
                    bad(f"{at}.quantity", "required positive decimal string")
                if amount is None or amount < 0:
                    bad(f"{at}.amount_gross", "required non-negative decimal string")
                if rate is None or rate not in rates:
                    bad(f"{at}.vat_rate", f"unknown VAT rate {line.get('vat_rate')!r}; "
                                          f"known: {', '.join(self.vat_rates.values())}")
                expected = None if amount is None or expected is None else expected + amount
            total = _dec(body.get("total_gross"))
            if total is None or total <= 0:
                bad("total_gross", "required positive decimal string")
            else:
                if expected is not None and total != expected.quantize(CENT, rounding=ROUND_HALF_UP):
                    bad("total_gross", f"total does not add up: expected {expected.quantize(CENT)}, "
                                       f"received {body['total_gross']}")
                left = self._left_to_credit(order)
                if total > left:
                    bad("total_gross", f"exceeds what order {order['number']} has left to credit: "
                                       f"{left.quantize(CENT)} {order.get('currency', CURRENCY)}")
            if problems:
                raise _ApiError(422, "validation_error",
                                f"credit note not acceptable ({len(problems)} problem(s))", problems)
            now = _now()
            seq = len(self._credit_notes) + 1
            note = {key: copy.deepcopy(body[key]) for key in
                    ("order_id", "external_ref", "reason", "lines", "total_gross", "restock")}
            note.update({"id": seq, "number": f"NC-{now.year}-{seq:05d}", "created_at": _ts(now)})
            self._credit_notes.append(note)
            if note["restock"]:
                main = self.warehouses.index("MAIN")
                for line in note["lines"]:
                    article_id = self._by_code.get(line.get("article_code") or "")
                    if article_id is not None:
                        row = self._stock.get((article_id, main))
                        before = Decimal(row["available"]) if row else Decimal(0)
                        self._set_stock(article_id, main, str(before + Decimal(line["quantity"])), now)
            return copy.deepcopy(note)


# ---- HTTP layer ----------------------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


async def _json_obj(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise _bad("body must be JSON") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


def _limit(request: Request, bounds: tuple[int, int]) -> int:
    default, top = bounds
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad("limit must be an integer") from None
    if not 1 <= value <= top:
        raise _bad(f"limit must be within 1..{top}")
    return value


def _since(request: Request) -> datetime | None:
    raw = request.query_params.get("updated_since")
    if raw is None:
        return None
    parsed = _parse_dt(raw)
    if parsed is None:
        raise _bad("updated_since must be RFC 3339 with offset")
    return parsed


def _required_query(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None or value == "":
        raise _bad(f"query parameter {name} is required")
    return value


def create_app(sim: TotalGestSim) -> Starlette:
    """The contract under /api/v1 (faults, auth, stats) plus the /_admin control surface."""

    def api(method: str | None, path: str, handler: Handler, *, auth: bool = True) -> Route:
        route_key = f"{method or '*'} {path.replace(':int', '')}"

        async def endpoint(request: Request) -> Response:
            response = await guarded(request)
            sim._count(route_key, response.status_code)
            return response

        async def guarded(request: Request) -> Response:
            slow = sim._slow_seconds()
            if slow > 0:
                await asyncio.sleep(slow)
            fault = sim._decide_fault()
            if fault is not None:
                kind, value = fault
                if kind == "rate_limit":
                    return _error(429, "rate_limited", "too many requests",
                                  headers={"Retry-After": str(max(0, round(value)))})
                if kind == "error":
                    if value == 503:
                        return _error(503, "unavailable", "injected fault: unavailable", {"Retry-After": "1"})
                    return _error(500, "server_error", "injected fault: server error")
                await asyncio.sleep(value)
            try:
                if auth:
                    sim._authorize(request.headers.get("authorization", ""), request.path_params.get("shop_id"))
                response = await handler(request)
            except _ApiError as exc:
                return _error(exc.status, exc.code, exc.message, details=exc.details)
            if route_key in _COMMIT_ROUTES and response.status_code < 300 and sim._lose_response():
                return _error(500, "server_error", "injected fault: response lost after commit")
            return response

        methods = [method] if method else ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        return Route(path, endpoint, methods=methods)

    async def login(request: Request) -> Response:
        return JSONResponse(sim._login(await _json_obj(request)))

    async def get_shop(request: Request) -> Response:
        return JSONResponse({"id": sim.shop_id, "name": SHOP_NAME, "currency": CURRENCY})

    async def list_articles(request: Request) -> Response:
        return JSONResponse(sim._page("articles", _since(request), request.query_params.get("cursor"),
                                      _limit(request, ARTICLE_LIMIT)))

    async def list_stock(request: Request) -> Response:
        return JSONResponse(sim._page("stock", _since(request), request.query_params.get("cursor"),
                                      _limit(request, STOCK_LIMIT)))

    async def vat_codes(request: Request) -> Response:
        return JSONResponse([{"code": c, "rate": r, "label": label} for c, (r, label) in VAT_CODES.items()])

    async def payment_methods(request: Request) -> Response:
        return JSONResponse([{"code": c, "label": label} for c, label in PAYMENT_METHODS.items()])

    async def find_customers(request: Request) -> Response:
        return JSONResponse(sim._find_customers(_required_query(request, "email")))

    async def create_customer(request: Request) -> Response:
        return JSONResponse(sim._create_customer(await _json_obj(request)), status_code=201)

    async def find_orders(request: Request) -> Response:
        return JSONResponse(sim._find_orders(_required_query(request, "external_ref")))

    async def create_order(request: Request) -> Response:
        return JSONResponse(sim._create_order(await _json_obj(request)), status_code=201)

    async def get_order(request: Request) -> Response:
        order = sim._get_order(request.path_params["order_id"])
        return JSONResponse(order) if order else _error(404, "not_found", "no such order")

    async def order_changes(request: Request) -> Response:
        return JSONResponse(sim._order_changes(_since(request), request.query_params.get("cursor"),
                                               _limit(request, ORDER_CHANGES_LIMIT)))

    async def cancel_order(request: Request) -> Response:
        return JSONResponse(sim._cancel_order(request.path_params["order_id"], await _json_obj(request)))

    async def find_credit_notes(request: Request) -> Response:
        return JSONResponse(sim._find_credit_notes(_required_query(request, "external_ref")))

    async def create_credit_note(request: Request) -> Response:
        return JSONResponse(sim._create_credit_note(await _json_obj(request)), status_code=201)

    async def unknown(request: Request) -> Response:
        return _error(404, "not_found", f"no route {request.method} {request.url.path}")

    shop = "/shops/{shop_id}"
    api_routes = [
        api("POST", "/auth/token", login, auth=False),
        api("GET", shop, get_shop),
        api("GET", f"{shop}/articles", list_articles),
        api("GET", f"{shop}/stock", list_stock),
        api("GET", f"{shop}/vat-codes", vat_codes),
        api("GET", f"{shop}/payment-methods", payment_methods),
        api("GET", f"{shop}/customers", find_customers),
        api("POST", f"{shop}/customers", create_customer),
        api("GET", f"{shop}/orders", find_orders),
        api("POST", f"{shop}/orders", create_order),
        api("GET", f"{shop}/orders/{{order_id:int}}", get_order),
        api("GET", f"{shop}/order-changes", order_changes),
        api("POST", f"{shop}/orders/{{order_id:int}}/cancel", cancel_order),
        api("GET", f"{shop}/credit-notes", find_credit_notes),
        api("POST", f"{shop}/credit-notes", create_credit_note),
        api(None, "/{path:path}", unknown, auth=False),
    ]
    return Starlette(
        routes=[Mount("/api/v1", routes=api_routes), Mount("/_admin", routes=_admin_routes(sim))],
        exception_handlers={HTTPException: _http_error},
    )


def _admin_routes(sim: TotalGestSim) -> list[Route]:
    """No auth, no faults: the test/dev harness's levers, each mirroring a TotalGestSim method."""

    def admin(fn: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                result = await fn(request)
            except _ApiError as exc:
                return _error(exc.status, exc.code, exc.message, details=exc.details)
            except KeyError as exc:
                return _error(404, "not_found", str(exc))
            except (ValueError, TypeError) as exc:
                return _error(400, "bad_request", str(exc))
            if isinstance(result, Response):
                return result
            return JSONResponse(result if result is not None else {"ok": True})
        return endpoint

    async def body_obj(request: Request) -> dict[str, Any]:
        return await _json_obj(request) if (await request.body()).strip() else {}

    async def orders(request: Request) -> Any:
        return sim.orders()

    async def customers(request: Request) -> Any:
        return sim.customers()

    async def article(request: Request) -> Any:
        found = sim.article(request.path_params["code"])
        return found if found else _error(404, "not_found", "no such article")

    async def touch(request: Request) -> Any:
        body = await body_obj(request)
        codes, changes = body.get("codes"), body.get("changes") or {}
        if not isinstance(codes, list) or not isinstance(changes, dict):
            raise TypeError("expected {\"codes\": [...], \"changes\": {...}}")
        sim.touch_articles([str(c) for c in codes], **changes)

    async def upsert(request: Request) -> Any:
        return sim.upsert_article(await body_obj(request))

    async def delete(request: Request) -> Any:
        sim.delete_article(request.path_params["code"])

    async def stock(request: Request) -> Any:
        body = await body_obj(request)
        sim.set_stock(str(body["article_code"]), str(body["warehouse_id"]), str(body["available"]))

    async def faults(request: Request) -> Any:
        sim.set_faults(**(await body_obj(request)))

    async def expire(request: Request) -> Any:
        sim.expire_tokens()

    async def invoice(request: Request) -> Any:
        return sim.invoice_order(request.path_params["order_id"])

    async def ship(request: Request) -> Any:
        body = await body_obj(request)
        unknown = set(body) - {"carrier", "tracking_number", "tracking_url", "shipped_at", "lines"}
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}")
        return sim.ship_order(request.path_params["order_id"], **body)

    async def credit_notes(request: Request) -> Any:
        return sim.credit_notes()

    async def stats(request: Request) -> Any:
        return sim.stats()

    async def stats_reset(request: Request) -> Any:
        sim.reset_stats()

    return [
        Route("/orders", admin(orders), methods=["GET"]),
        Route("/customers", admin(customers), methods=["GET"]),
        Route("/orders/{order_id:int}/invoice", admin(invoice), methods=["POST"]),
        Route("/orders/{order_id:int}/ship", admin(ship), methods=["POST"]),
        Route("/credit-notes", admin(credit_notes), methods=["GET"]),
        Route("/articles/touch", admin(touch), methods=["POST"]),
        Route("/articles", admin(upsert), methods=["POST"]),
        Route("/articles/{code}", admin(article), methods=["GET"]),
        Route("/articles/{code}", admin(delete), methods=["DELETE"]),
        Route("/stock", admin(stock), methods=["POST"]),
        Route("/faults", admin(faults), methods=["PUT"]),
        Route("/expire-tokens", admin(expire), methods=["POST"]),
        Route("/stats", admin(stats), methods=["GET"]),
        Route("/stats/reset", admin(stats_reset), methods=["POST"]),
    ]
