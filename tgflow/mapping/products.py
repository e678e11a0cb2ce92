"""TotalGest article (+ sellable stock) -> Framework360 product. Pure: no I/O.

- ``map_article`` validates and maps one article; bad data raises ``MappingError``
  with a reason naming the field and value (never stops the rest of the import).
- ``field_hashes`` / ``fingerprint`` give a stable hash of the mapped content
  (stock excluded) so an unchanged product is never written, and an update can
  send only the fields that changed.
- ``sellable_stock`` is the stock the shop may sell: the sum of ``available``
  over the configured warehouses (each negative counted as 0) minus the
  quantities of completed shop orders TotalGest does not know yet (``reserved``;
  the import activity computes it, see ``tgflow.activities.products``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

from tgflow.clients.framework360 import ProductInput, ProductUpdate
from tgflow.clients.totalgest import Article

#: Fields of a Framework360 product that the import owns (stock is handled apart).
CONTENT_FIELDS = ("sku", "name", "description", "short_description", "price", "vat_rate", "ean",
                  "status", "manage_stock")
CENT = Decimal("0.01")


class MappingError(ValueError):
    """An article that cannot become a product; ``reason`` says what to fix in TotalGest."""

    def __init__(self, sku: str | None, reason: str) -> None:
        super().__init__(f"{sku or 'article without code'}: {reason}")
        self.sku = sku
        self.reason = reason


@dataclass(frozen=True)
class MappedProduct:
    sku: str
    name: str
    description: str | None
    short_description: str | None
    price: Decimal
    vat_rate: Decimal
    ean: str | None
    status: Literal["published", "draft"]
    manage_stock: bool = True

    def content(self) -> dict[str, str | None]:
        """Canonical text of every content field (what the fingerprint hashes)."""
        out: dict[str, str | None] = {}
        for f in fields(self):
            out[f.name] = _canonical(getattr(self, f.name))
        return out

    def to_json(self) -> str:
        return json.dumps(self.content(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "MappedProduct":
        data = json.loads(text)
        return cls(sku=data["sku"], name=data["name"], description=data.get("description"),
                   short_description=data.get("short_description"), price=Decimal(data["price"]),
                   vat_rate=Decimal(data["vat_rate"]), ean=data.get("ean"), status=data["status"],
                   manage_stock=data.get("manage_stock", "true") == "true")

    def to_input(self, stock_quantity: int) -> ProductInput:
        return ProductInput(sku=self.sku, name=self.name, description=self.description,
                            short_description=self.short_description, price=self.price,
                            vat_rate=self.vat_rate, ean=self.ean, status=self.status,
                            manage_stock=self.manage_stock, stock_quantity=stock_quantity)

    def to_update(self, product_id: int, changed: Iterable[str] = CONTENT_FIELDS,
                  stock_quantity: int | None = None) -> ProductUpdate:
        """An update carrying only ``changed`` fields (and stock when given); unset fields are not sent."""
        values: dict[str, object] = {"id": product_id}
        for name in changed:
            values[name] = getattr(self, name)
        if stock_quantity is not None:
            values["stock_quantity"] = stock_quantity
        return ProductUpdate.model_validate(values)


def _canonical(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def map_article(article: Article, vat_rates: Iterable[Decimal]) -> MappedProduct:
    """Validate one article against the shop's VAT rates and map it; raises ``MappingError``."""
    sku = _text(article.code)
    if sku is None:
        raise MappingError(None, f"TotalGest article {article.id} has no code (the SKU); give it an article code")
    name = _text(article.name)
    if name is None:
        raise MappingError(sku, "name is missing")
    price = _decimal(article.price_gross)
    if price is None:
        raise MappingError(sku, f"price_gross {article.price_gross!r} is not a number")
    if price < 0:
        raise MappingError(sku, f"price_gross {article.price_gross} is negative")
    rate = _decimal(article.vat_rate)
    known = sorted({Decimal(r) for r in vat_rates})
    if rate is None:
        raise MappingError(sku, f"vat_rate {article.vat_rate!r} is not a number")
    if rate not in known:
        listed = ", ".join(_canonical(r) or "" for r in known) or "none"
        raise MappingError(sku, f"vat_rate {article.vat_rate} (code {article.vat_code}) is not one of the shop's "
                                f"TotalGest VAT rates ({listed})")
    return MappedProduct(
        sku=sku,
        name=name,
        description=article.description if article.description and article.description.strip() else None,
        short_description=_text(article.short_description),
        price=price.quantize(CENT, rounding=ROUND_HALF_UP),
        vat_rate=rate,
        ean=_text(article.ean),
        status="published" if article.active else "draft",
        manage_stock=True,
    )


#: ``json.dumps`` of a str (ASCII-escaped, quoted), without the encoder's per-call set-up: the same text.
_json_str = json.encoder.encode_basestring_ascii


def _json_text(value: str | None) -> str:
    return _json_str(value) if isinstance(value, str) else json.dumps(value)


def _field_hash(value: str | None) -> str:
    return hashlib.sha256(_json_text(value).encode()).hexdigest()[:16]


def field_hashes(product: MappedProduct) -> dict[str, str]:
    """A short, stable hash per content field: an update sends only the fields whose hash changed.
    (sha256 of each field's ``json.dumps`` text, first 16 hex digits: stored, so it must never change.)"""
    return {name: _field_hash(value) for name, value in product.content().items()}


def fingerprint(product: MappedProduct) -> str:
    """Stable hash of the mapped content except stock: same fingerprint, nothing to write."""
    return _fingerprint(product.content())


def _fingerprint(content: Mapping[str, str | None]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def content_hashes(product: MappedProduct) -> tuple[dict[str, str], str]:
    """``(field_hashes(product), fingerprint(product))`` from one canonicalisation of the product (the import
    computes both for every article it reads)."""
    texts = {name: _json_text(value) for name, value in product.content().items()}
    hashes = {name: hashlib.sha256(text.encode()).hexdigest()[:16] for name, text in texts.items()}
    # json.dumps(content, sort_keys=True), assembled from the fields' texts (default separators ", " and ": ").
    whole = "{" + ", ".join(f"{_json_str(name)}: {texts[name]}" for name in sorted(texts)) + "}"
    return hashes, hashlib.sha256(whole.encode()).hexdigest()


def changed_fields(old: Mapping[str, str] | None, new: Mapping[str, str]) -> list[str]:
    """Content fields whose hash differs (all of them when nothing was stored)."""
    if not old:
        return list(CONTENT_FIELDS)
    return [name for name in CONTENT_FIELDS if old.get(name) != new.get(name)]


def warehouse_available(levels: Mapping[str, str], warehouses: Iterable[str] | None) -> int:
    """Sum of ``available`` over the configured warehouses (None = all), each negative counted as 0."""
    allowed = None if warehouses is None else set(warehouses)
    total = Decimal(0)
    for warehouse, available in levels.items():
        if allowed is not None and warehouse not in allowed:
            continue
        amount = _decimal(available)
        if amount is None or amount <= 0:
            continue
        total += amount
    return int(total.to_integral_value(rounding=ROUND_FLOOR))


def sellable_stock(levels: Mapping[str, str], warehouses: Iterable[str] | None, reserved: int = 0) -> int:
    """What the shop may sell: warehouse stock minus orders sold but not yet in TotalGest, never below 0."""
    return max(0, warehouse_available(levels, warehouses) - max(0, int(reserved)))


def reserved_quantities(lines: Iterable[tuple[str | None, int | float | Decimal]]) -> dict[str, int]:
    """Sum (sku, quantity) order lines into ``{sku: quantity}``; lines without SKU are ignored."""
    out: dict[str, int] = {}
    for sku, quantity in lines:
        if not sku:
            continue
        qty = int(math.ceil(Decimal(str(quantity))))
        if qty > 0:
            out[sku] = out.get(sku, 0) + qty
    return out
