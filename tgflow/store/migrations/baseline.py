"""The status database as tgflow 0.1.0 created it (``create_all`` of the models of that release), frozen.

The baseline revision creates exactly these tables, and a database created before tgflow used Alembic
is compared with them when it is adopted (``tgflow.store.schema``). Never edit this file to follow the
models: a later schema change is a new revision in ``versions/``.
"""

from __future__ import annotations

import sqlalchemy as sa

REVISION = "0001_baseline"


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(), nullable=True)


def metadata() -> sa.MetaData:
    """A fresh MetaData holding the baseline tables (a new one each call: callers may create from it)."""
    md = sa.MetaData()
    S, I, B = sa.String, sa.Integer, sa.Boolean  # noqa: N806, E741
    sa.Table(
        "order_link", md,
        sa.Column("id", I(), primary_key=True),
        sa.Column("shop_id", S(), nullable=False, index=True),
        sa.Column("f360_order_id", I(), nullable=False, index=True),
        sa.Column("f360_number", S(), nullable=True, index=True),
        sa.Column("status", S(), nullable=False, index=True, info={"fill": "not_linked"}),
        sa.Column("tg_order_id", I(), nullable=True),
        sa.Column("tg_order_number", S(), nullable=True),
        sa.Column("tg_customer_id", I(), nullable=True),
        sa.Column("last_error", S(), nullable=True),
        sa.Column("attempts", I(), nullable=False, info={"fill": 0}),
        sa.Column("f360_status", S(), nullable=True),
        sa.Column("changed_after_export", B(), nullable=False, info={"fill": False}),
        sa.Column("workflow_id", S(), nullable=True),
        _when("completed_at"), _when("last_attempt_at"), _when("linked_at"), _when("updated_at"),
        sa.UniqueConstraint("shop_id", "f360_order_id"),
    )
    sa.Table(
        "order_attempt", md,
        sa.Column("id", I(), primary_key=True),
        sa.Column("shop_id", S(), nullable=False, index=True),
        sa.Column("f360_order_id", I(), nullable=False, index=True),
        _when("at"),
        sa.Column("outcome", S(), nullable=False, info={"fill": ""}),
        sa.Column("message", S(), nullable=True),
        sa.Column("workflow_id", S(), nullable=True),
        sa.Column("run_id", S(), nullable=True, index=True),
        sa.Column("tg_order_number", S(), nullable=True),
    )
    sa.Table(
        "product_link", md,
        sa.Column("id", I(), primary_key=True),
        sa.Column("shop_id", S(), nullable=False, index=True),
        sa.Column("sku", S(), nullable=False, index=True),
        sa.Column("tg_article_id", I(), nullable=True, index=True),
        sa.Column("f360_product_id", I(), nullable=True),
        sa.Column("status", S(), nullable=False, index=True, info={"fill": "not_linked"}),
        sa.Column("content_hash", S(), nullable=True),
        sa.Column("stock_quantity", I(), nullable=True),
        sa.Column("active", B(), nullable=False, info={"fill": True}),
        sa.Column("last_error", S(), nullable=True),
        sa.Column("attempts", I(), nullable=False, info={"fill": 0}),
        _when("last_synced_at"), _when("updated_at"),
        sa.Column("field_hashes_json", S(), nullable=True),
        sa.Column("stock_json", S(), nullable=True),
        sa.Column("reserved_quantity", I(), nullable=False, info={"fill": 0}),
        sa.Column("stock_dirty", B(), nullable=False, index=True, info={"fill": False}),
        _when("last_seen_at"),
        sa.Column("retry_json", S(), nullable=True),
        sa.UniqueConstraint("shop_id", "sku"),
    )
    sa.Table(
        "sync_run", md,
        sa.Column("id", I(), primary_key=True),
        sa.Column("shop_id", S(), nullable=False, index=True),
        sa.Column("kind", S(), nullable=False, index=True, info={"fill": ""}),
        sa.Column("workflow_id", S(), nullable=True),
        sa.Column("run_id", S(), nullable=True, index=True),
        sa.Column("status", S(), nullable=False, info={"fill": "completed"}),
        _when("started_at"), _when("finished_at"),
        sa.Column("counts_json", S(), nullable=False, info={"fill": "{}"}),
        sa.Column("errors_json", S(), nullable=False, info={"fill": "[]"}),
    )
    sa.Table(
        "sync_cursor", md,
        sa.Column("shop_id", S(), primary_key=True),
        sa.Column("name", S(), primary_key=True),
        _when("value"), _when("updated_at"),
    )
    sa.Table(
        "alert", md,
        sa.Column("id", I(), primary_key=True),
        sa.Column("shop_id", S(), nullable=False, index=True),
        sa.Column("key", S(), nullable=False, info={"fill": ""}),
        sa.Column("active", B(), nullable=False, info={"fill": True}),
        sa.Column("message", S(), nullable=False, info={"fill": ""}),
        _when("since"), _when("resolved_at"), _when("last_checked_at"),
        sa.Column("notified_state", S(), nullable=True),
        _when("notified_at"),
        sa.Column("notify_error", S(), nullable=True),
        sa.UniqueConstraint("shop_id", "key"),
    )
    return md
