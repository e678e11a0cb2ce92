"""customer_claim: one export at a time looks up and creates the TotalGest customer of an e-mail, across the
workers that share the status database (a race of two workers made two customers of one e-mail)

Revision ID: 0007_customer_claim
Revises: 0006_product_name
Create Date: 2026-11-30 23:49:25.425482

A new table, empty: nothing to backfill. Claims live for seconds; a downgrade drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

from tgflow.store.models import UtcDateTime

revision = '0007_customer_claim'
down_revision = '0006_product_name'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_claim',
    sa.Column('shop_id', AutoString(), nullable=False),
    sa.Column('email_digest', AutoString(), nullable=False),
    sa.Column('holder', AutoString(), nullable=False),
    sa.Column('expires_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('shop_id', 'email_digest')
    )


def downgrade() -> None:
    op.drop_table('customer_claim')
