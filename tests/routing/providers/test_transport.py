"""The outbound transport seam: the SSRF guard (routing/providers/ssrf.py), in the relay's
pooled client and in the httpx client for everything else, and that httpx client itself
(routing/providers/transport.py: GET, multipart, proxies, timeouts, CA bundles, the
synchronous twin).

The session allows private upstreams (tests/conftest.py: the fakes are on 127.0.0.1); tests
of the guard turn it back on with the `settings` fixture.
"""

import asyncio
import datetime
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpcore
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured

from routing.providers import http, ssrf, transport
from routing.providers.base import Timeouts, UpstreamFailure, UpstreamTimeout
from routing.providers.ssrf import Policy, UpstreamBlocked, check_address, classify
from tests.live import server_environment

FAST = Timeouts(connect=2, first_byte=2, idle=2, total=5)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch):
    """No proxy from the machine's environment, and no client, pool or check kept from an
    earlier test (each test runs its own event loop)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    http._pool = None
    transport._async_clients.clear()
    transport._async_loop = None
    transport._precheck_until.clear()
    transport.close_sync()
    yield
    http._pool = None
    transport._async_clients.clear()
    transport._async_loop = None
    transport._precheck_until.clear()
    transport.close_sync()


@pytest.fixture
def guarded(settings):
    """The guard as production has it: nothing private allowed."""
    settings.ORCA_UPSTREAM_ALLOW_PRIVATE = False
    settings.ORCA_UPSTREAM_ALLOWED_NETWORKS = []
    return settings


# --- the guard's rules ----------------------------------------------------------------------

REFUSED = [
    # IPv4
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("169.254.10.1", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "reserved"),
    ("198.18.0.1", "reserved"),
    ("203.0.113.9", "reserved"),
    # IPv6
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fd00:ec2::254", "cloud metadata"),
    ("fe80::1", "link-local"),
    ("fe80::1%1", "link-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "reserved"),
    ("2001::1", "reserved"),  # Teredo
    ("100::1", "reserved"),  # discard-only
    ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
    # IPv4 inside IPv6: mapped, NAT64, 6to4
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::ffff:100.64.0.1", "shared (CGNAT)"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("::ffff:224.0.0.1", "multicast"),
    ("64:ff9b::a00:1", "private"),
    ("64:ff9b::7f00:1", "loopback"),
    ("2002:a9fe:a9fe::1", "cloud metadata"),
    ("2002:c0a8:101::1", "private"),
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "172.32.0.1",  # just past 172.16.0.0/12
    "100.128.0.1",  # just past 100.64.0.0/10
    "2606:4700:4700::1111",
    "2a00:1450:4001:82a::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("address", "category"), REFUSED)
def test_each_non_public_range_is_refused(address, category):
    assert classify(address) == category
    with pytest.raises(UpstreamBlocked) as refused:
        check_address(address, host="upstream.example", rules=Policy(False, ()))
    assert refused.value.category == category
    assert f" {category} address, which is not allowed" in str(refused.value)
    assert "upstream.example" in str(refused.value)
    assert address not in str(refused.value)  # the message reaches API clients


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert classify(address) is None
    check_address(address, rules=Policy(False, ()))  # no exception


@pytest.mark.parametrize(("address", "category"), REFUSED)
def test_allow_private_allows_all_but_the_metadata_endpoints(address, category):
    # Link-local stays refused too: it holds other metadata services (ECS task credentials at
    # 169.254.170.2, EKS Pod Identity at 169.254.170.23 and fd00:ec2::23).
    rules = Policy(True, ())
    if category in ("cloud metadata", "link-local"):
        with pytest.raises(UpstreamBlocked, match="only listing its address in ORCA_UPSTREAM"):
            check_address(address, rules=rules)
    else:
        check_address(address, rules=rules)


@pytest.mark.parametrize("address", ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"])
def test_allow_private_never_opens_container_credential_endpoints(address):
    with pytest.raises(UpstreamBlocked, match="only listing its address"):
        check_address(address, rules=Policy(True, ()))
    check_address(address, rules=Policy(True, (ipaddress.ip_network(address),)))


def test_listed_networks_are_allowed_and_nothing_else(guarded):
    guarded.ORCA_UPSTREAM_ALLOWED_NETWORKS = ["10.0.0.0/24", "fd00:1::/64", "169.254.169.254"]
    rules = ssrf.policy()
    assert rules.allow_private is False
    for address in ("10.0.0.5", "::ffff:10.0.0.5", "fd00:1::7", "169.254.169.254"):
        check_address(address, rules=rules)
    for address in ("10.0.1.5", "fd00:2::7", "127.0.0.1", "100.100.100.200"):
        with pytest.raises(UpstreamBlocked):
            check_address(address, rules=rules)
    # A comma-separated string (an override in tests, say) is read the same way.
    guarded.ORCA_UPSTREAM_ALLOWED_NETWORKS = "192.168.7.0/24, 127.0.0.0/8"
    check_address("192.168.7.9")
    check_address("127.0.0.1")


def test_the_policy_is_the_same_object_until_the_settings_change(guarded):
    first = ssrf.policy()
    assert ssrf.policy() is first
    guarded.ORCA_UPSTREAM_ALLOW_PRIVATE = True
    assert ssrf.policy() is not first
    assert ssrf.policy().allow_private


def test_the_refusal_names_the_host_and_the_settings():
    with pytest.raises(UpstreamBlocked) as refused:
        check_address("10.0.0.9", host="vllm.internal", rules=Policy(False, ()))
    assert isinstance(refused.value, UpstreamFailure)  # the relay's 502 handling takes it
    assert str(refused.value) == (
        "upstream host vllm.internal resolves to a private address, which is not allowed for "
        "upstreams (set ORCA_UPSTREAM_ALLOW_PRIVATE=true or list its network in "
        "ORCA_UPSTREAM_ALLOWED_NETWORKS)"
    )


def test_the_guard_is_on_unless_the_environment_turns_it_off():
    """The session allows private upstreams; a process without the variables does not."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCA_UPSTREAM_")}
    env["DJANGO_SETTINGS_MODULE"] = "orca.settings"
    show = (
        "from django.conf import settings as s; "
        "print(s.ORCA_UPSTREAM_ALLOW_PRIVATE, s.ORCA_UPSTREAM_ALLOWED_NETWORKS, "
        "repr(s.ORCA_UPSTREAM_CA_BUNDLE))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", show], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.split() == ["False", "[]", "''"]
    assert server_environment()["ORCA_UPSTREAM_ALLOW_PRIVATE"] == "true"  # live servers


def test_bad_allowed_networks_stop_the_settings_from_loading():
    from orca.settings import _networks

    assert _networks([" 10.0.0.1/8 ", "", "fd00::/8"]) == ["10.0.0.0/8", "fd00::/8"]
    with pytest.raises(ImproperlyConfigured, match="ORCA_UPSTREAM_ALLOWED_NETWORKS"):
        _networks(["10.0.0.0/33"])


def test_an_unspecified_address_reads_as_such():
    with pytest.raises(UpstreamBlocked, match="resolves to an unspecified address"):
        check_address("0.0.0.0", rules=Policy(False, ()))


def test_a_name_that_resolves_to_loopback_is_refused(guarded):
    async def scenario():
        with pytest.raises(UpstreamBlocked, match="host localhost resolves to a loopback"):
            await ssrf.guard_host("localhost", 80)

    asyncio.run(scenario())
    with pytest.raises(UpstreamBlocked, match="loopback"):
        ssrf.guard_host_sync("localhost", 80)
    with pytest.raises(UpstreamFailure, match="unreachable: gaierror"):
        ssrf.guard_host_sync("no-such-host.invalid", 80)


# --- the relay's pooled client --------------------------------------------------------------


class RawServer:
    """A loopback server that answers every request with `reply` (or never, if None) and
    counts connections; `stall` writes the reply and then keeps the connection silent."""

    def __init__(self, reply: bytes | None, tls: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.tls = tls
        self.connections = 0
        self.heads: list[bytes] = []

    async def __aenter__(self) -> "RawServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()

    def url(self, path: str = "/x", host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":", 1)[1]))
                if self.reply is None:
                    await reader.read()
                    return
                writer.write(self.reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


JSON_200 = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)


CLOSING_200 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def test_the_pooled_client_refuses_loopback_before_connecting(guarded):
    async def scenario():
        async with RawServer(JSON_200) as server:
            for host in ("127.0.0.1", "localhost"):
                with pytest.raises(UpstreamBlocked) as refused:
                    await http.post(server.url(host=host), b"{}", {}, FAST)
                assert f"host {host} resolves to a loopback" in str(refused.value)
                assert "ORCA_UPSTREAM_ALLOW_PRIVATE" in str(refused.value)
            assert server.connections == 0
            assert http.pool().open == 0
            assert http.pool()._addresses == {}  # a refusal is not cached as an address

    asyncio.run(scenario())


def test_the_pooled_client_checks_once_per_dns_entry_and_again_when_the_rules_change(
    settings, monkeypatch
):
    checked = []
    real = ssrf.check_resolved

    def counting(host, addresses, rules=None):
        checked.append(host)
        real(host, addresses, rules)

    async def scenario():
        async with RawServer(CLOSING_200) as s:
            for _ in range(3):  # a new connection each time: the answer closes it
                response = await http.post(s.url(), b"{}", {}, FAST)
                await response.read()
                response.close()
            assert s.connections == 3
            assert checked == ["127.0.0.1"]  # resolved and checked once, reused after
            settings.ORCA_UPSTREAM_ALLOW_PRIVATE = False
            with pytest.raises(UpstreamBlocked):
                await http.post(s.url(), b"{}", {}, FAST)
            assert s.connections == 3

    monkeypatch.setattr(ssrf, "check_resolved", counting)
    asyncio.run(scenario())


def test_the_pooled_client_is_allowed_what_the_settings_allow(guarded):
    guarded.ORCA_UPSTREAM_ALLOWED_NETWORKS = ["127.0.0.0/8"]

    async def scenario():
        async with RawServer(JSON_200) as server:
            response = await http.post(server.url(), b"{}", {}, FAST)
            assert await response.read() == b'{"ok":true}'
            response.close()

    asyncio.run(scenario())


# --- httpx: a local aiohttp server ------------------------------------------------------------


class AppServer:
    """An aiohttp app on 127.0.0.1 in a thread of its own (the synchronous client blocks)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        app = web.Application()
        app.router.add_get("/items", self.items)
        app.router.add_delete("/items/{id}", self.delete)
        app.router.add_post("/upload", self.upload)
        app.router.add_get("/hang", self.hang)
        app.router.add_get("/stall", self.stall)
        app.router.add_get("/trickle", self.trickle)
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self._app, shutdown_timeout=0.5)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> "AppServer":
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            await self._runner.cleanup()
            left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in left:  # handlers still sleeping for clients that timed out
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def _record(self, request: web.Request) -> None:
        self.seen.append((request.method, request.path_qs, dict(request.headers)))

    async def items(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.json_response({"items": [1, 2], "query": dict(request.query)})

    async def delete(self, request: web.Request) -> web.Response:
        self._record(request)
        return web.Response(status=204)

    async def upload(self, request: web.Request) -> web.Response:
        self._record(request)
        parts = {}
        reader = await request.multipart()
        async for part in reader:
            body = await part.read()
            parts[part.name] = {
                "filename": part.filename,
                "type": part.headers.get("Content-Type"),
                "body": body.decode(),
            }
        return web.json_response(parts, status=201)

    async def hang(self, request: web.Request) -> web.Response:
        self._record(request)
        await asyncio.sleep(3)
        return web.Response(text="late")

    async def stall(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"first")
        await asyncio.sleep(3)
        return response

    async def trickle(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(60):
                await response.write(b".")
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass  # the client gave up (its total timeout)
        return response


@pytest.fixture(scope="module")
def app_server() -> Iterator[AppServer]:
    server = AppServer().start()
    yield server
    server.stop()


@pytest.fixture
def app(app_server) -> AppServer:
    app_server.seen.clear()
    return app_server


def test_get_and_delete_through_httpx(app):
    async def scenario():
        got = await transport.request(
            "GET",
            app.url("/items?page=2"),
            headers={"Authorization": "Bearer sk-test"},
            timeouts=FAST,
        )
        assert got.status == 200
        assert got.headers["content-type"].startswith("application/json")
        assert got.json() == {"items": [1, 2], "query": {"page": "2"}}
        deleted = await transport.request("DELETE", app.url("/items/7"), timeouts=FAST)
        assert (deleted.status, deleted.body) == (204, b"")

    asyncio.run(scenario())
    (method, path, headers), (second, deleted_path, _) = app.seen
    assert (method, path, second, deleted_path) == ("GET", "/items?page=2", "DELETE", "/items/7")
    assert headers["Authorization"] == "Bearer sk-test"
    assert headers["User-Agent"] == "orca-gateway"


def test_multipart_upload_through_httpx(app):
    async def scenario():
        return await transport.request(
            "POST",
            app.url("/upload"),
            data={"purpose": "batch"},
            files={"file": ("batch.jsonl", b'{"a":1}\n', "application/jsonl")},
            timeouts=FAST,
        )

    answer = asyncio.run(scenario())
    assert answer.status == 201
    assert answer.json() == {
        "purpose": {"filename": None, "type": None, "body": "batch"},
        "file": {"filename": "batch.jsonl", "type": "application/jsonl", "body": '{"a":1}\n'},
    }
    assert app.seen[0][2]["Content-Type"].startswith("multipart/form-data; boundary=")


def test_httpx_requests_to_private_addresses_are_refused(app, guarded):
    async def scenario():
        for url in (app.url("/items"), app.url("/items", host="localhost")):
            with pytest.raises(UpstreamBlocked, match="ORCA_UPSTREAM_ALLOW_PRIVATE"):
                await transport.request("GET", url, timeouts=FAST)
        with pytest.raises(UpstreamBlocked):
            await transport.request("POST", app.url("/upload"), files={"f": b"x"}, timeouts=FAST)

    asyncio.run(scenario())
    with pytest.raises(UpstreamBlocked, match="loopback"):
        transport.request_sync("GET", app.url("/items"), timeouts=FAST)
    assert app.seen == []  # nothing reached the server


def test_request_sync_get_and_multipart(app):
    got = transport.request_sync("GET", app.url("/items?x=1"), timeouts=FAST)
    assert (got.status, got.json()) == (200, {"items": [1, 2], "query": {"x": "1"}})
    uploaded = transport.request_sync(
        "POST", app.url("/upload"), files={"file": ("a.txt", b"hello")}, timeouts=FAST
    )
    assert uploaded.status == 201
    assert uploaded.json()["file"]["body"] == "hello"
    assert transport.sync_client() is transport.sync_client()  # one shared client
    assert [method for method, *_ in app.seen] == ["GET", "POST"]


@pytest.fixture
def fake_dns(monkeypatch):
    """Names the test makes up, resolved by the event loop to what the test says (a list
    of answers, one per lookup; the last repeats)."""
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = asyncio.base_events.BaseEventLoop.getaddrinfo

    async def getaddrinfo(loop, host, port, *args, **kwargs):
        if host not in answers:
            return await real(loop, host, port, *args, **kwargs)
        lookups.append(host)
        queue = answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", getaddrinfo)
    return answers, lookups


def test_httpx_connects_to_the_address_it_checked(app, fake_dns):
    answers, lookups = fake_dns
    answers["pinned.test"] = ["127.0.0.1"]  # known to no real resolver

    async def scenario():
        return await transport.request("GET", app.url("/items", host="pinned.test"), timeouts=FAST)

    assert asyncio.run(scenario()).status == 200
    assert app.seen[0][2]["Host"] == f"pinned.test:{app.port}"
    assert lookups == ["pinned.test", "pinned.test"]  # the pre-check, then the connection's


def test_a_dns_answer_that_changes_after_the_check_is_caught_at_connect(app, fake_dns, guarded):
    answers, lookups = fake_dns
    answers["rebind.test"] = ["93.184.215.14", "127.0.0.1"]  # public, then loopback

    async def scenario():
        with pytest.raises(UpstreamBlocked, match=r"rebind\.test resolves to a loopback"):
            await transport.request("GET", app.url("/items", host="rebind.test"), timeouts=FAST)

    asyncio.run(scenario())
    assert lookups == ["rebind.test", "rebind.test"]
    assert app.seen == []


# --- httpx: proxies from the environment ------------------------------------------------------


class RecordingProxy:
    """A forward proxy that records each request line and answers it itself."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    async def __aenter__(self) -> "RecordingProxy":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()

    async def _serve(self, reader, writer) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.lines.append(head.split(b"\r\n", 1)[0])
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nvia proxy")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def test_http_proxy_from_the_environment_is_used_and_the_target_still_checked(monkeypatch, guarded):
    async def scenario():
        async with RecordingProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            # A public target: checked and allowed; the proxy itself (on loopback) is the
            # operator's choice and not checked. Nothing listens at 1.1.1.1:81 for this test.
            got = await transport.request("GET", "http://1.1.1.1:81/ping", timeouts=FAST)
            assert (got.status, got.body) == (200, b"via proxy")
            assert proxy.lines == [b"GET http://1.1.1.1:81/ping HTTP/1.1"]
            # A private target through the proxy is refused before anything is sent.
            with pytest.raises(UpstreamBlocked, match=r"host 10\.1\.2\.3 resolves to a private"):
                await transport.request("GET", "http://10.1.2.3/internal", timeouts=FAST)
            assert len(proxy.lines) == 1

    asyncio.run(scenario())


def test_no_proxy_sends_the_request_direct(app, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    async def scenario():
        return await transport.request("GET", app.url("/items"), timeouts=FAST)

    assert asyncio.run(scenario()).status == 200
    assert len(app.seen) == 1


# --- httpx: timeouts and failures -------------------------------------------------------------


def test_waiting_for_the_headers_is_the_first_byte_timeout(app):
    quick = Timeouts(connect=1, first_byte=0.2, idle=5, total=5)

    async def scenario():
        with pytest.raises(UpstreamTimeout) as caught:
            await transport.request("GET", app.url("/hang"), timeouts=quick)
        assert caught.value.phase == "first byte"

    asyncio.run(scenario())
    with pytest.raises(UpstreamTimeout) as caught:
        transport.request_sync("GET", app.url("/hang"), timeouts=quick)
    assert caught.value.phase == "first byte"


def test_silence_in_the_body_is_the_idle_timeout_and_the_whole_is_the_total(app):
    async def scenario():
        idle = Timeouts(connect=1, first_byte=2, idle=0.2, total=5)
        async with transport.stream("GET", app.url("/stall"), timeouts=idle) as response:
            assert response.status == 200
            chunks = response.chunks()
            assert await anext(chunks) == b"first"
            with pytest.raises(UpstreamTimeout) as caught:
                await anext(chunks)
            assert caught.value.phase == "idle"
        total = Timeouts(connect=1, first_byte=2, idle=1, total=0.4)
        with pytest.raises(UpstreamTimeout) as caught:
            await transport.request("GET", app.url("/trickle"), timeouts=total)
        assert caught.value.phase == "total"

    asyncio.run(scenario())
    with pytest.raises(UpstreamTimeout) as caught:
        transport.request_sync(
            "GET", app.url("/stall"), timeouts=Timeouts(connect=1, first_byte=2, idle=0.2, total=5)
        )
    assert caught.value.phase == "idle"
    with pytest.raises(UpstreamTimeout) as caught:
        transport.request_sync(
            "GET",
            app.url("/trickle"),
            timeouts=Timeouts(connect=1, first_byte=2, idle=1, total=0.4),
        )
    assert caught.value.phase == "total"


def test_a_slow_connect_is_the_connect_timeout(app, monkeypatch):
    async def slow(*args, **kwargs):
        await asyncio.sleep(10)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", slow)

    async def scenario():
        with pytest.raises(UpstreamTimeout) as caught:
            await transport.request(
                "GET",
                app.url("/items"),
                timeouts=Timeouts(connect=0.2, first_byte=5, idle=5, total=5),
            )
        assert caught.value.phase == "connect"

    asyncio.run(scenario())


def test_failures_carry_no_url_credential_or_header_value():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    url = f"http://user:pw-SECRET@127.0.0.1:{closed}/v1?key=SECRET"

    async def scenario():
        with pytest.raises(UpstreamFailure) as refused:
            await transport.request("GET", url, headers={"x-api-key": "SECRET"}, timeouts=FAST)
        return refused.value

    refused = asyncio.run(scenario())
    assert str(refused).startswith("upstream unreachable: ")
    assert "SECRET" not in str(refused) and str(closed) not in str(refused)
    with pytest.raises(UpstreamFailure, match="unreachable") as sync_refused:
        transport.request_sync("GET", url, timeouts=FAST)
    assert "SECRET" not in str(sync_refused.value)
    with pytest.raises(UpstreamFailure, match="'Authorization' has a line break") as smuggled:
        transport.request_sync(
            "GET", url, headers={"Authorization": "Bearer SECRET\r\nX-Evil: 1"}, timeouts=FAST
        )
    assert "SECRET" not in str(smuggled.value)
    for bad in ("ftp://example.com/x", "http:///nohost", "http://h:99999/"):
        with pytest.raises(UpstreamFailure, match="upstream URL"):
            transport.request_sync("GET", bad, timeouts=FAST)


def test_closing_the_pooled_client_closes_the_httpx_clients(app):
    async def scenario():
        await transport.request("GET", app.url("/items"), timeouts=FAST)
        client = transport.async_client()
        assert transport.async_client() is client  # shared
        await http.close()
        assert client.is_closed
        assert transport._async_clients == {}
        # and a later call opens a new one
        assert (await transport.request("GET", app.url("/items"), timeouts=FAST)).status == 200

    asyncio.run(scenario())


# --- CA bundles -------------------------------------------------------------------------------


def self_signed(tmp_path) -> tuple[ssl.SSLContext, str]:
    """A server context for a self-signed localhost certificate, and the CA file trusting it."""
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
    ca = tmp_path / "ca.pem"
    ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    both = tmp_path / "server.pem"
    both.write_bytes(
        ca.read_bytes()
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(both))
    return server, str(ca)


def test_the_ca_bundle_setting_is_trusted_by_both_clients(tmp_path, settings):
    server_tls, ca = self_signed(tmp_path)
    https_200 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    async def scenario():
        async with RawServer(https_200, tls=server_tls) as server:
            url = server.url(host="localhost")
            with pytest.raises(UpstreamFailure, match="unreachable: SSLCertVerificationError"):
                await http.post(url, b"{}", {}, FAST)
            with pytest.raises(UpstreamFailure, match="unreachable: SSLCertVerificationError"):
                await transport.request("GET", url, timeouts=FAST)
            # per call: a bundle for one provider
            got = await transport.request("GET", url, timeouts=FAST, ca_bundle=ca)
            assert got.body == b"ok"
            settings.ORCA_UPSTREAM_CA_BUNDLE = ca  # for every upstream
            response = await http.post(url, b"{}", {}, FAST)
            assert await response.read() == b"ok"
            response.close()
            assert (await transport.request("GET", url, timeouts=FAST)).body == b"ok"
            # the system store is still trusted besides the bundle
            assert transport.tls_context(ca).cert_store_stats()["x509_ca"] > 1

    asyncio.run(scenario())
