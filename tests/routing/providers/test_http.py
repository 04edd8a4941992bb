"""Orca's upstream HTTP client against scripted servers that write exact bytes.

The fake providers (tests/fakes) exercise it through every relay test; here each case
pins one piece of HTTP/1.1 the fakes never send: framing, reuse, broken connections,
encodings, timeouts, the connection limit, flow control and TLS.
"""

import asyncio
import datetime
import gzip
import ipaddress
import ssl
import time
from collections.abc import Awaitable, Callable

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from routing.providers import http, http_connection
from routing.providers.base import Timeouts, UpstreamFailure, UpstreamTimeout

FAST = Timeouts(connect=2, first_byte=2, idle=2, total=5)
JSON_200 = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


class Server:
    """A loopback server running `script` for every connection; records what arrives."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> "Server":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()

    def url(self, path: str = "/v1/chat/completions", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer, self)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def answer_each_with(*responses: bytes) -> Script:
    """Answer every request on a connection with the next of `responses` (the last
    repeats), keeping the connection open."""

    async def script(reader, writer, server):
        index = 0
        while True:
            await server.read_request(reader)
            writer.write(responses[min(index, len(responses) - 1)])
            await writer.drain()
            index += 1

    return script


def answer_once_with(reply: bytes) -> Script:
    """Answer the connection's first request with `reply`, then close it."""

    async def script(reader, writer, server):
        await server.read_request(reader)
        writer.write(reply)
        await writer.drain()

    return script


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """The standard loop, and uvloop as `make serve` runs it."""
    return asyncio.run if request.param == "asyncio" else uvloop.run


@pytest.fixture(autouse=True)
def fresh_pool():
    http._pool = None
    yield
    http._pool = None


async def post(server: Server, timeouts: Timeouts = FAST, headers=None, **url) -> bytes:
    response = await http.post(
        server.url(**url), b'{"q":1}', headers or {"Content-Type": "application/json"}, timeouts
    )
    try:
        assert response.status == 200
        return await response.read()
    finally:
        response.close()


def test_request_bytes_and_a_content_length_body():
    async def scenario():
        async with Server(answer_each_with(JSON_200)) as server:
            body = await post(server, headers={"Authorization": "Bearer k", "X-Mine": "1"})
            assert body == b'{"ok":true}'
            head, _, sent = server.requests[0].partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
            assert f"Host: 127.0.0.1:{server.port}".encode() in lines
            assert b"Authorization: Bearer k" in lines and b"X-Mine: 1" in lines
            assert b"Content-Length: 7" in lines and b"Accept-Encoding: identity" in lines
            assert sent == b'{"q":1}'

    asyncio.run(scenario())


def test_keep_alive_connections_are_reused_one_at_a_time(run):
    async def scenario():
        async with Server(answer_each_with(JSON_200)) as server:
            for _ in range(5):
                assert await post(server) == b'{"ok":true}'
            assert server.connections == 1
            # closing a response read to its end leaves its (pooled) connection alone
            first = await http.post(server.url(), b"{}", {}, FAST)
            await first.read()
            second = await http.post(server.url(), b"{}", {}, FAST)
            first.close()
            assert await second.read() == b'{"ok":true}'
            assert server.connections == 1
            # two at once need two connections; both go back to the pool
            await asyncio.gather(post(server), post(server))
            assert server.connections == 2
            assert len(http.pool().idle[("http", "127.0.0.1", server.port)]) == 2

    run(scenario())


def test_chunked_stream_arrives_chunk_by_chunk():
    release = asyncio.Event()

    async def script(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst \r\n")
        await writer.drain()
        await release.wait()  # the client must see the first chunk before the second exists
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async def scenario():
        async with Server(script) as server:
            response = await http.post(server.url(), b"{}", {}, FAST)
            chunks = response.chunks()
            assert await anext(chunks) == b"first "
            release.set()
            assert [chunk async for chunk in chunks] == [b"second"]
            response.close()
            assert http.pool().idle[("http", "127.0.0.1", server.port)]  # pooled, not dropped

    asyncio.run(scenario())


def test_body_ended_by_the_server_closing_and_connection_close():
    async def close_delimited(reader, writer, server):
        await server.read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a":')
        await writer.drain()
        writer.write(b"1}")
        writer.close()

    connection_close = answer_once_with(
        JSON_200.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    )

    async def scenario():
        async with Server(close_delimited) as server:
            assert await post(server) == b'{"a":1}'
            assert await post(server) == b'{"a":1}'
            assert server.connections == 2
        async with Server(connection_close) as server:
            await post(server)
            await post(server)
            assert server.connections == 2

    asyncio.run(scenario())


def test_a_connection_the_server_closed_while_idle_is_not_reused():
    async def scenario():
        async with Server(answer_once_with(JSON_200)) as server:
            await post(server)
            await asyncio.sleep(0.05)  # the server's FIN arrives while the connection idles
            assert await post(server) == b'{"ok":true}'
            assert server.connections == 2
            assert http.pool().open == 1

    asyncio.run(scenario())


def test_idle_connections_past_the_keepalive_are_closed(monkeypatch):
    monkeypatch.setattr(http, "KEEPALIVE_SECONDS", 0.05)

    async def scenario():
        async with Server(answer_each_with(JSON_200)) as server:
            await post(server)
            await asyncio.sleep(0.12)  # the sweep has run
            assert http.pool().open == 0
            assert not any(http.pool().idle.values())
            await post(server)
            assert server.connections == 2

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"", "closed the connection before answering"),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"cut', "broke mid-body"),
        (b"SMTP ready\r\n\r\n", "broke the HTTP protocol"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nxx",
            "'br' encoding",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
            "corrupt compressed body",
        ),
    ],
)
def test_broken_answers_are_upstream_failures(reply, message):
    async def scenario():
        async with Server(answer_once_with(reply)) as server:
            with pytest.raises(UpstreamFailure, match=message):
                await post(server)
            assert http.pool().open == 0  # the broken connection is gone

    asyncio.run(scenario())


def test_closing_a_failed_response_spares_the_connection_that_moved_on():
    cut = gzip.compress(b'{"long": "answer"}')[:14]  # a gzip stream that stops short
    corrupt = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 14\r\n\r\n" + cut

    async def scenario():
        async with Server(answer_each_with(corrupt, JSON_200)) as server:
            first = await http.post(server.url(), b"{}", {}, FAST)
            with pytest.raises(UpstreamFailure, match="truncated or corrupt"):
                await first.read()  # the framing was fine, so the connection is pooled
            second = await http.post(server.url(), b"{}", {}, FAST)
            first.close()
            assert await second.read() == b'{"ok":true}'
            assert server.connections == 1

    asyncio.run(scenario())


def test_gzip_bodies_are_decoded_and_interim_responses_skipped():
    packed = gzip.compress(b'{"zipped":true}')
    reply = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
        b"Content-Length: %d\r\n\r\n" % len(packed) + packed
    )

    async def scenario():
        async with Server(answer_each_with(reply)) as server:
            response = await http.post(server.url(), b"{}", {}, FAST)
            assert await response.read() == b'{"zipped":true}'
            assert response.headers["set-cookie"] == "a=1, b=2"
            assert response.headers["content-encoding"] == "gzip"

    asyncio.run(scenario())


def test_a_header_with_a_line_break_is_refused_before_sending():
    async def scenario():
        async with Server(answer_each_with(JSON_200)) as server:
            headers = {"Authorization": "Bearer k\r\nX-Injected: 1"}
            with pytest.raises(UpstreamFailure, match="'Authorization' has a line break"):
                await post(server, headers=headers)
            assert server.requests == []

    asyncio.run(scenario())


def test_unsupported_urls_are_refused():
    async def scenario():
        for url in ("ftp://example.com/x", "http:///nohost", "http://h/with space"):
            with pytest.raises(UpstreamFailure):
                await http.post(url, b"{}", {}, FAST)

    asyncio.run(scenario())


def test_refused_connection_is_unreachable():
    async def scenario():
        async with Server(answer_each_with(JSON_200)) as server:
            url = server.url()
        with pytest.raises(UpstreamFailure, match="unreachable: ConnectionRefusedError"):
            await http.post(url, b"{}", {}, FAST)
        assert http.pool().open == 0

    asyncio.run(scenario())


def never_answer() -> Script:
    async def script(reader, writer, server):
        await server.read_request(reader)
        await reader.read()  # until the client goes away

    return script


def test_first_byte_and_total_deadlines(run):
    async def scenario():
        async with Server(never_answer()) as server:
            quick = Timeouts(connect=1, first_byte=0.1, idle=1, total=5)
            with pytest.raises(UpstreamTimeout) as caught:
                await post(server, quick)
            assert caught.value.phase == "first byte"
            short_total = Timeouts(connect=1, first_byte=1, idle=1, total=0.1)
            with pytest.raises(UpstreamTimeout) as caught:
                await post(server, short_total)
            assert caught.value.phase == "total"
            await asyncio.sleep(0.05)
            assert http.pool().open == 0  # a timed-out exchange never returns to the pool

    run(scenario())


def test_idle_deadline_between_chunks():
    async def script(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")
        await writer.drain()
        await reader.read()

    async def scenario():
        async with Server(script) as server:
            timeouts = Timeouts(connect=1, first_byte=1, idle=0.1, total=5)
            response = await http.post(server.url(), b"{}", {}, timeouts)
            chunks = response.chunks()
            assert await anext(chunks) == b"hi"
            with pytest.raises(UpstreamTimeout) as caught:
                await anext(chunks)
            assert caught.value.phase == "idle"
            response.close()

    asyncio.run(scenario())


def test_connect_deadline(monkeypatch):
    async def slow_connect(*args, **kwargs):
        await asyncio.sleep(10)

    monkeypatch.setattr(http.aiohappyeyeballs, "start_connection", slow_connect)

    async def scenario():
        timeouts = Timeouts(connect=0.1, first_byte=2, idle=1, total=5)
        with pytest.raises(UpstreamTimeout) as caught:
            await http.post("http://127.0.0.1:9/x", b"{}", {}, timeouts)
        assert caught.value.phase == "connect"
        assert http.pool().open == 0

    asyncio.run(scenario())


def test_the_connection_limit_queues_callers(settings):
    settings.ORCA_UPSTREAM_MAX_CONNECTIONS = 1

    async def slow(reader, writer, server):
        while True:
            await server.read_request(reader)
            await asyncio.sleep(0.05)
            writer.write(JSON_200)
            await writer.drain()

    async def scenario():
        async with Server(slow) as server, Server(answer_each_with(JSON_200)) as other:
            results = await asyncio.gather(*(post(server) for _ in range(4)))
            assert results == [b'{"ok":true}'] * 4
            assert server.connections == 1
            # at the limit, the idle connection to `server` makes way for one to `other`
            await post(other)
            assert http.pool().open == 1 and other.connections == 1
            # a caller waiting for a slot still runs out of first-byte time
            blocker = asyncio.create_task(post(other))
            await asyncio.sleep(0)
            quick = Timeouts(connect=1, first_byte=0.01, idle=1, total=5)
            with pytest.raises(UpstreamTimeout):
                await post(server, quick)
            await blocker

    asyncio.run(scenario())


def test_unread_stream_pauses_the_socket_until_the_caller_catches_up():
    piece = b"x" * 65536
    count = (http_connection.HIGH_WATER // len(piece)) * 3

    async def script(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(piece) * count))
        for _ in range(count):
            writer.write(piece)
            await writer.drain()

    async def scenario():
        async with Server(script) as server:
            response = await http.post(server.url(), b"{}", {}, FAST)
            await asyncio.sleep(0.3)
            conn = response._conn
            assert not conn.transport.is_reading()
            assert response._buffered < 2 * http_connection.HIGH_WATER
            total = 0
            async for chunk in response.chunks():
                total += len(chunk)
            assert total == len(piece) * count

    asyncio.run(scenario())


def test_unsolicited_bytes_on_an_idle_connection_drop_it():
    async def chatty(reader, writer, server):
        await server.read_request(reader)
        writer.write(JSON_200)
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(JSON_200)  # nobody asked
        await writer.drain()
        await server.read_request(reader)

    async def scenario():
        async with Server(chatty) as server:
            await post(server)
            await asyncio.sleep(0.1)
            assert http.pool().open == 0
            assert await post(server) == b'{"ok":true}'
            assert server.connections == 2

    asyncio.run(scenario())


def self_signed() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    import tempfile

    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as handle:
        handle.write(pem)
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        handle.flush()
        server.load_cert_chain(handle.name)
    client = ssl.create_default_context(cadata=pem.decode())
    return server, client


def test_https_verifies_the_certificate(monkeypatch, run):
    server_tls, trusting = self_signed()

    async def scenario():
        async with Server(answer_each_with(JSON_200), tls=server_tls) as server:
            with pytest.raises(UpstreamFailure, match="unreachable: SSLCertVerificationError"):
                await post(server, host="localhost")  # the system store does not know it
            monkeypatch.setattr(http, "_tls", lambda: trusting)
            assert await post(server, host="localhost") == b'{"ok":true}'
            assert await post(server, host="localhost") == b'{"ok":true}'
            assert server.connections == 1  # the refused handshake never reached the server

    run(scenario())


@pytest.mark.parametrize("tls", [False, True])
def test_a_call_cancelled_as_its_connection_opens_frees_its_slot_once(monkeypatch, tls, run):
    server_tls, trusting = self_signed()
    monkeypatch.setattr(http, "_tls", lambda: trusting)
    opened = []
    real_made = http_connection.UpstreamConnection.connection_made

    def made_then_cancelled(conn, transport):
        real_made(conn, transport)
        opened.append(conn)
        caller.cancel()

    caller: asyncio.Task

    async def scenario():
        nonlocal caller
        async with Server(answer_each_with(JSON_200), tls=server_tls if tls else None) as server:
            monkeypatch.setattr(
                http_connection.UpstreamConnection, "connection_made", made_then_cancelled
            )
            caller = asyncio.create_task(post(server, host="localhost"))
            with pytest.raises(asyncio.CancelledError):
                await caller
            await asyncio.sleep(0.1)  # connection_lost has run
            assert opened and opened[0].closed
            assert http.pool().open == 0  # not -1: counted down once

    run(scenario())


def test_a_caller_woken_then_cancelled_passes_its_turn_on(settings):
    settings.ORCA_UPSTREAM_MAX_CONNECTIONS = 1
    hold = asyncio.Event()

    async def script(reader, writer, server):
        while True:
            await server.read_request(reader)
            if len(server.requests) == 1:
                await hold.wait()
            writer.write(JSON_200)
            await writer.drain()

    async def scenario():
        async with Server(script) as server:
            holder = asyncio.create_task(post(server))
            await asyncio.sleep(0.05)
            first = asyncio.create_task(post(server))
            second = asyncio.create_task(post(server))
            await asyncio.sleep(0.05)
            connections = http.pool()
            assert len(connections.waiters) == 2
            woken = connections.waiters[0]
            woken.add_done_callback(lambda _: first.cancel())  # cancelled as it is woken
            hold.set()
            await holder
            started = time.monotonic()
            assert await second == b'{"ok":true}'
            assert time.monotonic() - started < 0.5  # not its 2-s first-byte deadline
            with pytest.raises(asyncio.CancelledError):
                await first

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Encoding: gzip\r\nRetry-After: 7\r\n"
        b"Content-Length: 0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\n\r\n",
    ],
)
def test_an_empty_compressed_body_is_empty_not_corrupt(reply):
    async def scenario():
        async with Server(answer_each_with(reply)) as server:
            response = await http.post(server.url(), b"{}", {}, FAST)
            assert await response.read() == b""
            assert response.status in (429, 204)

    asyncio.run(scenario())


def test_trailer_fields_are_not_headers():
    reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Retry-After\r\n\r\n"
        b"2\r\nok\r\n0\r\nRetry-After: 99\r\nContent-Encoding: gzip\r\n\r\n"
    )

    async def scenario():
        async with Server(answer_each_with(reply)) as server:
            response = await http.post(server.url(), b"{}", {}, FAST)
            assert await response.read() == b"ok"
            assert "retry-after" not in response.headers

    asyncio.run(scenario())


def test_runaway_headers_are_cut_off():
    async def script(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for index in range(5000):
            writer.write(b"X-Filler-%d: %s\r\n" % (index, b"v" * 100))
            await writer.drain()
        await reader.read()

    async def scenario():
        async with Server(script) as server:
            with pytest.raises(UpstreamFailure, match="64 KiB of headers"):
                await post(server)

    asyncio.run(scenario())


def test_an_answer_before_the_whole_request_went_out_retires_the_connection():
    big = b"x" * (32 << 20)  # far more than the socket buffers hold

    async def early_401(reader, writer, server):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\nno")
        await writer.drain()
        await asyncio.sleep(0.5)  # read nothing more, so the client is still writing

    async def scenario():
        async with Server(early_401) as server:
            response = await http.post(server.url(), big, {}, FAST)
            assert response.status == 401 and await response.read() == b"no"
            assert not any(http.pool().idle.values())  # not handed to the next call

    asyncio.run(scenario())


def test_a_released_stream_finishes_arriving_and_its_connection_is_reused(run):
    async def script(reader, writer, server):
        while True:
            await server.read_request(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\ne\r\ndata: [DONE]\n\n\r\n"
            )
            await writer.drain()
            await asyncio.sleep(0.05)  # the transfer's end comes a little later
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async def scenario():
        async with Server(script) as server:
            for _ in range(3):
                response = await http.post(server.url(), b"{}", {}, FAST)
                chunks = response.chunks()
                assert await anext(chunks) == b"data: [DONE]\n\n"
                response.release()
                response.close()  # as the pipeline's finally does: keeps the release
                await asyncio.sleep(0.1)
            assert server.connections == 1

    run(scenario())


def test_a_released_response_that_lingers_is_cut(monkeypatch):
    monkeypatch.setattr(http_connection, "DRAIN_SECONDS", 0.1)

    async def endless(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"4\r\ntick\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)

    async def scenario():
        async with Server(endless) as server:
            response = await http.post(server.url(), b"{}", {}, FAST)
            response.release()
            await asyncio.sleep(0.3)
            assert response._conn.closed and http.pool().open == 0

    asyncio.run(scenario())


def test_urls_with_bad_ports_or_international_hosts():
    assert http.target("https://bücher.example/v1").head.startswith(
        b"POST /v1 HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n"
    )
    with pytest.raises(UpstreamFailure, match="not valid"):
        http.target("http://h:99999/")
