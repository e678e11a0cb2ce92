"""Cancellation and refund activities: a shop order's cancellation or refund → TotalGest, exactly once.

* ``plan_adjustments`` reads the shop order and returns what it needs in TotalGest that the status store
  has not seen settled: each refund (oldest first), then the cancellation.
* ``apply_adjustment`` handles one of them, safe to run again after anything (a lost answer, a killed
  worker): a cancellation cancels the TotalGest order while it is open (TotalGest repeats that
  harmlessly), otherwise it creates one credit note for what is left; a refund creates one credit note.
  Credit notes are looked up by ``external_ref`` before creating (TotalGest does not keep it unique), so
  a retry finds the one it made. It records the outcome in the status store itself.
* ``record_adjustment_failure`` stores a refusal a person must fix (the workflow runs it).

Inputs and results hold ids, numbers, amounts and reasons only; the activities read the orders themselves.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tgflow.activities import calls
from tgflow.activities.deps import Deps
from tgflow.clients.errors import (
    NotCancellableError,
    NotFoundError,
    ValidationError,
)
from tgflow.clients.framework360 import Order as ShopOrder
from tgflow.clients.totalgest import CreditNote, CreditNoteInput
from tgflow.clients.totalgest import Order as TgOrder
from tgflow.contracts.adjustments import (
    ADJUSTMENT_REFUSED,
    AdjustmentInput,
    AdjustmentResult,
    PlannedAdjustment,
    RecordAdjustmentInput,
    ScanInput,
    ScanPlan,
    adjustment_key,
)
from tgflow.mapping.adjustments import AdjustmentError, cancel_credit_note, cancel_ref, refund_credit_note, refund_ref
from tgflow.store import adjustments as astore
from tgflow.store import orders as ostore

log = logging.getLogger(__name__)
T = TypeVar("T")


def refused(reason: str, number: str | None = None) -> ApplicationError:
    """A refusal a person must fix: not retried; the one-line reason goes to history and the store."""
    return ApplicationError(reason, {"number": number}, type=ADJUSTMENT_REFUSED, non_retryable=True)


async def call(fn: Callable[[], Awaitable[T]], *, what: str, number: str | None = None) -> T:
    """A client call whose permanent errors are adjustment refusals (``refused``)."""
    return await calls.api_call(fn, what=what, refuse=refused, number=number)


class AdjustmentActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def _shop_order(self, order_id: int) -> ShopOrder:
        async def get() -> ShopOrder:
            try:
                return await self.deps.framework360.get_order(order_id)
            except NotFoundError:
                raise refused(f"Framework360 has no order with id {order_id}: check the id") from None

        return await call(get, what=f"reading Framework360 order {order_id}")

    # ---- activities ---------------------------------------------------------------------------------------------

    @activity.defn
    async def plan_adjustments(self, params: ScanInput) -> ScanPlan:
        """Refunds (oldest first) and the cancellation of the shop order that are not settled in the store."""
        deps = self.deps
        order = await self._shop_order(params.f360_order_id)
        settled = {k for k, status in (await deps.db(astore.keys_of, deps.store, params.shop_id, order.id)).items()
                   if status in astore.SETTLED}
        plan = ScanPlan(f360_number=order.number)
        for refund in sorted(order.refunds, key=lambda r: r.id):
            if adjustment_key("refund", refund.id) not in settled:
                plan.todo.append(PlannedAdjustment(kind="refund", refund_id=refund.id))
        if order.status == "cancelled" and "cancel" not in settled:
            plan.todo.append(PlannedAdjustment(kind="cancel"))
        return plan

    @activity.defn
    async def apply_adjustment(self, params: AdjustmentInput) -> AdjustmentResult:
        deps = self.deps
        shop_order = await self._shop_order(params.f360_order_id)
        number = shop_order.number
        key = adjustment_key(params.kind, params.refund_id)
        result = AdjustmentResult(shop_id=params.shop_id, f360_order_id=params.f360_order_id, kind=params.kind,
                                  refund_id=params.refund_id, status="done", f360_number=number)
        async with self._lock("adjust:" + number):  # one credit note at a time per order in this worker
            await deps.db(astore.mark_pending, deps.store, params.shop_id, shop_order.id, key=key, kind=params.kind,
                          refund_id=params.refund_id, number=number, workflow_id=params.workflow_id)
            tg = deps.totalgest
            found = await call(lambda: tg.find_orders(number), what="looking up the TotalGest order", number=number)
            if not found:
                await self._not_exported(params, shop_order, result)
            else:
                tg_order = min(found, key=lambda o: o.id)
                result.tg_order_number = tg_order.number
                if params.kind == "cancel":
                    await self._cancel(shop_order, tg_order, result)
                else:
                    await self._refund(shop_order, tg_order, params.refund_id, result)
            await deps.db(astore.record, deps.store, params.shop_id, shop_order.id, key=key, kind=params.kind,
                          refund_id=params.refund_id, status=result.status, number=number, outcome=result.outcome,
                          credit_note=result.tg_credit_note_number, amount=result.amount,
                          workflow_id=params.workflow_id)
        return result

    @activity.defn
    async def record_adjustment_failure(self, params: RecordAdjustmentInput) -> None:
        deps = self.deps
        await deps.db(astore.record, deps.store, params.shop_id, params.f360_order_id,
                      key=adjustment_key(params.kind, params.refund_id), kind=params.kind,
                      refund_id=params.refund_id, status="failed", number=params.f360_number, reason=params.reason,
                      workflow_id=params.workflow_id)

    # ---- the two kinds ----------------------------------------------------------------------------------------------

    async def _not_exported(self, params: AdjustmentInput, order: ShopOrder, result: AdjustmentResult) -> None:
        """No TotalGest order: nothing to do when it will never be exported, wait while its export runs."""
        number = order.number
        if params.kind == "cancel" or order.status in ("cancelled", "refunded"):
            result.status = "skipped"
            result.outcome = "not in TotalGest (never exported): nothing to do"
            return
        deps = self.deps
        link = await deps.db(ostore.get_link, deps.store, params.shop_id, order.id)
        if link is None or link.status == "failed":
            raise refused(f"refund {params.refund_id} of order {number}: the order is not in TotalGest "
                          f"(its export has not succeeded); export it (`tgflow orders retry {number}`), "
                          f"then retry the refund", number)
        # pending / not linked yet: its export is on the way; Temporal tries again with backoff
        raise ApplicationError(f"order {number} is not in TotalGest yet (its export is pending)",
                               {"number": number}, type="NotExportedYet")

    async def _cancel(self, order: ShopOrder, tg_order: TgOrder, result: AdjustmentResult) -> None:
        number = order.number
        tg = self.deps.totalgest
        if order.status != "cancelled":
            result.status = "skipped"
            result.outcome = f"not cancelled in the shop (status {order.status})"
            return
        if tg_order.status == "cancelled":
            result.outcome = f"TotalGest order {tg_order.number} cancelled"
            return
        if tg_order.status == "open":
            async def cancel() -> bool:
                try:
                    await tg.cancel_order(tg_order.id, f"cancelled in Framework360 (order {number})")
                    return True
                except NotCancellableError:
                    return False  # invoiced meanwhile: credit it instead

            if await call(cancel, what=f"cancelling TotalGest order {tg_order.number}", number=number):
                result.outcome = f"TotalGest order {tg_order.number} cancelled"
                return
            tg_order = await call(lambda: tg.get_order(tg_order.id), what="reading the TotalGest order", number=number)
        ref = cancel_ref(number)
        if await self._existing(ref, number, result):
            return
        credited: list[CreditNote] = []
        for refund in order.refunds:
            credited += await call(lambda r=refund: tg.find_credit_notes(refund_ref(number, r.id)),  # type: ignore[misc]
                                   what="looking up the refunds' credit notes", number=number)
        note = cancel_credit_note(tg_order, credited, f360_number=number,
                                  reason=f"cancelled in Framework360 (order {number}) after invoicing")
        if note is None:
            result.outcome = f"nothing left to credit on TotalGest order {tg_order.number}"
            return
        await self._create(note, f"cancellation of order {number}", number, result)

    async def _refund(self, order: ShopOrder, tg_order: TgOrder, refund_id: int | None,
                      result: AdjustmentResult) -> None:
        number = order.number
        refund = next((r for r in order.refunds if r.id == refund_id), None)
        if refund is None:
            raise refused(f"order {number} has no refund {refund_id} in Framework360: check the id", number)
        ref = refund_ref(number, refund.id)
        if await self._existing(ref, number, result):
            return
        if tg_order.status == "cancelled":
            result.status = "skipped"
            result.outcome = f"TotalGest order {tg_order.number} is cancelled: nothing to credit"
            return
        try:
            note = refund_credit_note(order, refund, tg_order)
        except AdjustmentError as exc:
            raise refused(str(exc), number) from None
        await self._create(note, f"refund {refund.id} of order {number}", number, result)

    async def _existing(self, ref: str, number: str, result: AdjustmentResult) -> bool:
        tg = self.deps.totalgest
        notes = await call(lambda: tg.find_credit_notes(ref), what=f"looking up credit note {ref}", number=number)
        if not notes:
            return False
        first = min(notes, key=lambda n: n.id)
        if len(notes) > 1:
            log.warning("credit note %s exists %d times in TotalGest; using %s", ref, len(notes), first.number)
        _done(result, first)
        return True

    async def _create(self, note: CreditNoteInput, what: str, number: str, result: AdjustmentResult) -> None:
        tg = self.deps.totalgest

        async def create() -> CreditNote:
            try:
                return await tg.create_credit_note(note)
            except ValidationError as exc:
                raise refused(f"{what}: TotalGest refused credit note {note.external_ref} "
                              f"({note.total_gross}): {_details(exc)}", number) from None

        _done(result, await call(create, what=f"creating credit note {note.external_ref}", number=number))


def _details(exc: ValidationError) -> str:
    if exc.details:
        return "; ".join(f"{d.get('field', '?')}: {d.get('message', '')}" for d in exc.details)
    return exc.message


def _done(result: AdjustmentResult, note: CreditNote) -> None:
    result.status = "done"
    result.tg_credit_note_number = note.number
    result.amount = str(note.total_gross)
    result.outcome = f"credit note {note.number} ({note.total_gross})"


__all__ = ["AdjustmentActivities", "call", "refused"]
