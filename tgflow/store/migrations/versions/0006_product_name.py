"""product_link.name: the product's name as last written, so lists and the console search by name without
asking Framework360 (issues 11 and 14)

Revision ID: 0006_product_name
Revises: 0005_export_requests
Create Date: 2026-11-30 16:58:50.148218

Nullable, no backfill: a link stored before this revision gets its name at its next write (an article change,
`tgflow products retry`, or `tgflow import-products --full`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = '0006_product_name'
down_revision = '0005_export_requests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('product_link', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('product_link', schema=None) as batch_op:
        batch_op.drop_column('name')
