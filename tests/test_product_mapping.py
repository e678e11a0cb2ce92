"""Pure mapping TotalGest article -> Framework360 product: fields, validation, fingerprints, sellable stock."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tgflow.clients.totalgest import Article
from tgflow.mapping.products import (
    CONTENT_FIELDS,
    MappedProduct,
    MappingError,
    changed_fields,
    field_hashes,
    fingerprint,
    map_article,
    reserved_quantities,
    sellable_stock,
)

RATES = [Decimal("8.1"), Decimal("2.6"), Decimal("3.8"), Decimal("0")]


def article(**changes) -> Article:
    data = dict(id=7, code="ART-00007", ean="7612345000074", name="Caffè in grani 1 kg",
                description="<p>Miscela <b>arabica</b></p>", short_description="Arabica 100%",
                price_gross="24.90", vat_code="R", vat_rate="2.6", currency="CHF", active=True,
                updated_at=datetime(2026, 11, 28, 12, tzinfo=timezone.utc))
    data.update(changes)
    return Article(**data)


def test_maps_every_field():
    p = map_article(article(), RATES)
    assert p == MappedProduct(sku="ART-00007", name="Caffè in grani 1 kg", description="<p>Miscela <b>arabica</b></p>",
                              short_description="Arabica 100%", price=Decimal("24.90"), vat_rate=Decimal("2.6"),
                              ean="7612345000074", status="published", manage_stock=True)
    body = p.to_input(5).model_dump(mode="json", exclude_none=True)
    assert body == {"sku": "ART-00007", "name": "Caffè in grani 1 kg", "description": "<p>Miscela <b>arabica</b></p>",
                    "short_description": "Arabica 100%", "price": "24.90", "vat_rate": "2.6",
                    "ean": "7612345000074", "status": "published", "manage_stock": True, "stock_quantity": 5}


def test_inactive_article_becomes_draft_and_blank_texts_become_null():
    p = map_article(article(active=False, ean="  ", short_description="", description=None), RATES)
    assert p.status == "draft"
    assert p.ean is None and p.short_description is None and p.description is None


def test_price_is_rounded_to_cents_and_vat_compared_numerically():
    p = map_article(article(price_gross=" 19.905 ", vat_rate="8.10"), RATES)
    assert p.price == Decimal("19.91")
    assert p.vat_rate == Decimal("8.10")


@pytest.mark.parametrize("changes, sku, words", [
    ({"code": None}, None, "has no code"),
    ({"code": "   "}, None, "has no code"),
    ({"name": ""}, "ART-00007", "name is missing"),
    ({"price_gross": "abc"}, "ART-00007", "price_gross 'abc' is not a number"),
    ({"price_gross": None}, "ART-00007", "is not a number"),
    ({"price_gross": "NaN"}, "ART-00007", "is not a number"),
    ({"price_gross": "-1.00"}, "ART-00007", "negative"),
    ({"vat_rate": "7.7"}, "ART-00007", "vat_rate 7.7 (code R) is not one of the shop's TotalGest VAT rates (0, 2.6, 3.8, 8.1)"),
    ({"vat_rate": "eight"}, "ART-00007", "vat_rate 'eight' is not a number"),
])
def test_unmappable_articles_name_the_reason(changes, sku, words):
    with pytest.raises(MappingError) as info:
        map_article(article(**changes), RATES)
    assert info.value.sku == sku
    assert words in info.value.reason
    if sku is None:
        assert "article 7" in info.value.reason


def test_fingerprint_is_stable_and_ignores_formatting_but_not_content():
    a = map_article(article(), RATES)
    assert fingerprint(a) == fingerprint(map_article(article(price_gross="24.9"), RATES))
    assert fingerprint(a) == fingerprint(MappedProduct.from_json(a.to_json()))
    assert fingerprint(a) != fingerprint(map_article(article(name="Caffè 1 kg"), RATES))
    assert fingerprint(a) != fingerprint(map_article(article(active=False), RATES))


def test_changed_fields_names_only_what_changed():
    old = field_hashes(map_article(article(), RATES))
    new = field_hashes(map_article(article(price_gross="26.00", active=False), RATES))
    assert changed_fields(old, new) == ["price", "status"]
    assert changed_fields(None, new) == list(CONTENT_FIELDS)
    update = map_article(article(price_gross="26.00"), RATES).to_update(12, ["price"], None)
    assert update.model_dump(mode="json", exclude_unset=True) == {"id": 12, "price": "26.00"}
    stock_only = map_article(article(), RATES).to_update(12, (), 3)
    assert stock_only.model_dump(mode="json", exclude_unset=True) == {"id": 12, "stock_quantity": 3}


def test_sellable_stock_sums_configured_warehouses_negative_as_zero_minus_reserved():
    levels = {"MAIN": "10", "SHOP": "-4", "OUTLET": "2.5"}
    assert sellable_stock(levels, None) == 12
    assert sellable_stock(levels, ["MAIN", "SHOP"]) == 10
    assert sellable_stock(levels, ["SHOP"]) == 0
    assert sellable_stock(levels, None, reserved=5) == 7
    assert sellable_stock(levels, ["MAIN"], reserved=50) == 0
    assert sellable_stock({}, None) == 0
    assert sellable_stock({"MAIN": "garbage"}, None) == 0


def test_reserved_quantities_sum_lines_per_sku():
    assert reserved_quantities([("A", 2), ("B", 1), ("A", 3), (None, 9), ("C", 0)]) == {"A": 5, "B": 1}


def test_content_hashes_are_the_stored_formula_from_one_canonicalisation():
    """The import's ``content_hashes`` (one canonicalisation per product) gives exactly what links store: sha256 of
    each field's ``json.dumps`` text (16 hex digits) and of the sorted content, also for non-ASCII text and
    missing fields; a different value would make every stored product look changed."""
    import hashlib
    import json

    from tgflow.mapping.products import content_hashes

    for product in (map_article(article(), RATES),
                    map_article(article(name="Caffè «crema» 1 kg – ☕", short_description=None, ean=None), RATES),
                    map_article(article(description='<p>"quoted"\\n\ttabs</p>', active=False), RATES)):
        content = product.content()
        stored_hashes = {k: hashlib.sha256(json.dumps(v).encode()).hexdigest()[:16] for k, v in content.items()}
        stored_fp = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        assert content_hashes(product) == (stored_hashes, stored_fp)
        assert (field_hashes(product), fingerprint(product)) == (stored_hashes, stored_fp)
