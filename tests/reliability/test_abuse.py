"""Cheap denial of service before authentication, against the live server (uvicorn with
orca.server's protocol, as `make serve` runs it): oversized and slow request heads and
bodies, large bodies behind a bad key, and NUL or invalid UTF-8 in every path parameter and
in a query parameter of every route, generated from the URLconfs."""

import re
import secrets
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from orca.ops import ROUTES as OPS_ROUTES
from routing.proxy.routes import relay_urlpatterns
from tests.live import LiveServer
from workspaces import services
from workspaces.models import Membership, Role

QUICK = 1.0  # the short client timeouts of the `quick` server, in seconds
BAD_KEY = "sk-orca-" + "x" * 40
CHAT = "/v1/chat/completions"


# --- raw HTTP -------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after answering
    elapsed: float  # seconds from the call until the answer was complete


def connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_answer(sock: socket.socket, started: float, timeout: float = 10) -> Answer:
    """One response with a Content-Length body, then whether the connection closed."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the body"
        body += chunk
    elapsed = time.monotonic() - started
    sock.settimeout(2)
    try:
        closed = sock.recv(1) == b""
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        closed = False
    return Answer(status, headers, body[:length], closed, elapsed)


def request_head(path: str, *headers: str, method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(server: LiveServer, data: bytes) -> Answer:
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(data)
        return read_answer(sock, started)


@pytest.fixture(scope="module")
def quick(live, tmp_path_factory) -> Iterator[LiveServer]:
    """A gateway with client timeouts short enough to wait for in a test."""
    log_path = tmp_path_factory.mktemp("abuse") / "server.log"
    server = LiveServer(
        log_path,
        ORCA_CLIENT_HEADER_TIMEOUT=str(QUICK),
        ORCA_CLIENT_BODY_TIMEOUT=str(QUICK),
    ).start()
    yield server
    server.stop()


# --- request heads --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([f"X-Big: {'a' * 100_000}"], id="one 100 kB header"),
        pytest.param([f"X-Filler-{i}: {'a' * 900}" for i in range(90)], id="90 headers of 900 B"),
        pytest.param([f"X-Many-{i}: 1" for i in range(150)], id="150 small headers"),
    ],
)
@pytest.mark.parametrize("path", [CHAT, "/accounts/login/"])
def test_an_oversized_head_is_431_and_closed(live, path, headers):
    answer = exchange(live.server, request_head(path, *headers, "Content-Length: 0"))
    assert answer.status == 431, answer.body
    assert answer.closed
    assert answer.headers["connection"] == "close"


def test_a_huge_header_is_cut_off_early(live):
    """50 MB of header are never read: the answer comes while the first few MB are still in
    the sockets' buffers."""
    with connect(live.server) as sock:
        started = time.monotonic()
        sock.sendall(request_head(CHAT)[:-2] + b"X-Huge: ")
        sent = 0
        piece = b"a" * 65536
        while sent < 50_000_000:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        assert sent < 8_000_000
        answer = read_answer(sock, started)
    assert answer.status == 431
    assert answer.closed


def test_a_head_within_the_limits_is_served(live):
    headers = [f"X-Filler-{i}: {'a' * 500}" for i in range(90)]  # 45 kB, 92 fields
    answer = exchange(live.server, request_head("/v1/models", *headers, method="GET"))
    assert answer.status == 401  # it reached the endpoint, which wants a key


# --- slow clients ---------------------------------------------------------------------------


def drip(sock: socket.socket, data: bytes, every: float = 0.2) -> None:
    """Send a byte at a time until the server answers or closes, or for QUICK + 3 s."""
    deadline = time.monotonic() + QUICK + 3
    for byte in data:
        if select.select([sock], [], [], every)[0] or time.monotonic() > deadline:
            return
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return


@pytest.mark.parametrize("path", [CHAT, "/accounts/login/"])
def test_a_slow_head_is_408_within_the_timeout(quick, path):
    with connect(quick) as sock:
        started = time.monotonic()
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        drip(sock, b"X-Slow: " + b"a" * 100)  # 20 s at this pace
        answer = read_answer(sock, started)
    assert answer.status == 408, answer.body
    assert answer.closed
    # The server's clock starts when it accepts the connection, a little before `started`.
    assert QUICK - 0.05 <= answer.elapsed < QUICK + 1.5


def test_a_silent_connection_is_408_within_the_timeout(quick):
    with connect(quick) as sock:
        answer = read_answer(sock, time.monotonic())
    assert answer.status == 408
    assert answer.closed
    assert answer.elapsed < QUICK + 1.5


def test_a_slow_head_on_a_kept_alive_connection_is_408(quick):
    with connect(quick) as sock:
        sock.sendall(request_head("/v1/models", method="GET"))
        assert read_answer(sock, time.monotonic()).status == 401  # kept alive
        started = time.monotonic()
        sock.sendall(b"GET /v1/models HTTP/1.1\r\n")
        drip(sock, b"Host: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 100)
        answer = read_answer(sock, started)
    assert answer.status == 408
    assert answer.elapsed < QUICK + 1.5


@pytest.mark.parametrize("path", [CHAT, "/accounts/login/"])
def test_a_slow_body_is_408_within_the_timeout(quick, live, path):
    head = request_head(
        path,
        f"Authorization: Bearer {live.key}",
        "Content-Type: application/json",
        "Content-Length: 1000",
    )
    with connect(quick) as sock:
        sock.sendall(head + b'{"model": ')
        started = time.monotonic()
        drip(sock, b'"orca/demo"' + b" " * 900)  # a byte every 0.2 s: never silent for long
        answer = read_answer(sock, started)
    assert answer.status == 408, answer.body
    assert answer.closed
    assert answer.elapsed < QUICK + 1.5


def test_a_prompt_body_is_served(quick, live):
    body = b'{"model": "orca/demo", "messages": [{"role": "user", "content": "hi"}]}'
    head = request_head(CHAT, f"Authorization: Bearer {live.key}", f"Content-Length: {len(body)}")
    assert exchange(quick, head + body).status == 200


# --- large bodies ---------------------------------------------------------------------------


def big_head(path: str, key: str, size: int, *extra: str) -> bytes:
    return request_head(
        path,
        f"Authorization: Bearer {key}",
        "Content-Type: application/json",
        f"Content-Length: {size}",
        *extra,
    )


@pytest.mark.parametrize(
    ("path", "error_of"),
    [
        (CHAT, lambda body: body["error"]["code"] == "invalid_api_key"),
        ("/v1/messages", lambda body: body["error"]["type"] == "authentication_error"),
        (
            "/v1beta/models/fake/chat:generateContent",
            lambda body: body["error"]["status"] == "UNAUTHENTICATED",
        ),
    ],
)
def test_a_large_body_with_a_bad_key_is_401_before_it_is_read(live, path, error_of):
    """200 kB declared (over the 64 KiB pre-authentication size, under the 256 KiB limit of
    the live server), 1 kB sent: the 401 comes back without the rest."""
    with connect(live.server) as sock:
        started = time.monotonic()
        sock.sendall(big_head(path, BAD_KEY, 200_000) + b"[" + b" " * 1000)
        answer = read_answer(sock, started)
    assert answer.status == 401, answer.body
    assert error_of(orjson.loads(answer.body))
    assert answer.closed


def test_a_large_body_with_a_bad_key_gets_no_100_continue(live):
    with connect(live.server) as sock:
        started = time.monotonic()
        sock.sendall(big_head(CHAT, BAD_KEY, 200_000, "Expect: 100-continue"))
        answer = read_answer(sock, started)
    assert answer.status == 401


def test_a_large_chunked_body_with_a_bad_key_is_401_once_it_is_large(live):
    head = request_head(CHAT, f"Authorization: Bearer {BAD_KEY}", "Transfer-Encoding: chunked")
    piece = b"%x\r\n%s\r\n" % (70_000, b" " * 70_000)  # past 64 KiB, far from the end
    with connect(live.server) as sock:
        started = time.monotonic()
        sock.sendall(head + piece)
        answer = read_answer(sock, started)
    assert answer.status == 401
    assert answer.closed


def test_a_large_body_with_a_good_key_is_served(live):
    content = "x" * 150_000
    body = f'{{"model": "orca/demo", "messages": [{{"role": "user", "content": "{content}"}}]}}'
    answer = exchange(live.server, big_head(CHAT, live.key, len(body)) + body.encode())
    assert answer.status == 200, answer.body


def test_a_declared_oversize_body_is_413_in_the_dialect_before_it_is_read(live):
    with connect(live.server) as sock:
        started = time.monotonic()
        sock.sendall(big_head("/v1/messages", BAD_KEY, 10_000_000) + b"{")
        answer = read_answer(sock, started)
    assert answer.status == 413
    assert orjson.loads(answer.body)["type"] == "error"  # Anthropic's envelope
    assert answer.closed


def test_an_oversize_body_to_a_django_page_is_413_and_closed(live):
    head = request_head("/accounts/login/", "Transfer-Encoding: chunked")
    piece = b"%x\r\n%s\r\n" % (300_000, b"a" * 300_000)  # over the live server's 256 KiB
    with connect(live.server) as sock:
        started = time.monotonic()
        sock.sendall(head + piece)
        answer = read_answer(sock, started)
    assert answer.status == 413
    assert answer.closed


# --- NUL and invalid UTF-8 in every route ------------------------------------------------------

BAD_VALUES = ("%00", "%FF", "%C0%80")
QUERY_NAMES = ("id", "model", "q", "name")  # names views read, and one they do not
WORKSPACE_PARAMS = ("slug", "workspace")
KNOWN_VALUES = {"model": "fake/chat", "model_id": "fake/chat", "action": "generateContent"}
_GROUP = re.compile(r"\(\?P<(\w+)>([^()]*)\)")
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class Route:
    """A URL pattern as literal text and parameters: (None, text) or (name, regex)."""

    template: str
    parts: tuple[tuple[str | None, str], ...]

    @property
    def params(self) -> list[str]:
        return [name for name, _ in self.parts if name is not None]

    def url(self, workspace: str, values: dict[str, str] | None = None) -> str:
        """The route with `values` for some parameters and a sample for the others."""
        path = ""
        for name, text in self.parts:
            if name is None:
                path += text
            else:
                path += (values or {}).get(name) or _sample(name, text, workspace)
        return "/" + path


def _sample(name: str, regex: str, workspace: str) -> str:
    """A value the parameter's regex accepts, one that reaches the view where it can."""
    candidates = [workspace] if name in WORKSPACE_PARAMS else []
    # Ids of nothing: a POST below must not revoke or delete a real key, user or row.
    candidates += [KNOWN_VALUES.get(name, ""), *regex.split("|"), "987654321", "missing"]
    for value in candidates:
        if value and re.fullmatch(regex, value):
            return value
    raise AssertionError(f"no sample value for <{name}> ({regex})")


def _parts(pattern) -> list[tuple[str | None, str]]:
    if isinstance(pattern, RoutePattern):
        text, splitter = str(pattern), _CONVERTER
        regex_of = {name: conv.regex for name, conv in pattern.converters.items()}
    else:
        text, splitter = pattern._regex.removeprefix("^").removesuffix("$"), _GROUP
        regex_of = {}
    parts: list[tuple[str | None, str]] = []
    position = 0
    for match in splitter.finditer(text):
        literal = text[position : match.start()]
        if splitter is _GROUP:
            literal = re.sub(r"\\(.)", r"\1", literal)
        parts.append((None, literal))
        name = match.group(2) if splitter is _CONVERTER else match.group(1)
        parts.append((name, regex_of.get(name) or match.group(2)))
        position = match.end()
    parts.append((None, text[position:]))
    return parts


def _walk(patterns, prefix=()) -> Iterator[tuple]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, (*prefix, pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield (*prefix, pattern.pattern)


def every_route() -> list[Route]:
    """Django's URLconf (dashboard, accounts, admin, API), the relay's routes, and the
    operator endpoints orca/asgi.py answers before Django (orca/ops.py)."""
    routes = {}
    for chain in [*_walk(get_resolver().url_patterns), *_walk(relay_urlpatterns)]:
        parts = tuple(part for pattern in chain for part in _parts(pattern))
        template = "".join(text if name is None else f"<{name}>" for name, text in parts)
        routes.setdefault(template, Route(template or "(root)", parts))
    for path in OPS_ROUTES:
        template = path.removeprefix("/")
        routes.setdefault(template, Route(template, ((None, template),)))
    return list(routes.values())


ROUTES = every_route()


def test_the_route_list_covers_both_url_trees():
    templates = {route.template for route in ROUTES}
    assert "w/<slug>/usage/<request_id>/" in templates
    assert "api/workspaces/<workspace>/usage/export.csv" in templates
    assert "v1/generation" in templates
    assert {"api/v1/key", "api/v1/credits", "api/v1/models", "api/v1/generation"} <= templates
    assert {"api/v1/keys", "api/v1/keys/<key_hash>"} <= templates  # Django's, management keys
    assert "v1beta/models/<model>:<action>" in templates
    assert {"healthz", "readyz", "metrics"} <= templates
    assert len(ROUTES) > 100


@dataclass
class Caller:
    base_url: str
    headers: dict[str, str]
    workspace: str


@pytest.fixture(scope="module")
def member(live, django_db_blocker) -> tuple:
    """A staff user owning a workspace of its own, and a key of that workspace: what the
    walk's POSTs could change (were the URL rule gone) is theirs alone."""
    with django_db_blocker.unblock():
        user, _ = get_user_model().objects.get_or_create(
            username="abuse-member", defaults={"is_staff": True, "is_superuser": True}
        )
        workspace, _ = services.get_or_create_workspace("abuse-walk")
        if not Membership.objects.filter(workspace=workspace, user=user).exists():
            services.add_member(workspace, user, Role.OWNER)
        _, key = services.create_api_key(workspace, name="abuse walk")
    return user, workspace, key


@pytest.fixture
def caller(live, member, django_db_blocker) -> Caller:
    """The member with a browser session of its own (a route may end it: logout) and its
    API key: every request carries both."""
    user, workspace, key = member
    with django_db_blocker.unblock():
        client = Client()
        client.force_login(user)
        session = client.cookies["sessionid"].value
    csrf = secrets.token_hex(16)  # 32 characters: a CSRF secret the cookie and header share
    headers = {
        "Cookie": f"sessionid={session}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
        "Authorization": f"Bearer {key}",
    }
    return Caller(live.server.base_url, headers, workspace.slug)


def variants(route: Route, workspace: str) -> Iterator[tuple[str, str]]:
    """(method, URL): each parameter in turn given each bad value, then the route with each
    bad value in a query parameter; by GET and by POST."""
    urls = [route.url(workspace, {name: bad}) for name in route.params for bad in BAD_VALUES]
    good = route.url(workspace)
    urls += [f"{good}?{name}={bad}" for name in QUERY_NAMES for bad in BAD_VALUES]
    for url in urls:
        for method in ("GET", "POST"):
            yield method, url


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.template)
def test_nul_and_invalid_utf8_never_give_a_500(route, caller):
    failures = []
    with httpx.Client(base_url=caller.base_url, headers=caller.headers, timeout=20) as http:
        for method, url in variants(route, caller.workspace):
            content = b"{}" if method == "POST" else None
            try:
                with http.stream(method, url, content=content) as response:
                    response.read()  # a cut-off body (length or chunking) raises here
            except httpx.HTTPError as exc:
                failures.append(f"{method} {url}: body cut off ({exc!r})")
                continue
            if response.status_code >= 500:
                failures.append(f"{method} {url}: {response.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("path", "envelope"),
    [
        ("/v1/generation?id=%00", lambda body: body["error"]["code"] == "invalid_request"),
        ("/api/v1/generation?id=%00", lambda body: body["error"]["code"] == 400),  # OpenRouter's
        ("/api/v1/key?q=%C0%80", lambda body: body["error"]["code"] == 400),
        ("/v1/messages?beta=%FF", lambda body: body["type"] == "error"),
        ("/v1beta/models/fake%00chat:generateContent", lambda body: body["error"]["code"] == 400),
    ],
)
def test_the_relay_answers_400_in_the_endpoints_dialect(caller, path, envelope):
    method = "GET" if "generation" in path or "/key" in path else "POST"
    response = httpx.request(
        method,
        caller.base_url + path,
        headers={"Authorization": caller.headers["Authorization"]},
        content=b"{}",
        timeout=10,
    )
    assert response.status_code == 400
    assert envelope(response.json())


@pytest.mark.parametrize("path", ["/api/v1/keys?offset=%00", "/api/v1/keys/%C0%80"])
def test_openrouters_django_paths_answer_400_in_its_envelope(caller, path):
    response = httpx.get(caller.base_url + path, headers=caller.headers, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


@pytest.mark.parametrize("query", ["model=%00", "model=%C0%80", "key=%FF", "q=a%0Ab"])
def test_django_pages_answer_400_before_any_view(caller, query):
    url = f"{caller.base_url}/w/{caller.workspace}/usage/?{query}"
    response = httpx.get(url, headers=caller.headers, timeout=10)
    assert response.status_code == 400
    assert "Bad Request" in response.text


def test_ordinary_text_in_a_query_is_untouched(caller):
    url = f"{caller.base_url}/api/workspaces/{caller.workspace}/usage/?model=caf%C3%A9+au+lait"
    assert httpx.get(url, headers=caller.headers, timeout=10).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/w/any/usage/%00/", "/w/any/usage/?model=%FF", "/%C0%80/"])
def test_the_url_rule_holds_under_the_test_clients_too(url):
    """WSGI (Client) and Django's own ASGI client (AsyncClient) hand the URL on differently.
    AsyncClient gives no raw_path and a path of latin-1 text, so bytes that are not UTF-8
    in a path are invisible to it (servers hand on raw_path: the live tests above)."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    assert Client().get(url).status_code == 400
    if url != "/%C0%80/":
        assert async_to_sync(AsyncClient().get)(url).status_code == 400


# --- the workspace's own provider keys (BYOK): bad bodies ------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"provider": "fake", "credential": "a\\u0000b-credential"}',
        b'{"provider": "fa\\u0000ke", "credential": "abcdefgh-credential"}',
        b'{"provider": "fake", "credential": "abcdefgh", "base_url": "http://x\\u0000y/"}',
        b'{"provider": "fake", "credential": "\\ud800-lone-surrogate"}',
        b'{"provider": "fake", "credential": "\xff\xfe-not-utf8"}',
        b'{"provider": "fake", "credential": "' + b"k" * 100_000 + b'"}',
        b'{"provider": "fake", "credential": {"nested": [1, 2, 3]}}',
        b'{"provider": "fake", "credential": "abcdefgh", "base_url": "http://[::1/"}',
        b'{"provider": "fake", "credential": "abcdefgh", "base_url": "http://x.test:99999/"}',
        b'{"provider": "fake", "credential": "abcdefgh", "allow_fallback": "\\u0000"}',
        b"[" * 5000 + b"]" * 5000,
        b"not json",
    ],
    ids=lambda body: body[:40].decode("latin-1"),
)
def test_bad_provider_key_bodies_are_400_and_save_nothing(caller, body, django_db_blocker):
    from routing.models import ProviderCredential

    url = f"{caller.base_url}/api/workspaces/{caller.workspace}/providers/"
    headers = {**caller.headers, "Content-Type": "application/json"}
    for method, target in (("POST", url), ("PUT", f"{url}fake/"), ("PATCH", f"{url}fake/")):
        response = httpx.request(method, target, content=body, headers=headers, timeout=20)
        assert response.status_code in (400, 404), (method, response.status_code, response.text)
    with django_db_blocker.unblock():
        assert not ProviderCredential.objects.filter(workspace__slug=caller.workspace).exists()


# --- the management API: bad credentials and bad JSON ------------------------------------------

MGMT_WRITES = [  # (method, path under the workspace, a body that would be valid)
    ("PATCH", "", {"rpm_limit": 1}),
    ("POST", "members/", {"user": "abuse-member", "role": "viewer"}),
    ("POST", "keys/", {"name": "abuse", "allowed_models": ["a/*"], "allowed_ips": ["10.0.0.1"]}),
    ("POST", "management-keys/", {"name": "abuse", "role": "viewer"}),
    ("POST", "routers/", {"name": "abuse", "candidates": ["a/*"]}),
]


def _poisoned(body: dict) -> Iterator[dict]:
    """The body with a NUL in one string (or list entry) at a time."""
    for field, value in body.items():
        if isinstance(value, str):
            yield {**body, field: value + "\x00"}
        elif isinstance(value, list):
            yield {**body, field: [value[0] + "\x00"]}


@pytest.fixture(scope="module")
def management(live, member, django_db_blocker) -> tuple[str, str]:
    """An owner management key of the walk's workspace."""
    _, workspace, _ = member
    with django_db_blocker.unblock():
        _, raw = services.create_management_key(workspace, role=Role.OWNER, name="abuse")
    return workspace.slug, raw


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(b"Bearer sk-orca-mgmt-\xff\xfe" + b"x" * 40, id="not UTF-8"),
        pytest.param(b"Bearer sk-orca-mgmt-" + b"x" * 6000, id="6 kB key"),
        pytest.param(b"Bearer sk-orca-mgmt-a sk-orca-mgmt-b", id="two tokens"),
        pytest.param(b"Bearer", id="no token"),
        pytest.param(b"Bearer sk-orca-" + b"x" * 43, id="a relay-shaped key"),
    ],
)
def test_bad_management_credentials_are_401_before_any_view(live, management, authorization):
    slug, _ = management
    head = request_head(f"/api/workspaces/{slug}/keys/", method="GET").replace(
        b"\r\n\r\n", b"\r\nAuthorization: " + authorization + b"\r\n\r\n"
    )
    answer = exchange(live.server, head)
    assert answer.status == 401, answer.body
    assert "detail" in orjson.loads(answer.body)


@pytest.mark.parametrize(("method", "path", "body"), MGMT_WRITES, ids=lambda v: str(v)[:20])
def test_nul_and_broken_json_in_management_bodies_are_400(live, management, method, path, body):
    slug, raw = management
    url = f"{live.server.base_url}/api/workspaces/{slug}/{path}"
    headers = {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}
    contents = [orjson.dumps(poisoned) for poisoned in _poisoned(body)]
    contents += [
        b'{"name": "\xff\xfe"}',  # not UTF-8
        b"[" * 5000 + b"]" * 5000,  # deep nesting
        b'{"name": "' + b"a" * 200_000,  # long and unterminated
        b"null",
        b"[]",
    ]
    with httpx.Client(headers=headers, timeout=20) as http:
        for content in contents:
            answer = http.request(method, url, content=content)
            assert answer.status_code == 400, (content[:60], answer.status_code, answer.text)
            assert answer.headers["content-type"] == "application/json"
