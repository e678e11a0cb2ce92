"""Pure mapping of shop refunds and cancellations to TotalGest credit notes (money in ``Decimal``, to the cent).

* :func:`split_amount` - an amount split across keys in proportion to weights, by the largest remainder
  method: every part is whole cents and the parts add up exactly to the amount.
* :func:`refund_credit_note` - one Framework360 refund → one credit note: refunded lines by SKU with their
  amounts and VAT rates; what the refund gives back beyond its lines (shipping, goodwill, an amount-only
  refund) split across the order's VAT rates in proportion to their share of the order.
* :func:`cancel_credit_note` - a cancellation TotalGest refused (invoiced or shipped): one credit note for
  everything the order has not had credited yet; goods not shipped come back into stock.

Refusals are :class:`AdjustmentError` whose message is one line naming what to fix.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from tgflow.clients.framework360_models import Order as ShopOrder
from tgflow.clients.framework360_models import Refund
from tgflow.clients.totalgest_models import CreditNote, CreditNoteInput, CreditNoteLine
from tgflow.clients.totalgest_models import Order as TgOrder

CENT = Decimal("0.01")
ZERO = Decimal("0")
K = TypeVar("K", bound=Hashable)


class AdjustmentError(ValueError):
    """The shop's refund or cancellation cannot become a credit note; the message names what to fix."""


def refund_ref(f360_number: str, refund_id: int) -> str:
    """``external_ref`` of a refund's credit note, e.g. ``F360-10042-R7``."""
    return f"{f360_number}-R{refund_id}"


def cancel_ref(f360_number: str) -> str:
    """``external_ref`` of the credit note that replaces a cancellation, e.g. ``F360-10042-C``."""
    return f"{f360_number}-C"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def split_amount(amount: Decimal, weights: Mapping[K, Decimal]) -> dict[K, Decimal]:
    """Split ``amount`` (whole cents) across ``weights``' keys in proportion to the weights.

    Largest remainder method: each key first gets its proportional share rounded down to the cent,
    then the cents left over go one each to the keys with the largest remainders (ties to the key
    listed first). The parts sum exactly to ``amount``; keys whose part is zero are left out.
    A negative amount is split like its absolute value, then negated.
    """
    if amount != amount.quantize(CENT):
        raise AdjustmentError(f"amount {amount} is not in whole cents")
    positive = {k: w for k, w in weights.items() if w > 0}
    if amount == 0:
        return {}
    if not positive:
        raise AdjustmentError(f"cannot split {amount}: nothing to split it across")
    sign = -1 if amount < 0 else 1
    total_cents = int(abs(amount) / CENT)
    total_weight = sum(positive.values(), ZERO)
    floors: dict[K, int] = {}
    remainders: list[tuple[Decimal, int, K]] = []
    for index, (key, weight) in enumerate(positive.items()):
        exact = Decimal(total_cents) * weight / total_weight
        floor = int(exact)  # exact >= 0: int() truncates toward zero = floor
        floors[key] = floor
        remainders.append((exact - floor, -index, key))
    left = total_cents - sum(floors.values())
    for _, _, key in sorted(remainders, key=lambda r: (r[0], r[1]), reverse=True)[:left]:
        floors[key] += 1
    return {k: sign * Decimal(c) * CENT for k, c in floors.items() if c}


def order_vat_weights(order: ShopOrder) -> dict[Decimal, Decimal]:
    """The shop order's goods total per VAT rate (the weights of an amount-only refund), highest rate first."""
    weights: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for line in order.line_items:
        weights[line.vat_rate] += line.total
    return dict(sorted(weights.items(), key=lambda kv: kv[0], reverse=True))


def _amount_lines(parts: Mapping[Decimal, Decimal]) -> list[CreditNoteLine]:
    return [CreditNoteLine(article_code=None, quantity=Decimal("1"), amount_gross=amount, vat_rate=rate)
            for rate, amount in parts.items() if amount > 0]


def refund_credit_note(order: ShopOrder, refund: Refund, tg_order: TgOrder, *, tg_codes: set[str] | None = None,
                       ) -> CreditNoteInput:
    """One shop refund as one credit note on ``tg_order`` (``external_ref`` from order number and refund id)."""
    number = order.number
    codes = tg_codes if tg_codes is not None else {line.article_code for line in tg_order.lines}
    by_id = {line.id: line for line in order.line_items}
    amount = cents(refund.amount)
    if amount <= 0:
        raise AdjustmentError(f"refund {refund.id} of order {number}: amount {refund.amount} is not positive")
    goods: list[CreditNoteLine] = []
    money: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)  # amount-only parts per VAT rate
    for rl in refund.line_items:
        line = by_id.get(rl.line_item_id)
        if line is None:
            raise AdjustmentError(f"refund {refund.id} of order {number} names line item {rl.line_item_id}, "
                                  f"which the order does not have")
        if rl.amount < 0:
            raise AdjustmentError(f"refund {refund.id} of order {number}: line item {rl.line_item_id} has a "
                                  f"negative amount {rl.amount}")
        if not line.sku:
            money[line.vat_rate] += cents(rl.amount)  # a line without an article (gift wrap): money only
            continue
        if line.sku not in codes:
            raise AdjustmentError(f"refund {refund.id} of order {number}: SKU {line.sku} is not on TotalGest "
                                  f"order {tg_order.number}; credit it by hand in TotalGest")
        goods.append(CreditNoteLine(article_code=line.sku, quantity=Decimal(rl.quantity),
                                    amount_gross=cents(rl.amount), vat_rate=line.vat_rate))
    lines_sum = sum((g.amount_gross for g in goods), ZERO) + sum(money.values(), ZERO)
    rest = amount - lines_sum
    if rest > 0:  # shipping, goodwill, or an amount-only refund: across the order's VAT rates
        weights = order_vat_weights(order)
        if not any(w > 0 for w in weights.values()):
            raise AdjustmentError(f"refund {refund.id} of order {number}: the order has no goods to take VAT "
                                  f"rates from")
        for rate, part in split_amount(rest, weights).items():
            money[rate] += part
    elif rest < 0:  # the refund gives back less than its lines are worth: scale the lines down, to the cent
        keyed: dict[int, Decimal] = {i: g.amount_gross for i, g in enumerate(goods)}
        offset = len(goods)
        keyed.update({offset + i: m for i, m in enumerate(money.values())})
        scaled = split_amount(amount, keyed)
        rates = list(money)
        goods = [g.model_copy(update={"amount_gross": scaled.get(i, ZERO)}) for i, g in enumerate(goods)]
        money = defaultdict(lambda: ZERO, {rates[i - offset]: v for i, v in scaled.items() if i >= offset})
    lines = goods + _amount_lines(money)
    total = sum((line.amount_gross for line in lines), ZERO)
    assert total == amount, (total, amount)
    reason = f"Framework360 refund {refund.id} of order {number}"
    if refund.reason:
        reason += f": {refund.reason}"
    return CreditNoteInput(order_id=tg_order.id, external_ref=refund_ref(number, refund.id), reason=reason[:500],
                           lines=lines, total_gross=amount, restock=refund.restock and bool(goods))


def _line_value(qty: Decimal, price: Decimal, discount: Decimal) -> Decimal:
    return qty * price - discount


def cancel_credit_note(tg_order: TgOrder, credited: Sequence[CreditNote], *, f360_number: str,
                       reason: str) -> CreditNoteInput | None:
    """Everything ``tg_order`` has not had credited yet, as one credit note; None when nothing is left.

    Goods not shipped and not credited yet come back into stock (article lines with ``restock``);
    shipped goods are credited as money only (no article code: nothing returns to the warehouse).
    What is left beyond the goods (shipping) is split across the order's VAT rates.
    """
    credited_total = sum((note.total_gross for note in credited), ZERO)
    left = cents(tg_order.total_gross - credited_total)
    if left <= 0:
        return None
    ordered_qty: dict[str, Decimal] = defaultdict(lambda: ZERO)
    ordered_value: dict[str, Decimal] = defaultdict(lambda: ZERO)
    rate_of: dict[str, Decimal] = {}
    for line in tg_order.lines:
        ordered_qty[line.article_code] += line.quantity
        ordered_value[line.article_code] += _line_value(line.quantity, line.unit_price_gross, line.discount_gross)
        rate_of.setdefault(line.article_code, line.vat_rate)
    shipped: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for shipment in tg_order.shipments:
        for sl in shipment.lines:
            shipped[sl.article_code] += sl.quantity
    credited_qty: dict[str, Decimal] = defaultdict(lambda: ZERO)
    credited_value: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for note in credited:
        for cl in note.lines:
            if cl.article_code is not None:
                credited_qty[cl.article_code] += cl.quantity
                credited_value[cl.article_code] += cl.amount_gross
    # Goods still to credit, per article: (code, quantity back in stock, quantity shipped, value left).
    goods: list[tuple[str, Decimal, Decimal, Decimal]] = []
    for code, qty in ordered_qty.items():
        qty_left = qty - credited_qty[code]
        value_left = cents(ordered_value[code] - credited_value[code])
        if qty_left <= 0 or value_left <= 0:
            continue
        back = min(qty_left, max(ZERO, qty - shipped[code] - credited_qty[code]))
        goods.append((code, back, qty_left - back, value_left))
    goods_value = sum((g[3] for g in goods), ZERO)
    values: dict[int, Decimal] = {i: g[3] for i, g in enumerate(goods)}
    if goods_value > left:  # earlier money-only credits used up part of the goods' value: scale down
        values = split_amount(left, values)
    restock = any(g[1] > 0 for g in goods)
    lines: list[CreditNoteLine] = []
    money: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for i, (code, back, kept, _) in enumerate(goods):
        value = values.get(i, ZERO)
        if value <= 0:
            continue
        rate = rate_of[code]
        if not restock:
            lines.append(CreditNoteLine(article_code=code, quantity=back + kept, amount_gross=value, vat_rate=rate))
            continue
        back_value = cents(value * back / (back + kept))
        if back > 0 and back_value > 0:
            lines.append(CreditNoteLine(article_code=code, quantity=back, amount_gross=back_value, vat_rate=rate))
        if value - back_value > 0:
            money[rate] += value - back_value
    rest = left - sum(values.values(), ZERO)
    if rest > 0:
        weights: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
        for code, value in ordered_value.items():
            weights[rate_of[code]] += value
        ordered = dict(sorted(weights.items(), key=lambda kv: kv[0], reverse=True))
        if any(w > 0 for w in ordered.values()):
            for rate, part in split_amount(rest, ordered).items():
                money[rate] += part
        else:
            raise AdjustmentError(f"TotalGest order {tg_order.number} has no goods to take VAT rates from")
    lines += _amount_lines(money)
    total = sum((line.amount_gross for line in lines), ZERO)
    assert total == left, (total, left)
    return CreditNoteInput(order_id=tg_order.id, external_ref=cancel_ref(f360_number),
                           reason=reason[:500], lines=lines, total_gross=left, restock=restock)


__all__ = [
    "AdjustmentError", "cancel_credit_note", "cancel_ref", "cents", "order_vat_weights", "refund_credit_note",
    "refund_ref", "split_amount",
]
