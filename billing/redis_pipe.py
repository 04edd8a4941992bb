"""A small Redis client for the hot path: one connection, every call pipelined on it.

redis-py checks a connection out of a pool, packs, sends, and reads back each command on
its own; under load that bookkeeping cost about a quarter of a gateway worker's busy time
(docs/performance.md). The admission script needs far less: commands from all concurrent
requests are written back to back on one connection (writes made in the same event-loop
turn go out in one syscall) and replies, which Redis sends in order, are matched to
callers first-in first-out.

Only what the gateway uses is here: RESP2 replies, AUTH/SELECT from the URL, TLS
(rediss://), scripts by SHA with a fallback to the full text, and a watchdog that drops a
connection whose oldest reply is overdue, failing its callers so they can refuse safely.
"""

import asyncio
import hashlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit


class RedisError(Exception):
    """An error reply from Redis (the message as Redis sent it)."""


class RedisUnavailable(ConnectionError):
    """No connection, or it was lost or timed out before the reply came."""


Arg = str | bytes | int
Reply = int | bytes | str | list | None | RedisError

_CRLF = b"\r\n"
log = logging.getLogger(__name__)
LAZY_SECONDS = 0.05


def encode_arguments(args) -> bytes:
    """The arguments of a command as RESP bulk strings, without the array header."""
    out = []
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(out)


def encode_command(args: tuple[Arg, ...]) -> bytes:
    return b"*%d\r\n" % len(args) + encode_arguments(args)


class _Incomplete(Exception):
    pass


def parse_reply(buf: bytes, pos: int) -> tuple[Reply, int]:
    """One RESP2 reply starting at `pos`: (value, position after it). Raises _Incomplete
    when the buffer does not hold all of it yet."""
    end = buf.find(_CRLF, pos)
    if end < 0:
        raise _Incomplete
    kind, line = buf[pos : pos + 1], buf[pos + 1 : end]
    pos = end + 2
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete
        return buf[pos : pos + size], pos + size + 2
    if kind == b"+":
        return line.decode(), pos
    if kind == b"-":
        return RedisError(line.decode(errors="replace")), pos
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            item, pos = parse_reply(buf, pos)
            items.append(item)
        return items, pos
    raise RedisUnavailable(f"unexpected reply type {kind!r} from Redis")


# What to do with a reply whose caller stopped waiting (cancelled): the admission script
# may have reserved money by then, which the owner of the call can give back.
Orphan = Callable[[Reply], None] | None


def _hand_over(orphan: Callable[[Reply], None], reply: Reply) -> None:
    try:
        orphan(reply)
    except Exception:  # the owner's bug must not break the connection for everyone else
        log.exception("handling an orphaned Redis reply failed")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[tuple[asyncio.Future, Orphan, float]] = deque()
        self.buffer = b""
        self.closed = False
        self._out: list[bytes] = []
        self._soon = False  # a write is scheduled for this event-loop turn
        self._later: asyncio.TimerHandle | None = None
        self._unanswered = 0  # commands of the batch written last, still without a reply
        self._urgent = False  # an urgent command queued while that batch was out

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, data: bytes, future: asyncio.Future, orphan: Orphan, lazy: bool) -> None:
        """Queue a command. With no batch awaiting its replies, urgent ones go out at the end
        of this loop turn, together with whatever else was queued in it; while a batch is
        out, everything queued goes in one write the moment its replies are in (Redis
        would only run them after that batch anyway), so under load one syscall carries
        many callers' commands. Lazy ones also wait up to LAZY_SECONDS for company, so that
        they cost no write and no wake-up of their own."""
        if self.closed:  # lost meanwhile: nothing would ever answer
            future.set_exception(RedisUnavailable("connection to Redis lost"))
            return
        self._out.append(data)
        self.waiting.append((future, orphan, time.monotonic()))
        if self._unanswered:  # data_received sends it with the next batch
            self._urgent = self._urgent or not lazy
            return
        if not lazy:
            if not self._soon:
                self._soon = True
                asyncio.get_running_loop().call_soon(self.flush)
        elif self._later is None and not self._soon:
            self._later = asyncio.get_running_loop().call_later(LAZY_SECONDS, self.flush)

    def flush(self) -> None:
        self._soon = False
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if not self._out or self._unanswered:
            return
        self._urgent = False
        out, self._out = self._out, []
        if not self.closed and self.transport is not None:
            self._unanswered = len(out)
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data
        pos = 0
        size = len(buf)
        try:
            while pos < size:
                reply, pos = parse_reply(buf, pos)
                self._unanswered -= 1
                future, orphan, _ = self.waiting.popleft()
                if not future.done():
                    if isinstance(reply, RedisError):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
                elif orphan is not None:
                    _hand_over(orphan, reply)
        except _Incomplete:
            pass
        except (IndexError, ValueError, RedisUnavailable) as exc:  # out of step: give up
            self.abort(RedisUnavailable(f"Redis protocol error: {exc}"))
            return
        self.buffer = buf[pos:] if pos < size else b""
        if not self._unanswered and self._out:  # what queued up while that batch was out
            if self._urgent:
                self.flush()
            elif self._later is None:
                self._later = asyncio.get_running_loop().call_later(LAZY_SECONDS, self.flush)

    def connection_lost(self, exc: Exception | None) -> None:
        self.abort(RedisUnavailable(f"connection to Redis lost: {exc or 'closed'}"))

    def abort(self, error: Exception) -> None:
        self.closed = True
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if self.transport is not None:
            self.transport.abort()
        while self.waiting:
            future, _, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    def oldest_wait(self, now: float) -> float:
        return now - self.waiting[0][2] if self.waiting else 0.0


class PipelinedRedis:
    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self._unix = parts.path if parts.scheme == "unix" else None
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 6379
        self._ssl = ssl.create_default_context() if parts.scheme == "rediss" else None
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        db = query.get("db", [""])[0] or (parts.path.strip("/") if not self._unix else "")
        self._db = int(db) if db else 0
        self._timeout = timeout
        self._conn: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Future | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._unix:
            make = loop.create_unix_connection(_Protocol, self._unix)
        else:
            make = loop.create_connection(_Protocol, self._host, self._port, ssl=self._ssl)
        conn = None
        try:
            async with asyncio.timeout(self._timeout):
                _, conn = await make
                hello = []
                if self._password is not None:
                    auth = (self._username, self._password) if self._username else (self._password,)
                    hello.append(("AUTH", *auth))
                if self._db:
                    hello.append(("SELECT", self._db))
                futures = []
                for command in hello:
                    future = loop.create_future()
                    conn.send(encode_command(command), future, None, False)
                    futures.append(future)
                for future in futures:
                    await future
        except BaseException as exc:
            if conn is not None:
                conn.abort(RedisUnavailable("connection set-up failed"))
            if isinstance(exc, OSError | TimeoutError) and not isinstance(exc, RedisUnavailable):
                raise RedisUnavailable(f"cannot connect to Redis: {exc!r}") from None
            raise
        return conn

    async def _connection(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new event loop (tests): start over
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            self._conn, self._connecting, self._loop = None, None, loop
        if self._connecting is None:
            self._connecting = loop.create_task(self._connect())
        connecting = self._connecting
        try:
            conn = await asyncio.shield(connecting)
        except BaseException:
            if self._connecting is connecting and connecting.done():
                self._connecting = None  # let the next call try again
            raise
        if conn.closed:  # lost between connecting and this caller resuming
            if self._connecting is connecting:
                self._conn, self._connecting = None, None
            raise RedisUnavailable("connection to Redis lost")
        if self._connecting is connecting:
            self._conn = conn
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout / 4, self._check, loop)
        return conn

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        """Drop the connection if Redis has owed a reply for longer than the timeout."""
        self._watchdog = None
        conn = self._conn
        if conn is None or conn.closed or loop.is_closed():
            return
        if conn.oldest_wait(time.monotonic()) > self._timeout:
            conn.abort(RedisUnavailable(f"no reply from Redis within {self._timeout} s"))
            return
        self._watchdog = loop.call_later(self._timeout / 4, self._check, loop)

    def _ready(self) -> _Protocol | None:
        conn = self._conn
        if conn is None or conn.closed or self._loop is not asyncio.get_running_loop():
            if conn is not None and conn.closed:
                self._conn, self._connecting = None, None
            return None
        return conn

    async def call(self, *args: Arg, orphan: Orphan = None) -> Reply:
        """Send one command; its reply (an error reply raises RedisError)."""
        return await self.send(encode_command(args), orphan)

    async def send(self, command: bytes, orphan: Orphan = None) -> Reply:
        """Send one command already encoded (see Script); its reply."""
        conn = self._ready() or await self._connection()
        assert self._loop is not None  # both set it to the running loop
        future = self._loop.create_future()
        conn.send(command, future, orphan, False)
        try:
            return await future
        except asyncio.CancelledError:
            # Cancelled after the reply came in but before this task resumed: the reply is
            # the orphan's (the future itself was not cancelled, so it was not handed over).
            answered = future.done() and not future.cancelled() and future.exception() is None
            if orphan is not None and answered:
                _hand_over(orphan, future.result())
            raise

    def call_lazily(self, *args: Arg) -> asyncio.Future:
        """Queue a command that nobody waits on right now (it rides along with the next
        urgent write, or goes out within LAZY_SECONDS); its reply arrives in the returned
        future. Raises RedisUnavailable when there is no live connection."""
        return self.send_lazily(encode_command(args))

    def send_lazily(self, command: bytes) -> asyncio.Future:
        """call_lazily for a command already encoded."""
        conn = self._ready()
        if conn is None:
            raise RedisUnavailable("not connected to Redis")
        assert self._loop is not None  # a connection from _ready is on self._loop
        future = self._loop.create_future()
        conn.send(command, future, None, True)
        return future

    def flush(self) -> None:
        """Write out lazily queued commands now."""
        conn = self._ready()
        if conn is not None:
            conn.flush()

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._conn is not None and not self._conn.closed:
            if self._loop is asyncio.get_running_loop():
                assert self._conn.transport is not None  # connection_made ran before _conn was set
                self._conn.transport.close()
            self._conn.closed = True
        self._conn, self._connecting = None, None


class Script:
    """A Lua script called by SHA, sent in full when Redis does not know it (yet)."""

    def __init__(self, client: PipelinedRedis, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        # The encoded "EVALSHA <sha> <n> <keys...>" part per key set: the gateway's key sets
        # change once a minute, so each call encodes only its arguments.
        self._heads: dict[tuple[str, ...], bytes] = {}

    def _head(self, keys) -> tuple[tuple[str, ...], bytes]:
        keys = keys if isinstance(keys, tuple) else tuple(keys)
        head = self._heads.get(keys)
        if head is None:
            if len(self._heads) >= 10_000:
                self._heads.clear()
            head = self._heads[keys] = encode_arguments(("EVALSHA", self.sha, len(keys), *keys))
        return keys, head

    def _command(self, keys, nargs: int, encoded: bytes) -> bytes:
        keys, head = self._head(keys)
        return b"*%d\r\n%b%b" % (3 + len(keys) + nargs, head, encoded)

    async def __call__(self, keys, args: list[Arg], orphan: Orphan = None) -> Reply:
        return await self.call_encoded(keys, len(args), encode_arguments(args), orphan)

    async def call_encoded(self, keys, nargs: int, encoded: bytes, orphan: Orphan = None) -> Reply:
        """As __call__, with the `nargs` arguments already encoded (encode_arguments), so
        arguments that repeat from call to call can be encoded once."""
        try:
            return await self.client.send(self._command(keys, nargs, encoded), orphan)
        except RedisError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        head = encode_arguments(("EVAL", self.source, len(keys), *keys))
        return await self.client.send(
            b"*%d\r\n%b%b" % (3 + len(keys) + nargs, head, encoded), orphan
        )

    def call_lazily(self, keys, args: list[Arg]) -> asyncio.Future:
        """Queue a call by SHA (see PipelinedRedis.call_lazily); a NOSCRIPT error in the
        future means: call it again through __call__."""
        return self.client.send_lazily(self._command(keys, len(args), encode_arguments(args)))
