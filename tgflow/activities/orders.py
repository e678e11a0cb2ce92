"""Order export activities: a completed Framework360 order -> one TotalGest order, exactly once.

The export workflow runs ``export_order`` as a local activity, so an exported order costs
one step; a failed one adds ``record_order_result``. Both are safe to run again:

1. ``export_order`` fetches the order, maps and validates it, finds or creates the
   customer and finds (by ``external_ref`` = the Framework360 number) or creates the
   TotalGest order. Its result holds ids and numbers only. A retry after any failure
   (a 5xx after TotalGest committed, a timeout, a killed worker) looks the order up
   again before creating, so it never makes a second one. Asked to (``record``), it
   then records the success itself, as ``record_order_result`` would.
2. ``record_order_result`` writes the outcome to the status store (one attempt row per
   workflow run, however often it runs) and sets the order's ``integrations/totalgest``
   status on Framework360 - the shop's status column. The workflow runs it for a
   failure, and for a success that ``export_order`` could not record. Recording a run's
   outcome also deletes the order's earlier *failed* export runs from Temporal (same
   workflow id, closed by then): the Web UI's failed-export query then lists an order
   only while its latest run failed, as `tgflow orders list --status failed` does (the
   attempts and their reasons stay in the status store, ``tgflow orders show``).

Plus ``reconcile_orders`` for the order reconciliation schedule (it enqueues through ``starts``). Activities read customer
data themselves; nothing personal goes into their inputs, results or error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Literal, TypeVar

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from tgflow import metrics
from tgflow.activities import calls
from tgflow.activities.deps import Deps
from tgflow.activities.starts import enqueue_orders, start_adjustments
from tgflow.clients._http import SAFE_ATTEMPTS, backoff_wait, retry_delay
from tgflow.clients.errors import (
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from tgflow.clients.framework360 import IntegrationStatus, Order
from tgflow.clients.totalgest import CustomerInput, TotalGestClient
from tgflow.contracts.ids import order_queue_workflow_id
from tgflow.contracts.orders import (
    NOT_EXPORTABLE,
    QUEUE_WAITING_SIGNAL,
    ExportActivityInput,
    ExportActivityResult,
    ExportWaiting,
    OrderReconcileActivityInput,
    OrderReconcileResult,
    RecordOrderInput,
    RecordOrderResult,
    record_input,
)
from tgflow.mapping.orders import MappingError, explain_rejection, map_order
from tgflow.store import adjustments as astore
from tgflow.store import claims
from tgflow.store import orders as ostore
from tgflow.store.models import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

#: TotalGest's payment codes, VAT rates and currency are re-read after this long.
REFERENCE_TTL_SECONDS = 60.0
#: The claim on a customer's e-mail (``store.claims``): how long it holds if its export dies, how long another
#: export waits for it before going on without it (then the lowest-id rule still joins its orders), how often
#: it asks meanwhile.
CUSTOMER_CLAIM_TTL_SECONDS = 30.0
CUSTOMER_CLAIM_WAIT_SECONDS = 5.0
CUSTOMER_CLAIM_POLL_SECONDS = 0.05
#: Framework360 keeps at most this much of a status message.
MAX_STATUS_MESSAGE = 500
CANCELLED_BEFORE_EXPORT = "cancelled in the shop before export"
#: An export that waits at least this long (a Retry-After) tells the shop's queue, which then starts the next
#: order meanwhile instead of keeping one of its ``max_concurrent`` slots idle; shorter backoffs are not worth
#: the two signals.
RELEASE_SLOT_MIN_WAIT_SECONDS = 0.5
#: Bound on each of those signals: they are a hint to the queue, never a reason to fail or stall the export.
WAITING_SIGNAL_TIMEOUT = timedelta(seconds=5)


# ---- helpers ------------------------------------------------------------------------------------------------------

def not_exportable(reason: str, number: str | None = None) -> ApplicationError:
    """A failure a person must fix: no retry; the reason (and the order number) go to history and the store."""
    return ApplicationError(reason, {"number": number}, type=NOT_EXPORTABLE, non_retryable=True)


async def api_call(fn: Callable[[], Awaitable[T]], *, what: str, number: str | None = None) -> T:
    """A client call whose permanent errors are export refusals (``not_exportable``)."""
    return await calls.api_call(fn, what=what, refuse=not_exportable, number=number)


async def create_or_find(create: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[T | None]], *,
                         attempts: int = SAFE_ATTEMPTS) -> T:
    """Send a create; if it fails for a transient reason (its answer may be lost after TotalGest committed
    it), look the record up before sending it again: a lost acknowledgement is resolved by the look-up,
    never by a blind repeat. A 429 was refused unprocessed: sent again after its Retry-After. The last
    failure goes to the caller (the step's retry, which looks up before creating, too)."""
    attempt = 1
    while True:
        try:
            return await create()
        except TransientError as exc:
            if exc.status != 429:  # also after the last attempt: a lost answer costs a look-up, not a restarted step
                found = await find()
                if found is not None:
                    return found
            delay = retry_delay(exc, attempt) if attempt < attempts else None
            if delay is None:
                raise
        attempt += 1
        await backoff_wait.get()(delay)


def queue_aware_wait(shop_id: str, order_id: int) -> Callable[[float], Awaitable[None]]:
    """A ``backoff_wait`` for an export activity: a wait of ``RELEASE_SLOT_MIN_WAIT_SECONDS`` or more (a
    Retry-After) is bracketed by ``export_waiting`` signals to the shop's order queue, so the queue's slot
    works on another order meanwhile. Best effort: no queue, a queue not running this order (a bulk export's),
    or a signal that fails changes nothing but that; the export goes on either way."""

    async def note(waiting: bool) -> None:
        try:
            await activity.client().get_workflow_handle(order_queue_workflow_id(shop_id)).signal(
                QUEUE_WAITING_SIGNAL, ExportWaiting(order_id=order_id, waiting=waiting),
                rpc_timeout=WAITING_SIGNAL_TIMEOUT)
        except (RPCError, RuntimeError) as exc:  # no queue running, Temporal busy, no client (outside a worker)
            log.debug("order %s: the queue was not told about a wait (%s)", order_id, exc)

    async def wait(delay: float) -> None:
        if delay < RELEASE_SLOT_MIN_WAIT_SECONDS:
            await asyncio.sleep(delay)
            return
        await note(True)
        try:
            await asyncio.sleep(delay)
        finally:
            await note(False)

    return wait


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class OrderActivities:
    """Order export activities bound to the worker's shared clients and store."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._reference: tuple[float, set[str], set[Decimal], str] | None = None

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def _tg_reference(self, tg: TotalGestClient) -> tuple[set[str], set[Decimal], str]:
        """Payment codes, VAT rates and currency of the TotalGest shop, cached briefly per worker."""
        now = time.monotonic()
        if self._reference is None or now - self._reference[0] > REFERENCE_TTL_SECONDS:
            methods = await api_call(tg.list_payment_methods, what="reading TotalGest payment methods")
            vats = await api_call(tg.list_vat_codes, what="reading TotalGest VAT codes")
            shop = await api_call(tg.get_shop, what="reading the TotalGest shop")
            self._reference = (now, {m.code for m in methods}, {v.rate for v in vats}, shop.currency)
        _, codes, rates, currency = self._reference
        return codes, rates, currency

    async def _customer_id(self, tg: TotalGestClient, customer: CustomerInput, number: str) -> int:
        """Find the customer by e-mail or create it; one customer per e-mail even under concurrency.

        TotalGest does not enforce unique e-mails, so find-then-create is racy. Two defences:

        * exports of the same e-mail take turns: inside this worker by an asyncio lock keyed by the
          e-mail's hash (activities of one worker share its event loop), across the workers that share
          the status store by a claim on that hash (``store.claims``), so the second export finds the
          customer the first one created;
        * should that fail (a claim not had within ``CUSTOMER_CLAIM_WAIT_SECONDS``, or a create whose
          response was lost and raced another export), the customer list is read again after creating,
          and every export uses the customer with the LOWEST id, so all orders of that e-mail land on
          the same customer.
        """
        email = customer.email
        digest = _digest(email.lower())
        async with self._lock("customer:" + digest), self._customer_claim(digest, number):
            found = await api_call(lambda: tg.find_customers(email), what="looking up the customer", number=number)
            if not found:
                async def lookup() -> list | None:
                    return await tg.find_customers(email) or None

                created = await api_call(lambda: create_or_find(lambda: tg.create_customer(customer), lookup),
                                         what="creating the customer", number=number)
                # A lost acknowledgement was resolved by the look-up (the list); a create is read back as before.
                found = created if isinstance(created, list) else await api_call(
                    lambda: tg.find_customers(email), what="looking up the new customer", number=number)
                if not found:
                    raise ApplicationError(f"order {number}: the customer just created is not found yet",
                                           type="CustomerNotVisible")
            return min(c.id for c in found)

    @contextlib.asynccontextmanager
    async def _customer_claim(self, digest: str, number: str) -> AsyncIterator[None]:
        """Hold the store's claim on this e-mail digest, waiting a little for another worker's export to be done
        with it. The holder is the order number, so a retry of an export that died holding it takes it over."""
        deps, shop = self.deps, self.deps.shop_id
        deadline = time.monotonic() + CUSTOMER_CLAIM_WAIT_SECONDS
        while not (taken := await deps.db(claims.take_customer_claim, deps.store, shop, digest, number,
                                          CUSTOMER_CLAIM_TTL_SECONDS)):
            if time.monotonic() >= deadline:
                log.warning("order %s: another export kept its customer's e-mail claimed for %.0f s; going on "
                            "without the claim", number, CUSTOMER_CLAIM_WAIT_SECONDS)
                break
            await asyncio.sleep(CUSTOMER_CLAIM_POLL_SECONDS)
        try:
            yield
        finally:
            if taken:
                await deps.db(claims.release_customer_claim, deps.store, shop, digest, number)

    async def _fetch(self, order_id: int) -> Order:
        async def get() -> Order:
            try:
                return await self.deps.framework360.get_order(order_id)
            except NotFoundError:
                raise not_exportable(f"Framework360 has no order with id {order_id}: check the id") from None

        return await api_call(get, what=f"reading Framework360 order {order_id}")

    # ---- activities ---------------------------------------------------------------------------------------------

    @activity.defn
    async def export_order(self, params: ExportActivityInput) -> ExportActivityResult:
        """Fetch, map, find-or-create customer, find-or-create order. Idempotent by ``external_ref``.

        With ``params.record``, a success is also recorded here (store, then the Framework360 status
        column), saving the workflow a second activity. If recording fails, the export's result is
        returned all the same with ``recorded`` False and the workflow records it with
        ``record_order_result`` (which retries on its own): the TotalGest order exists by then, so
        retrying the whole export for a status column would only repeat look-ups.
        """
        if _retrying():
            metrics.order_retry("export_order")
        # Retry-After waits of this export's calls free its queue slot meanwhile (the wait ends before its
        # next call, so TotalGest still sees at most the queue's cap of exports calling at once, bar a resumer).
        backoff_wait.set(queue_aware_wait(params.shop_id, params.f360_order_id))
        result = await self._export(params)
        if params.record:
            try:
                recorded = await self._record(record_input(params, result))
            except Exception as exc:  # the workflow records it again, with its own retries
                log.warning("order %s is in TotalGest (%s) but recording it failed, the workflow records it "
                            "again: %s: %s", result.f360_number, result.tg_order_number, type(exc).__name__, exc)
            else:
                result.recorded = True
                result.note = recorded.note
        return result

    async def _export(self, params: ExportActivityInput) -> ExportActivityResult:
        deps = self.deps
        order = await self._fetch(params.f360_order_id)
        number = order.number
        tg = deps.totalgest
        async with self._lock("order:" + number):
            # The TotalGest look-up (exactly once: always before creating) and "pending" in the status store
            # go at once; calls to TotalGest stay one at a time per export (the queue's cap protects it).
            existing, _ = await asyncio.gather(
                api_call(lambda: tg.find_orders(number), what="looking up the TotalGest order", number=number),
                deps.db(ostore.mark_pending, deps.store, params.shop_id, order.id, workflow_id=params.workflow_id,
                        number=number, f360_status=order.status))
            if existing:
                first = min(existing, key=lambda o: o.id)
                if len(existing) > 1:
                    log.warning("order %s exists %d times in TotalGest; using %s", number, len(existing), first.number)
                link, this_run = await deps.db(ostore.link_and_run_outcome, deps.store, params.shop_id, order.id,
                                               params.run_id)
                status = order.integrations.totalgest.status if order.integrations.totalgest else None
                if this_run in ("linked", "already_linked"):
                    # An earlier attempt of this very run exported and recorded it (then its result was lost).
                    outcome = this_run
                else:
                    seen_linked = (link is not None and link.status == "linked") or status == "linked"
                    outcome = "already_linked" if seen_linked else "linked"
                return ExportActivityResult(
                    outcome=outcome, f360_number=number,
                    tg_order_id=first.id, tg_order_number=first.number, tg_customer_id=first.customer_id,
                    f360_status=order.status, completed_at=order.completed_at)

            if order.status == "cancelled":  # cancelled in the shop before its export: never exported
                return ExportActivityResult(outcome="cancelled", f360_number=number, f360_status=order.status)
            codes, rates, currency = await self._tg_reference(tg)
            try:
                mapped = map_order(order, deps.settings.payment_methods, tg_payment_codes=codes,
                                   tg_vat_rates=rates, currency=currency)
            except MappingError as exc:
                raise not_exportable(str(exc), number) from None
            customer_id = await self._customer_id(tg, mapped.customer, number)

            async def create():
                try:
                    return await tg.create_order(mapped.with_customer(customer_id))
                except ValidationError as exc:
                    raise not_exportable(f"order {number}: {explain_rejection(order, exc.details)}",
                                         number) from None

            async def lookup():
                existing = await tg.find_orders(number)
                return min(existing, key=lambda o: o.id) if existing else None

            created = await api_call(lambda: create_or_find(create, lookup), what=f"creating TotalGest order {number}",
                                     number=number)
            return ExportActivityResult(
                outcome="linked", f360_number=number, tg_order_id=created.id, tg_order_number=created.number,
                tg_customer_id=customer_id, f360_status=order.status, completed_at=order.completed_at)

    @activity.defn
    async def record_order_result(self, params: RecordOrderInput) -> RecordOrderResult:
        """Store the outcome, then set ``integrations/totalgest`` on Framework360. Safe to repeat."""
        if _retrying():
            metrics.order_retry("record_order_result")
        return await self._record(params)

    async def _record(self, params: RecordOrderInput) -> RecordOrderResult:
        deps = self.deps
        if params.outcome == "failed" and not params.f360_number and await self._unknown_to_f360(params):
            # A mistyped id: no shop order, so nothing to store (a row would be a permanent "failed" order in
            # the list, the counts and the alerts) and no status column to set. The caller's report has it.
            await deps.db(ostore.forget_unknown, deps.store, params.shop_id, params.f360_order_id)
            _record_metrics(params)
            return RecordOrderResult(f360_updated=False,
                                     note=f"Framework360 has no order with id {params.f360_order_id}: nothing recorded")
        await deps.db(
            ostore.record_result, deps.store, params.shop_id, params.f360_order_id, outcome=params.outcome,
            number=params.f360_number, tg_order_id=params.tg_order_id, tg_order_number=params.tg_order_number,
            tg_customer_id=params.tg_customer_id, reason=params.reason, workflow_id=params.workflow_id,
            run_id=params.run_id, f360_status=params.f360_status, completed_at=params.completed_at)
        await self._forget_superseded_failures(params)
        if params.outcome == "cancelled":
            status = IntegrationStatus(status="not_linked", message=CANCELLED_BEFORE_EXPORT, synced_at=utcnow())
        elif params.outcome == "failed":
            status = IntegrationStatus(status="error", message=(params.reason or "export failed")[:MAX_STATUS_MESSAGE],
                                       synced_at=utcnow())
        else:
            status = IntegrationStatus(status="linked", remote_id=params.tg_order_number, synced_at=utcnow())
        try:
            await deps.framework360.set_order_status(params.f360_order_id, status)
        except RateLimitedError as exc:
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
            raise ApplicationError(f"setting the Framework360 status: {exc}", type="RateLimited",
                                   next_retry_delay=delay) from None
        except PermanentError as exc:
            # The outcome is stored; a status column Framework360 refuses must not undo the export.
            _record_metrics(params)
            return RecordOrderResult(f360_updated=False, note=f"Framework360 status not set: {exc}")
        _record_metrics(params)
        return RecordOrderResult()

    async def _unknown_to_f360(self, params: RecordOrderInput) -> bool:
        """A failure without an order number: the order was never read. True when Framework360 says it has
        no such order (404); a transient error is raised (the activity retries), any other answer is False."""
        try:
            await self.deps.framework360.get_order(params.f360_order_id)
        except NotFoundError:
            return True
        except RateLimitedError as exc:
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
            raise ApplicationError(f"reading Framework360 order {params.f360_order_id}: {exc}", type="RateLimited",
                                   next_retry_delay=delay) from None
        except PermanentError:
            return False
        return False

    async def _forget_superseded_failures(self, params: RecordOrderInput) -> None:
        """Delete the earlier failed export runs of this order (same workflow id) from Temporal.

        A closed run's search attributes and status never change, so a run that failed before the cause
        was fixed would stay in every "failed" query of the Web UI. This run (linked, or failed again)
        supersedes them. Only runs of this workflow id: the current run of an id is this one, so the
        earlier ones are closed. Safe to repeat (a run already deleted is skipped)."""
        if not (params.workflow_id and params.run_id and activity.in_activity()):
            return
        earlier = await self.deps.db(ostore.attempts, self.deps.store, params.shop_id, params.f360_order_id)
        runs = {a.run_id for a in earlier
                if a.outcome == "failed" and a.workflow_id == params.workflow_id and a.run_id
                and a.run_id != params.run_id}
        if not runs:
            return
        client = activity.client()
        for run_id in sorted(runs):
            try:
                await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=params.workflow_id, run_id=run_id)))
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    log.warning("could not delete superseded failed run %s of %s: %s", run_id,
                                params.workflow_id, exc.message)

    @activity.defn
    async def reconcile_orders(self, params: OrderReconcileActivityInput) -> OrderReconcileResult:
        """Enqueue completed orders updated since the cursor that are not linked; move the cursor.

        Pages through Framework360 inside the activity (heartbeating), sends each page's ids to
        the shop's queue by signal-with-start, and saves the cursor only at the end, so a retry
        re-reads from the old cursor (enqueueing twice is harmless: the queue ignores ids it holds
        and a second export finds the order linked). A failed order is enqueued again only when
        it changed in Framework360 after the failure (status or updated_at), otherwise it would
        fail again every run; ``tgflow export-orders`` re-exports it after a fix.
        """
        deps = self.deps
        settings = deps.settings
        cursor = await deps.db(ostore.get_cursor, deps.store, params.shop_id)
        since = cursor - timedelta(seconds=settings.orders.reconcile_overlap_seconds) if cursor else None
        newest = cursor
        result = OrderReconcileResult()
        client = activity.client()
        page_no = 0
        changed: list[int] = []  # exported orders changed after their export (a refund, a cancellation)
        async for page in _pages(deps, since):
            page_no += 1
            changed += await deps.db(astore.linked_changed_since, deps.store, params.shop_id,
                                     [(o.id, o.updated_at) for o in page.items])
            links = await deps.db(ostore.load_links, deps.store, params.shop_id, [o.id for o in page.items])
            wanted: list[int] = []
            for ref in page.items:
                result.seen += 1
                if ref.updated_at and (newest is None or ref.updated_at > newest):
                    newest = ref.updated_at
                link = links.get(ref.id)
                remote = ref.integrations.totalgest.status if ref.integrations.totalgest else None
                if remote == "linked" or (link is not None and link.status == "linked"):
                    result.already_linked += 1
                    continue
                if link is not None and link.status == "failed" and link.f360_status == ref.status and (
                        ref.updated_at is None or link.last_attempt_at is None
                        or ref.updated_at <= link.last_attempt_at):
                    result.skipped_failed += 1
                    continue
                wanted.append(ref.id)
            wanted_set = set(wanted)
            await deps.db(ostore.ensure_known, deps.store, params.shop_id,
                          [(o.id, o.number, o.status) for o in page.items if o.id in wanted_set])
            if wanted:
                await enqueue_orders(client, settings, wanted)
                result.enqueued += len(wanted)
            activity.heartbeat(page_no)
        # Cancellations and refunds whose webhook was lost: exported orders changed after their export.
        for status in ("cancelled", "refunded"):
            async for page in _pages(deps, since, status):
                for ref in page.items:
                    if ref.updated_at and (newest is None or ref.updated_at > newest):
                        newest = ref.updated_at
                changed += await deps.db(astore.linked_changed_since, deps.store, params.shop_id,
                                         [(o.id, o.updated_at) for o in page.items])
                activity.heartbeat(page_no)
        for order_id in dict.fromkeys(changed):
            await start_adjustments(client, settings, order_id)
        result.adjustments = len(set(changed))
        await deps.db(ostore.set_cursor, deps.store, params.shop_id, newest)
        result.cursor = newest
        return result


def _retrying() -> bool:
    """An attempt after the first (also callable outside an activity, e.g. from tests)."""
    return activity.in_activity() and activity.info().attempt > 1


def _record_metrics(params: RecordOrderInput) -> None:
    """Counted once the outcome is stored and shown; a new link also records its latency."""
    metrics.order_outcome(params.outcome)
    if params.outcome == "linked" and params.completed_at is not None:
        metrics.order_export_latency((utcnow() - params.completed_at).total_seconds())


async def _pages(deps: Deps, since, status: Literal["completed", "cancelled", "refunded"] = "completed"):
    f360 = deps.framework360
    page = 1
    while True:
        result = await api_call(lambda: f360.list_orders(status=status, updated_after=since, page=page),
                                what="listing Framework360 orders")
        yield result
        if result.is_last:
            return
        page += 1


__all__ = ["NOT_EXPORTABLE", "OrderActivities", "api_call", "not_exportable"]
