"""The hand-built HTTP/1.1 transport of Framework360's integration-status PUTs.

Private to :mod:`tgflow.clients.framework360` (see ``_StatusLanes`` for why it exists).
"""

from __future__ import annotations

import asyncio
import logging
import time

import h11
import httpx

from tgflow import metrics
from tgflow.clients.errors import TransientError, error_from_response
from tgflow.clients.framework360_models import IntegrationStatus

API = "Framework360"
#: The status-PUT lanes log their requests here, like httpx logs the others (at DEBUG in tgflow's set-up).
log = logging.getLogger("tgflow.clients.framework360")


class _StaleConnection(Exception):
    """A reused keep-alive connection the server had closed: nothing of the answer arrived."""


class _Lane:
    """One keep-alive HTTP/1.1 connection for status PUTs, one request at a time (h11 on asyncio streams)."""

    def __init__(self, lanes: "_StatusLanes") -> None:
        self._lanes = lanes
        self._lock = asyncio.Lock()  # two pages' PUTs may share a lane
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn: h11.Connection | None = None
        self._idle_since = 0.0

    async def request(self, target: bytes, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        async with self._lock:
            try:
                if self._reusable():
                    try:
                        return await self._exchange(target, body, reused=True)
                    except _StaleConnection:
                        self.close()  # the PUT is idempotent and nothing was answered: once more, anew
                else:
                    self.close()
                await self._connect()
                return await self._exchange(target, body, reused=False)
            except BaseException:
                self.close()  # timed out, cancelled or broken mid-exchange: the connection's state is unknown
                raise

    def _reusable(self) -> bool:
        return (self._writer is not None and self._reader is not None and not self._reader.at_eof()
                and not self._writer.is_closing()
                and time.monotonic() - self._idle_since < self._lanes.keepalive_expiry)

    async def _connect(self) -> None:
        lanes = self._lanes
        async with asyncio.timeout(lanes.connect_timeout):
            self._reader, self._writer = await asyncio.open_connection(
                lanes.host, lanes.port, ssl=lanes.ssl_context,
                server_hostname=lanes.host if lanes.ssl_context is not None else None)
        self._conn = h11.Connection(h11.CLIENT)

    async def _exchange(self, target: bytes, body: bytes, *, reused: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        conn, reader, writer = self._conn, self._reader, self._writer
        assert conn is not None and reader is not None and writer is not None
        lanes = self._lanes
        request = h11.Request(method=b"PUT", target=target,
                              headers=[*lanes.headers, (b"Content-Length", b"%d" % len(body))])
        writer.write(conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        status, headers, chunks, received = 0, [], [], False
        async with asyncio.timeout(lanes.read_timeout):
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    try:
                        if not received:
                            await writer.drain()
                        data = await reader.read(65536)
                    except ConnectionError:
                        if reused and not received:
                            raise _StaleConnection() from None
                        raise
                    if not data and reused and not received:
                        raise _StaleConnection()
                    received = True
                    conn.receive_data(data)  # b"" is the end of the stream: h11 says whether that was allowed
                elif isinstance(event, h11.Response):
                    status, headers = event.status_code, list(event.headers)
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise h11.RemoteProtocolError("connection closed before the end of the answer")
                # h11.InformationalResponse (1xx): wait for the final answer
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            self._idle_since = time.monotonic()
        else:  # "Connection: close", HTTP/1.0 and the like
            self.close()
        return status, headers, b"".join(chunks)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = self._conn = None


class _StatusLanes:
    """Keep-alive connections for the integration-status PUTs, one request at a time on each.

    The contract has no batch form of the status, so a full import sends one PUT per new
    product (50,000 for 50,000 articles). Measured against the Framework360 simulator (event-loop
    CPU per PUT, 8 in flight): httpx's shared connection pool ~1.0 ms, and more as concurrency
    grows (every request walks all pooled connections, some twice, and probes each idle socket);
    one httpx client per lane 0.65 ms; one ``httpcore`` pool of one connection per lane 0.40 ms;
    this, ``h11`` (the HTTP/1.1 state machine under httpx) on a plain asyncio stream per lane,
    0.12 ms, while the simulator itself needs ~0.2 ms: the client, not the server, was the
    limit. Same headers, TLS defaults and timeouts as the client's httpx client; answers and
    failures are classified as ``send`` classifies them. A reused connection that the server
    had closed is replaced once (the PUT is idempotent); any other failure closes the connection.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        url = http.base_url
        https = url.scheme == "https"
        self.scheme, self.netloc = url.scheme, url.netloc.decode("ascii")
        self.host = url.raw_host.decode("ascii")
        self.port = url.port or (443 if https else 80)
        self.prefix = url.raw_path.rstrip(b"/")
        self.headers = [(b"Host", url.netloc), (b"Accept", b"application/json"),
                        (b"Authorization", http.headers["Authorization"].encode()),
                        (b"User-Agent", http.headers["User-Agent"].encode()),
                        (b"Content-Type", b"application/json")]
        self.connect_timeout = http.timeout.connect
        self.read_timeout = http.timeout.read
        self.keepalive_expiry = 5.0  # httpx's default
        self.ssl_context = httpx.create_ssl_context() if https else None
        self._lanes: list[_Lane] = []

    async def put(self, index: int, product_id: int, status: IntegrationStatus) -> None:
        while len(self._lanes) <= index:
            self._lanes.append(_Lane(self))
        target = b"%s/products/%d/integrations/totalgest" % (self.prefix, product_id)
        try:
            code, headers, content = await self._lanes[index].request(target, status.model_dump_json().encode())
        except (TimeoutError, OSError, h11.ProtocolError, asyncio.IncompleteReadError) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else "connection_error"
            metrics.api_call(API, kind)
            raise TransientError(api=API, message=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                                 code=kind) from None
        metrics.api_call(API, code)
        if log.isEnabledFor(logging.DEBUG):
            log.debug('HTTP Request: PUT %s://%s%s "HTTP/1.1 %d"', self.scheme, self.netloc, target.decode("ascii"),
                      code)
        if 200 <= code < 300:
            return
        if code == 429:
            metrics.rate_limited(API)
        raise error_from_response(API, httpx.Response(code, headers=headers, content=content,
                                                      request=httpx.Request("PUT", target.decode("ascii"))))

    def close(self) -> None:
        for lane in self._lanes:
            lane.close()
        self._lanes = []
