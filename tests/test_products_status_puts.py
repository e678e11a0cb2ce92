"""The product list's status column: written inside the import's ``/products/batch`` items (contract 1.1),
``Framework360Client.set_product_statuses`` (one PUT per product, for refusals and resends) and the import's
``pending`` protocol (a link whose status PUT is not confirmed is sent again)."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal

import httpx
import pytest

from tests.test_product_import import CODES, assert_mirrors
from tgflow.clients.errors import NotFoundError, RateLimitedError, TransientError
from tgflow.clients.framework360 import Framework360Client, IntegrationStatus, ProductInput
from tgflow.service.products import start_import
from tgflow.store import products as pstore


async def _products(f360: Framework360Client, n: int) -> list[int]:
    result = await f360.batch_products(create=[
        ProductInput(sku=f"SKU-{i}", name=f"P{i}", price=Decimal("1.50"), vat_rate=Decimal("8.1")) for i in range(n)])
    return [r.id for r in result.create]


async def test_every_status_is_set_once(settings, f360_sim):
    async with Framework360Client(settings.f360) as f360:
        ids = await _products(f360, 60)
        f360_sim.sim.reset_stats()
        sent: list[int] = []
        await f360.set_product_statuses([(pid, IntegrationStatus(status="linked", remote_id=str(pid))) for pid in ids],
                                        concurrency=4, sent=sent)
        assert sorted(sent) == list(range(60))
        await f360.set_product_statuses([(ids[0], IntegrationStatus(status="error", message="é ünïcode"))],
                                        concurrency=4)
    assert f360_sim.sim.stats()["product_integration_puts"] == 61
    for i, pid in enumerate(ids[1:], start=1):
        assert f360_sim.sim.product_by_sku(f"SKU-{i}")["integrations"]["totalgest"]["remote_id"] == str(pid)
    assert f360_sim.sim.product_by_sku("SKU-0")["integrations"]["totalgest"]["message"] == "é ünïcode"


async def test_failures_are_classified_and_stop_the_lanes(settings, f360_sim):
    linked = IntegrationStatus(status="linked")
    async with Framework360Client(settings.f360) as f360:
        ids = await _products(f360, 3)
        sent: list[int] = []
        with pytest.raises(NotFoundError):
            await f360.set_product_statuses([(ids[0], linked), (ids[1], linked), (999_999, linked), (ids[2], linked)],
                                            concurrency=1, sent=sent)
        assert sent == [0, 1]  # the one after the failure was not sent
        f360_sim.sim.set_faults(rate_limit_burst=1, retry_after_seconds=3)
        with pytest.raises(RateLimitedError) as limited:
            await f360.set_product_statuses([(ids[0], linked)])
        assert limited.value.retry_after == 3
        f360_sim.sim.set_faults(error_rate=1.0)
        with pytest.raises(TransientError) as failed:
            await f360.set_product_statuses([(ids[0], linked)])
        assert failed.value.status in (500, 503)
        f360_sim.sim.set_faults()
        await f360.set_product_statuses([(ids[2], linked)])  # the lane recovers
    f360_sim.sim.set_faults(timeout_rate=1.0, timeout_seconds=2)
    try:
        async with Framework360Client(settings.f360.model_copy(update={"timeout_seconds": 0.3})) as f360:
            with pytest.raises(TransientError) as timed_out:
                await f360.set_product_statuses([(ids[0], linked)])
        assert timed_out.value.code == "timeout"
    finally:
        f360_sim.sim.set_faults()
    from tgflow.sim.server import free_port

    gone = settings.f360.model_copy(update={"base_url": f"http://127.0.0.1:{free_port()}/api/v1"})
    async with Framework360Client(gone) as f360:
        with pytest.raises(TransientError) as refused:
            await f360.set_product_statuses([(1, linked)])
    assert refused.value.code == "connection_error"


async def test_a_server_that_closes_each_connection_still_gets_every_put_once(settings):
    """Keep-alive connections the server drops between requests (without saying so) are replaced."""
    seen: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next(int(v) for k, _, v in (line.partition(": ") for line in lines[1:]) if k.lower() == "content-length")
        body = json.loads(await reader.readexactly(length))
        assert body["status"] == "linked"
        seen.append(int(lines[0].split()[1].split("/")[-3]))
        answer = b'{"status": "linked"}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(answer), answer))
        await writer.drain()
        writer.close()  # one answer per connection, though HTTP/1.1 says it stays open

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        config = settings.f360.model_copy(update={"base_url": f"http://127.0.0.1:{port}/api/v1"})
        async with Framework360Client(config) as f360:
            for _ in range(3):  # a stale connection is met either when the next PUT starts or while it is sent
                await f360.set_product_statuses([(i, IntegrationStatus(status="linked")) for i in range(1, 21)],
                                                concurrency=3)
                await asyncio.sleep(0.05)
    finally:
        server.close()
        await server.wait_closed()
    assert sorted(seen) == sorted(list(range(1, 21)) * 3)


async def test_an_injected_transport_carries_the_puts(settings):
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json=json.loads(request.content))

    async with Framework360Client(settings.f360, transport=httpx.MockTransport(handler)) as f360:
        await f360.set_product_statuses([(i, IntegrationStatus(status="linked")) for i in (1, 2, 3)])
    assert sorted(calls) == [f"PUT /api/v1/products/{i}/integrations/totalgest" for i in (1, 2, 3)]


async def test_import_with_failing_framework360_writes_ends_with_every_status_confirmed(
        client, settings, tg_sim, f360_sim, store, worker):
    """Status PUTs that fail leave their links pending; the retried attempt sends them again, so the
    end state is every product linked in Framework360's status column and in the store."""
    tg, f360 = tg_sim.sim, f360_sim.sim
    settings.products.article_page_size = 40
    settings.products.retry_initial_seconds = 0.1
    settings.products.retry_max_seconds = 0.3
    f360.set_faults(error_rate=0.05)
    try:
        report = await start_import(client, settings, full=True, wait=True,
                                    workflow_id=f"product-import-test-{uuid.uuid4().hex[:10]}")
    finally:
        f360.set_faults()
    assert report.errors == 0, report
    assert len(f360.products()) == 300
    for code in CODES:
        assert_mirrors(tg, f360, code)  # includes the status column: linked
    shop = settings.totalgest.shop_id
    assert len(pstore.list_links(store, shop, status="linked")) == 300
    assert pstore.list_links(store, shop, status="pending") == []


async def test_next_run_sends_the_status_puts_a_failed_pass_left_unconfirmed(
        client, settings, tg_sim, f360_sim, store, worker):
    """A pass that failed for good after storing its links leaves them ``pending`` with the column unwritten;
    the next run (incremental, nothing changed in TotalGest) sends exactly those PUTs."""
    import sqlalchemy as sa

    from tgflow.store.models import ProductLink

    tg, f360 = tg_sim.sim, f360_sim.sim
    shop = settings.totalgest.shop_id
    report = await start_import(client, settings, full=True, wait=True,
                                workflow_id=f"product-import-test-{uuid.uuid4().hex[:10]}")
    assert report.errors == 0 and len(f360.products()) == 300
    # The state such a pass leaves: links stored pending, their status column still "not linked"; one of them
    # points at a product that is gone from Framework360 since (404 on its PUT).
    unconfirmed = CODES[:5]
    gone = CODES[5]
    with store.session() as s:
        s.execute(sa.update(ProductLink).where(ProductLink.shop_id == shop, ProductLink.sku.in_(unconfirmed))
                  .values(status="pending"))
        s.execute(sa.update(ProductLink).where(ProductLink.shop_id == shop, ProductLink.sku == gone)
                  .values(status="pending", f360_product_id=987654))
    async with Framework360Client(settings.f360) as client360:
        for code in unconfirmed:
            await client360.set_product_status(f360.product_by_sku(code)["id"], IntegrationStatus(status="not_linked"))
    f360.reset_stats()

    report = await start_import(client, settings, wait=True,
                                workflow_id=f"product-import-test-{uuid.uuid4().hex[:10]}")
    assert report.errors == 0, report
    assert f360.stats()["product_integration_puts"] == len(unconfirmed)  # the 404 is not counted as stored
    assert f360.stats()["batch_calls"] == 0
    for code in CODES:
        assert_mirrors(tg, f360, code)  # the status column reads linked again for the five
    assert pstore.list_links(store, shop, status="pending") == []
    assert len(pstore.list_links(store, shop, status="linked")) == 299
    # The vanished product does not fail this pass or the next ones: its link is unlinked, with the reason.
    link = pstore.load_links(store, shop, [gone])[gone]
    assert (link.status, link.f360_product_id) == ("not_linked", None)
    assert "not in Framework360 any more" in link.last_error
    again = await start_import(client, settings, wait=True,
                               workflow_id=f"product-import-test-{uuid.uuid4().hex[:10]}")
    assert again.errors == 0, again


@pytest.fixture
def tls_files(tmp_path):
    """A self-signed certificate for 127.0.0.1 (made with the openssl command line tool)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: no test certificate can be made")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return str(cert), str(key)


async def test_status_puts_over_https_verify_the_server_like_httpx(settings, tls_files, monkeypatch):
    """Framework360 is HTTPS in production: status PUTs verify the server (``SSL_CERT_FILE`` honoured), so a
    certificate httpx trusts works and one it does not trust is refused, and nothing is written then."""
    from tgflow.sim.framework360 import Framework360Sim, create_app
    from tgflow.sim.server import ServerThread

    cert, _ = tls_files
    sim = Framework360Sim(orders=0, seed=1)
    try:
        with ServerThread(create_app(sim), tls=tls_files) as server:
            settings.f360.base_url = server.url + "/api/v1"
            assert settings.f360.base_url.startswith("https://127.0.0.1:")
            monkeypatch.setenv("SSL_CERT_FILE", cert)
            async with Framework360Client(settings.f360) as f360:
                ids = await _products(f360, 12)
                sent: list[int] = []
                await f360.set_product_statuses(
                    [(pid, IntegrationStatus(status="linked", remote_id=f"TG-{pid}")) for pid in ids], sent=sent)
                assert sorted(sent) == list(range(12))
            stored = [sim.product_by_sku(f"SKU-{i}") for i in range(12)]
            assert [(p["id"], p["integrations"]["totalgest"]["status"], p["integrations"]["totalgest"]["remote_id"])
                    for p in stored] == [(pid, "linked", f"TG-{pid}") for pid in ids]

            monkeypatch.delenv("SSL_CERT_FILE")  # now only the public CAs are trusted: a self-signed server is not
            async with Framework360Client(settings.f360) as f360:
                with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
                    await f360.set_product_statuses([(ids[0], IntegrationStatus(status="error"))])
            assert sim.product_by_sku("SKU-0")["integrations"]["totalgest"]["status"] == "linked"
    finally:
        sim.close()


async def test_import_writes_the_status_column_inside_its_batch_items(client, settings, tg_sim, f360_sim, store, worker):
    """Contract 1.1: creates carry ``integrations.totalgest`` (no PUT per product); a link not confirmed
    ``linked`` (an attempt that died after its batch) is confirmed by its next batch item: an update carries
    the status with the changed fields, an unchanged product gets a status-only update; still no PUT."""
    import sqlalchemy as sa

    from tgflow.store.models import ProductLink

    tg, f360 = tg_sim.sim, f360_sim.sim
    shop = settings.totalgest.shop_id
    settings.products.article_page_size = 120
    report = await start_import(client, settings, full=True, wait=True,
                                workflow_id=f"product-import-test-{uuid.uuid4().hex[:10]}")
    assert (report.created, report.errors) == (300, 0), report
    stats = f360.stats()
    assert stats["product_integration_puts"] == 0
    assert stats["batch_integration_sets"] == 300
    for code in CODES:
        column = f360.product_by_sku(code)["integrations"]["totalgest"]
        assert column["status"] == "linked" and column["remote_id"] == str(tg.article(code)["id"]), code
    assert len(pstore.list_links(store, shop, status="linked")) == 300

    renamed, same = CODES[10:12], CODES[20:22]
    with store.session() as s:
        s.execute(sa.update(ProductLink).where(ProductLink.shop_id == shop, ProductLink.sku.in_(renamed + same))
                  .values(status="pending"))
    async with Framework360Client(settings.f360) as client360:
        for code in renamed + same:
            await client360.set_product_status(f360.product_by_sku(code)["id"], IntegrationStatus(status="not_linked"))
    tg.touch_articles(renamed, name="Renamed article")
    tg.touch_articles(same)  # read again, nothing to change but the status column
    f360.reset_stats()
    report = await start_import(client, settings, wait=True,
                                workflow_id=f"product-import-test-{uuid.uuid4().hex[:10]}")
    assert (report.updated, report.errors) == (2, 0), report
    stats = f360.stats()
    assert stats["product_integration_puts"] == 0
    assert stats["batch_integration_sets"] == 4 and stats["products_updated"] == 4
    for code in renamed + same:
        assert_mirrors(tg, f360, code)  # content and the status column: linked
    assert f360.product_by_sku(renamed[0])["name"] == "Renamed article"
    assert pstore.list_links(store, shop, status="pending") == []
    assert len(pstore.list_links(store, shop, status="linked")) == 300
