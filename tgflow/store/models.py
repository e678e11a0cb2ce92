"""Status store tables: link and sync state of every order and product, runs and cursors.

The same code runs on SQLite and PostgreSQL; datetimes are stored as UTC and
always come back timezone-aware.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database, aware UTC in Python (SQLite has no time zones)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the status store")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


def _when(nullable: bool = True, **kw: Any) -> Any:  # sqlmodel.Field is typed Any, to sit in any annotation
    return Field(default=None, sa_type=UtcDateTime, nullable=nullable, **kw)


class OrderLink(SQLModel, table=True):
    """One Framework360 order and where its export to TotalGest stands."""

    __tablename__ = "order_link"
    __table_args__ = (sa.UniqueConstraint("shop_id", "f360_order_id"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True)
    f360_order_id: int = Field(index=True)
    f360_number: str | None = Field(default=None, index=True)
    #: not_linked | pending | linked | failed
    status: str = Field(default="not_linked", index=True)
    tg_order_id: int | None = None
    tg_order_number: str | None = None
    tg_customer_id: int | None = None
    last_error: str | None = None
    attempts: int = 0
    #: Framework360 status at the last look; a linked order later cancelled/refunded is flagged.
    f360_status: str | None = None
    changed_after_export: bool = False
    workflow_id: str | None = None
    completed_at: datetime | None = _when()
    last_attempt_at: datetime | None = _when()
    linked_at: datetime | None = _when()
    updated_at: datetime | None = _when()
    #: The order's life in TotalGest, from the shipment import: open | invoiced | shipped | cancelled,
    #: its invoice number, and ``partly shipped`` / ``shipped`` once a parcel left.
    tg_status: str | None = None
    tg_invoice_number: str | None = None
    tg_shipping: str | None = None
    #: Why a parcel of this order could not be shown in Framework360 (a ``ShipmentLink`` failed); None once
    #: every parcel is there. Puts the order in ``orders list --status failed`` and in the alerts.
    tg_shipment_error: str | None = None


class ShipmentLink(SQLModel, table=True):
    """One TotalGest shipment (parcel) of an exported order and the Framework360 fulfillment showing it."""

    __tablename__ = "shipment_link"
    __table_args__ = (sa.UniqueConstraint("shop_id", "tg_shipment_id"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True)
    tg_shipment_id: int = Field(index=True)
    tg_order_id: int = Field(index=True)
    f360_order_id: int = Field(index=True)
    #: pending (its workflow is running) | fulfilled | failed (a person must act; `orders retry` re-drives)
    status: str = Field(default="pending", index=True)
    f360_fulfillment_id: int | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    last_error: str | None = None
    attempts: int = 0
    workflow_id: str | None = None
    fulfilled_at: datetime | None = _when()
    updated_at: datetime | None = _when()


class OrderAttempt(SQLModel, table=True):
    """Each export attempt of an order, for ``tgflow orders show``."""

    __tablename__ = "order_attempt"

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True)
    f360_order_id: int = Field(index=True)
    at: datetime | None = _when()
    outcome: str = ""  # linked | already_linked | failed | retrying
    message: str | None = None
    workflow_id: str | None = None
    #: The export run that recorded it: recording the same run twice keeps one row.
    run_id: str | None = Field(default=None, index=True)
    tg_order_number: str | None = None


class ProductLink(SQLModel, table=True):
    """One TotalGest article and the Framework360 product it feeds."""

    __tablename__ = "product_link"
    __table_args__ = (sa.UniqueConstraint("shop_id", "sku"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True)
    sku: str = Field(index=True)
    tg_article_id: int | None = Field(default=None, index=True)
    f360_product_id: int | None = None
    #: linked | not_linked | pending | error
    status: str = Field(default="not_linked", index=True)
    #: Hash of the mapped content last written (stock excluded), to skip unchanged products.
    content_hash: str | None = None
    #: Sellable stock last written.
    stock_quantity: int | None = None
    active: bool = True
    last_error: str | None = None
    attempts: int = 0
    last_synced_at: datetime | None = _when()
    updated_at: datetime | None = _when()
    #: Per-field hashes of the mapped content last written (JSON), so updates send only changed fields.
    field_hashes_json: str | None = None
    #: TotalGest ``available`` per warehouse (JSON ``{warehouse: "decimal"}``), from the stock stream.
    stock_json: str | None = None
    #: Units sold in completed shop orders TotalGest does not know yet, last subtracted from stock.
    reserved_quantity: int = 0
    #: Sellable stock differs from ``stock_quantity``: the next stock flush writes it.
    stock_dirty: bool = Field(default=False, index=True)
    #: Last time an import saw the article in TotalGest (``--full`` drafts products not seen).
    last_seen_at: datetime | None = _when()
    #: Mapped content (JSON) of a product Framework360 refused, so the next run retries it without
    #: waiting for the article to change in TotalGest again.
    retry_json: str | None = None
    #: Product name as last written to Framework360 (from the mapped article); None for a product not written
    #: since this column came (its next write, or a ``--full`` import, fills it).
    name: str | None = None


class SyncRun(SQLModel, table=True):
    """One product import, reconciliation or bulk export, with its counts as JSON."""

    __tablename__ = "sync_run"

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True)
    kind: str = Field(index=True)
    workflow_id: str | None = None
    run_id: str | None = Field(default=None, index=True)
    status: str = "running"  # running | completed | failed
    started_at: datetime | None = _when()
    finished_at: datetime | None = _when()
    counts_json: str = "{}"
    errors_json: str = "[]"


class SyncCursor(SQLModel, table=True):
    """Where the next incremental run starts (UTC), per shop and stream."""

    __tablename__ = "sync_cursor"

    shop_id: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    value: datetime | None = _when()
    updated_at: datetime | None = _when()


class Alert(SQLModel, table=True):
    """One alert condition (``failures``, ``drift``, ``schedule:<id>``) and what was sent about it.

    A row is raised once and then updated: re-evaluating the same condition never sends twice, and a
    condition that clears is sent once as resolved.
    """

    __tablename__ = "alert"
    __table_args__ = (sa.UniqueConstraint("shop_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True)
    key: str
    active: bool = True
    message: str = ""
    since: datetime | None = _when()
    resolved_at: datetime | None = _when()
    last_checked_at: datetime | None = _when()
    #: The state last delivered to the webhook (firing | resolved) and when; None: not delivered yet.
    notified_state: str | None = None
    notified_at: datetime | None = _when()
    #: Why the last delivery did not happen (no URL set, the URL refused it…); cleared on success.
    notify_error: str | None = None


class OrderAdjustment(SQLModel, table=True):
    """One cancellation or refund of an exported shop order and where it stands in TotalGest.

    ``key`` is ``cancel`` or ``R<refund id>``: one row per business key, however often it is handled.
    """

    __tablename__ = "order_adjustment"
    __table_args__ = (sa.UniqueConstraint("shop_id", "f360_order_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True)
    f360_order_id: int = Field(index=True)
    key: str
    #: cancel | refund
    kind: str
    refund_id: int | None = None
    f360_number: str | None = None
    #: pending | done | skipped | failed
    status: str = Field(default="pending", index=True)
    #: What was done, in one line (``cancelled in TotalGest``, ``credit note NC-… 12.50 CHF``…).
    outcome: str | None = None
    tg_credit_note_number: str | None = None
    #: Gross amount credited (decimal string).
    amount: str | None = None
    last_error: str | None = None
    attempts: int = 0
    workflow_id: str | None = None
    created_at: datetime | None = _when()
    updated_at: datetime | None = _when()


class ExportRequest(SQLModel, table=True):
    """One "Send to TotalGest" request from the shop's order list and whether its report was posted.

    The notification is posted once: ``notification_id`` set means done, never again (Framework360 does
    not dedupe). ``requested_by`` (a person's name) lives here, never in workflow history.
    """

    __tablename__ = "export_request"
    __table_args__ = (sa.UniqueConstraint("shop_id", "request_id"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True)
    request_id: str
    order_count: int = 0
    requested_by: str | None = None
    workflow_id: str | None = None
    #: received | notified
    status: str = Field(default="received", index=True)
    #: POSTs made for it; more than one means an answer was lost and the report was posted again.
    post_attempts: int = 0
    notification_id: int | None = None
    level: str | None = None
    title: str | None = None
    received_at: datetime | None = _when()
    notified_at: datetime | None = _when()


class ConsoleUser(SQLModel, table=True):
    """A person who may log in to the web console (``tgflow console add-user``): only a slow salted hash
    of the password is kept (``scrypt$n$r$p$salt$hash``, hex)."""

    __tablename__ = "console_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    #: admin (acts) | viewer (reads)
    role: str = "viewer"
    password_hash: str
    created_at: datetime | None = _when()
    updated_at: datetime | None = _when()


class CustomerClaim(SQLModel, table=True):
    """Which export may look up and create the TotalGest customer of one e-mail right now.

    TotalGest does not keep e-mails unique, so two workers creating the same new customer at once would
    make two. Workers that share this store take the claim first (``tgflow.store.claims``); the e-mail is
    kept only as a digest. A claim left by a worker that died lapses at ``expires_at``."""

    __tablename__ = "customer_claim"

    shop_id: str = Field(primary_key=True)
    email_digest: str = Field(primary_key=True)
    holder: str
    expires_at: datetime = _when(nullable=False)
