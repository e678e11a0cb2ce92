"""The status database's schema under Alembic, on SQLite and PostgreSQL.

``tests/data/schema-0.1.0-*.sql`` is the DDL that ``create_all`` of the models emitted in the last release
before Alembic (captured from that code, per dialect): databases in the field look like that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlmodel import SQLModel, select

from tgflow.store import OrderAttempt, OrderLink, ProductLink, Store, SyncCursor, SyncRun, schema
from tgflow.store import alerts as astore
from tgflow.store.db import engine_url

DATA = Path(__file__).parent / "data"
AT = datetime(2026, 11, 28, 14, 4, 5)  # stored naive UTC, as the 0.1.0 release wrote them
AT_AWARE = AT.replace(tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'status.db'}"
    return request.getfixturevalue("postgres_url")


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(engine_url(url), poolclass=sa.NullPool)


def create_release_0_1_0(url: str) -> None:
    """The database exactly as tgflow 0.1.0 created it (no alembic_version table)."""
    engine = _engine(url)
    ddl = (DATA / f"schema-0.1.0-{engine.dialect.name}.sql").read_text()
    with engine.begin() as conn:
        for statement in ddl.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
    engine.dispose()


def fill_every_table(url: str) -> None:
    """One row per table, written as 0.1.0 wrote them (plain SQL, every column but the serial id given)."""
    rows = {
        "order_link": dict(shop_id="1001", f360_order_id=17, f360_number="F360-10017", status="linked",
                           tg_order_id=501, tg_order_number="OV-2026-00001", tg_customer_id=77, last_error=None,
                           attempts=2, f360_status="completed", changed_after_export=False, workflow_id="order-17",
                           completed_at=AT, last_attempt_at=AT, linked_at=AT, updated_at=AT),
        "order_attempt": dict(shop_id="1001", f360_order_id=17, at=AT, outcome="linked", message=None,
                              workflow_id="order-17", run_id="run-1", tg_order_number="OV-2026-00001"),
        "product_link": dict(shop_id="1001", sku="ART-00001", tg_article_id=9, f360_product_id=90,
                             status="linked", content_hash="abc", stock_quantity=3, active=True, last_error=None,
                             attempts=1, last_synced_at=AT, updated_at=AT, field_hashes_json='{"name": "h"}',
                             stock_json='{"MAIN": "3"}', reserved_quantity=1, stock_dirty=False, last_seen_at=AT,
                             retry_json=None),
        "sync_run": dict(shop_id="1001", kind="product_import", workflow_id="import-1", run_id="r1",
                         status="completed", started_at=AT, finished_at=AT, counts_json='{"created": 1}',
                         errors_json="[]"),
        "sync_cursor": dict(shop_id="1001", name="articles", value=AT, updated_at=AT),
        "alert": dict(shop_id="1001", key="failures", active=True, message="1 failed order", since=AT,
                      resolved_at=None, last_checked_at=AT, notified_state="firing", notified_at=AT,
                      notify_error=None),
    }
    engine = _engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        for name, row in rows.items():
            if name in meta.tables:
                table = meta.tables[name]
                conn.execute(table.insert(), [{k: v for k, v in row.items() if k in table.c}])
    engine.dispose()


def assert_every_row_reads_back(store: Store) -> None:
    with store.session() as s:
        order = s.exec(select(OrderLink)).one()
        attempt = s.exec(select(OrderAttempt)).one()
        product = s.exec(select(ProductLink)).one()
        run = s.exec(select(SyncRun)).one()
        cursor = s.exec(select(SyncCursor)).one()
    assert (order.f360_number, order.status, order.tg_order_number, order.tg_customer_id, order.attempts,
            order.linked_at) == ("F360-10017", "linked", "OV-2026-00001", 77, 2, AT_AWARE)
    assert (attempt.outcome, attempt.tg_order_number, attempt.at) == ("linked", "OV-2026-00001", AT_AWARE)
    assert (product.sku, product.stock_quantity, product.reserved_quantity, product.stock_json, product.active,
            product.stock_dirty, product.last_seen_at) == ("ART-00001", 3, 1, '{"MAIN": "3"}', True, False, AT_AWARE)
    assert (run.kind, json.loads(run.counts_json), run.finished_at) == ("product_import", {"created": 1}, AT_AWARE)
    assert (cursor.name, cursor.value) == ("articles", AT_AWARE)


def schema_differences(url: str) -> list[object]:
    """What Alembic's autogenerate would write to turn the database into the models: must be nothing."""
    engine = _engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    return list(diff)


def test_an_empty_database_upgraded_to_head_matches_the_models(url):
    store = Store(url)
    assert schema.current(store.engine) == schema.head()
    store.close()
    assert schema_differences(url) == []


def test_the_comparison_finds_a_column_the_migrations_lack(url):
    """The check above can fail: a model column that no revision creates is reported."""
    Store(url).close()
    engine = _engine(url)
    with engine.begin() as conn:
        with Operations(MigrationContext.configure(conn)).batch_alter_table("order_attempt") as batch:
            batch.drop_index("ix_order_attempt_run_id")
            batch.drop_column("run_id")
    engine.dispose()
    diff = schema_differences(url)
    assert ("add_column", None, "order_attempt", OrderAttempt.__table__.c.run_id) in [  # type: ignore[attr-defined]
        d for d in diff if isinstance(d, tuple)]


def test_a_release_0_1_0_database_is_adopted_and_every_row_reads_back(url):
    create_release_0_1_0(url)
    fill_every_table(url)
    store = Store(url, upgrade=False)
    assert schema.is_pre_alembic(store.engine) and schema.current(store.engine) is None

    result = schema.upgrade(store.engine)

    assert (result.before, result.after, result.adopted, result.added) == (None, schema.head(), True, [])
    assert schema.current(store.engine) == schema.head()
    assert_every_row_reads_back(store)
    [alert] = astore.list_alerts(store, "1001")
    assert (alert.key, alert.message, alert.notified_state, alert.since) == (
        "failures", "1 failed order", "firing", AT_AWARE)
    assert schema.upgrade(store.engine).changed is False  # a second run does nothing
    store.close()
    assert schema_differences(url) == []


def test_an_older_database_gets_what_it_lacks_added_and_keeps_its_rows(url):
    """A database from before the alerts release, without two later product/attempt columns."""
    create_release_0_1_0(url)
    engine = _engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alert")
        conn.exec_driver_sql("DROP INDEX ix_order_attempt_run_id")
        conn.exec_driver_sql("ALTER TABLE order_attempt DROP COLUMN run_id")
        conn.exec_driver_sql("ALTER TABLE product_link DROP COLUMN reserved_quantity")
    engine.dispose()
    fill_every_table(url)

    store = Store(url)  # opening the store upgrades it, as a worker does on start

    assert schema.current(store.engine) == schema.head()
    with store.session() as s:
        product = s.exec(select(ProductLink)).one()
        attempt = s.exec(select(OrderAttempt)).one()
    assert (product.sku, product.stock_quantity, product.reserved_quantity) == ("ART-00001", 3, 0)
    assert (attempt.outcome, attempt.run_id) == ("linked", None)
    astore.apply_findings(store, "1001", {"failures": "2 failed orders"}, AT_AWARE, timedelta(hours=24))
    assert [a.message for a in astore.list_alerts(store, "1001")] == ["2 failed orders"]
    with store.session() as s:  # the column added with a default takes new rows as the model writes them
        s.add(ProductLink(shop_id="1001", sku="ART-00002", reserved_quantity=4))
    with store.session() as s:
        assert s.exec(select(ProductLink).where(ProductLink.sku == "ART-00002")).one().reserved_quantity == 4
    store.close()
    assert schema_differences(url) == []


def test_what_adoption_added_is_reported(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    create_release_0_1_0(url)
    engine = _engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alert")
        conn.exec_driver_sql("DROP INDEX ix_order_attempt_run_id")
        conn.exec_driver_sql("ALTER TABLE order_attempt DROP COLUMN run_id")
    result = schema.upgrade(engine)
    engine.dispose()
    assert result.adopted and result.added == [
        "table alert", "column order_attempt.run_id", "index ix_order_attempt_run_id"]


def test_two_processes_upgrading_at_once_both_succeed_and_the_schema_is_made_once(url):
    engines = [_engine(url), _engine(url)]
    results: list[schema.UpgradeResult] = []
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def run(engine: sa.Engine) -> None:
        go.wait()
        try:
            results.append(schema.upgrade(engine))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert errors == []
    assert sorted(r.applied for r in results) == [[], schema.revisions()]
    assert schema_differences(url) == []


def test_a_database_newer_than_this_tgflow_is_refused_with_what_to_do(url):
    Store(url).close()
    engine = _engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    engine.dispose()
    with pytest.raises(schema.SchemaError, match="revision 9999_future, which this tgflow does not know"):
        Store(url)


# ---- the command line ------------------------------------------------------------------------------------------

def tgflow(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    config = tmp_path / "empty.toml"  # no shop configured: the db commands need only the database
    config.touch()
    env.update(TGFLOW_CONFIG=str(config), TGFLOW_DATABASE_URL=url, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "tgflow", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_db_upgrade_and_current_on_a_release_0_1_0_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'tgflow.db'}"
    create_release_0_1_0(url)
    fill_every_table(url)
    head = schema.head()

    before = tgflow(tmp_path, url, "db", "current")
    assert before.returncode == 0, before.stderr
    assert before.stdout.strip() == f"{url}: created before migrations (no revision); `tgflow db upgrade` adopts it"
    assert json.loads(tgflow(tmp_path, url, "db", "current", "--json").stdout) == {
        "database": url, "revision": None, "head": head, "up_to_date": False, "pre_alembic": True}

    first = tgflow(tmp_path, url, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    later = ", ".join(schema.revisions()[1:])
    assert first.stdout.strip() == (f"{url}: created before migrations; adopted at the baseline (its tables matched "
                                    f"the baseline)" + (f", then applied {later}" if later else "")
                                    + f"; now at {head} (latest)")
    again = tgflow(tmp_path, url, "db", "upgrade", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"database": url, "before": head, "after": head, "head": head, "applied": [],
                                        "adopted": False, "added": [], "changed": False}
    assert tgflow(tmp_path, url, "db", "upgrade").stdout.strip() == f"{url}: already at {head} (latest), nothing to do"
    now = tgflow(tmp_path, url, "db", "current")
    assert now.stdout.strip() == f"{url}: at {head} (latest)"
    store = Store(url, upgrade=False)
    assert_every_row_reads_back(store)
    store.close()


def test_db_upgrade_creates_an_empty_database_and_reports_it_as_json(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = tgflow(tmp_path, url, "db", "upgrade", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"database": url, "before": None, "after": schema.head(),
                                         "head": schema.head(), "applied": schema.revisions(), "adopted": False,
                                         "added": [], "changed": True}
    assert schema_differences(url) == []


def test_db_upgrade_names_what_to_fix(tmp_path):
    url = f"sqlite:///{tmp_path / 'future.db'}"
    Store(url).close()
    engine = _engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    engine.dispose()
    newer = tgflow(tmp_path, url, "db", "upgrade")
    assert newer.returncode == 2
    assert "revision 9999_future, which this tgflow does not know" in newer.stderr
    assert len(newer.stderr.strip().splitlines()) == 1

    unreachable = tgflow(tmp_path, "postgresql://tgflow:s3cret@127.0.0.1:1/tgflow", "db", "current")
    assert unreachable.returncode == 3
    assert "postgresql://tgflow:***@127.0.0.1:1/tgflow did not answer" in unreachable.stderr
    assert "s3cret" not in unreachable.stderr + unreachable.stdout


def test_setup_upgrades_the_status_database_then_registers_search_attributes(settings, tmp_path):
    from tgflow.config import save_settings

    create_release_0_1_0(settings.database_url)
    path = save_settings(settings, tmp_path / "setup.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLOW_")}
    env.update(TGFLOW_CONFIG=str(path), COLUMNS="200")
    result = subprocess.run([sys.executable, "-m", "tgflow", "setup"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = result.stdout.strip().splitlines()
    assert first.startswith(f"{settings.database_url}: created before migrations; adopted at the baseline")
    assert "search attributes" in second
    store = Store(settings.database_url, upgrade=False)
    assert schema.current(store.engine) == schema.head()
    store.close()
