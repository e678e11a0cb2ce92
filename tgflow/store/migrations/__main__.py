"""Write the next revision from the difference between the models and the latest revision.

    .venv/bin/python -m tgflow.store.migrations "product_link: last write kind"

Upgrades a scratch SQLite database to the latest revision, lets Alembic's autogenerate compare it with
the models, and writes ``versions/NNNN_<slug>.py``. Read it before committing: autogenerate does not
see renames, and a new NOT NULL column on a table with rows needs a ``server_default``.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from tgflow.store import schema


def main(message: str) -> None:
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")
    rev_id = f"{len(schema.revisions()) + 1:04d}_{slug}"[:32].rstrip("_")  # alembic_version holds 32 characters
    with tempfile.TemporaryDirectory() as scratch:
        engine = sa.create_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        schema.upgrade(engine)
        with engine.begin() as conn:
            command.revision(schema.alembic_config(conn), message=message, autogenerate=True, rev_id=rev_id)
        engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit('usage: python -m tgflow.store.migrations "what the revision changes"')
    main(sys.argv[1])
