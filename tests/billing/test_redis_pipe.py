"""The pipelined Redis client of the hot path, against a real Redis server."""

import asyncio
import socket
import time

import pytest

from billing.redis_pipe import (
    PipelinedRedis,
    RedisError,
    RedisUnavailable,
    Script,
    _Protocol,
    encode_command,
)


def run(coro):
    return asyncio.run(coro)


def test_commands_and_reply_types(redis_url, redis_db):
    async def go():
        client = PipelinedRedis(redis_url)
        try:
            assert await client.call("SET", "k", "v") == "OK"
            assert await client.call("GET", "k") == b"v"
            assert await client.call("GET", "missing") is None
            assert await client.call("INCRBY", "n", -5) == -5
            await client.call("RPUSH", "l", "a", b"b")
            assert await client.call("LRANGE", "l", 0, -1) == [b"a", b"b"]
            with pytest.raises(RedisError, match="WRONGTYPE"):
                await client.call("INCR", "l")
            assert await client.call("PING") == "PONG"  # the connection is still in step
        finally:
            await client.close()

    run(go())
    # The database number in the URL was selected: another client sees the writes there.
    assert redis_db.get("k") == b"v"


def test_concurrent_calls_share_one_connection_and_get_their_own_replies(redis_url, redis_db):
    async def go():
        client = PipelinedRedis(redis_url)
        try:
            await client.call("CLIENT", "SETNAME", "orca-pipe-concurrency")
            replies = await asyncio.gather(
                *(client.call("INCRBY", f"c{i % 7}", i) for i in range(1000))
            )
            clients = await client.call("CLIENT", "LIST")
        finally:
            await client.close()
        return replies, clients

    replies, clients = run(go())
    totals: dict[int, int] = {}
    expected = []
    for i in range(1000):  # replies come back in the order the calls were made
        totals[i % 7] = totals.get(i % 7, 0) + i
        expected.append(totals[i % 7])
    assert replies == expected
    assert clients.count(b"name=orca-pipe-concurrency ") == 1  # all on one connection


def test_script_is_loaded_when_redis_does_not_know_it(redis_url, redis_db):
    redis_db.script_flush()

    async def go():
        client = PipelinedRedis(redis_url)
        script = Script(client, "return redis.call('INCRBY', KEYS[1], ARGV[1])")
        try:
            first = await script(["s"], [4])  # NOSCRIPT, then sent in full
            second = await script(["s"], [6])  # by SHA
            third = await script.call_lazily(["s"], [1])
        finally:
            await client.close()
        return first, second, third

    assert run(go()) == (4, 10, 11)


def test_a_cancelled_caller_hands_its_reply_to_the_orphan_callback(redis_url, redis_db):
    async def go():
        client = PipelinedRedis(redis_url)
        orphaned = []
        try:
            await client.call("PING")
            waiting = asyncio.create_task(client.call("BLPOP", "queue", 2, orphan=orphaned.append))
            await asyncio.sleep(0.1)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            redis_db.rpush("queue", "job")
            assert await client.call("GET", "after") is None  # replies still in step
        finally:
            await client.close()
        return orphaned

    assert run(go()) == [[b"queue", b"job"]]


def test_an_overdue_reply_drops_the_connection_and_the_next_call_reconnects(redis_url, redis_db):
    async def go():
        client = PipelinedRedis(redis_url, timeout=0.4)
        try:
            started = time.monotonic()
            with pytest.raises(RedisUnavailable, match="no reply"):
                await client.call("BLPOP", "never", 5)
            waited = time.monotonic() - started
            assert await client.call("SET", "back", 1) == "OK"
        finally:
            await client.close()
        return waited

    assert 0.3 < run(go()) < 2
    assert redis_db.get("back") == b"1"


def test_a_killed_connection_fails_its_callers_then_reconnects(redis_url, redis_db):
    async def go():
        client = PipelinedRedis(redis_url)
        try:
            own_id = await client.call("CLIENT", "ID")
            waiting = asyncio.create_task(client.call("BLPOP", "never", 3))
            await asyncio.sleep(0.1)
            killed = await asyncio.to_thread(redis_db.client_kill_filter, _id=own_id)
            assert killed == 1
            with pytest.raises(RedisUnavailable, match="lost"):
                await waiting
            assert await client.call("PING") == "PONG"
        finally:
            await client.close()

    run(go())


def test_unreachable_redis_raises_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed

    async def go():
        client = PipelinedRedis(f"redis://127.0.0.1:{port}/0", timeout=1)
        with pytest.raises(RedisUnavailable, match="cannot connect"):
            await client.call("PING")

    run(go())


def test_replies_split_across_reads_are_reassembled():
    loop = asyncio.new_event_loop()
    try:
        protocol = _Protocol()
        futures = [loop.create_future() for _ in range(4)]
        for future in futures:
            protocol.waiting.append((future, None, 0.0))
        wire = b":42\r\n$5\r\nhello\r\n*2\r\n$1\r\na\r\n:-3\r\n-ERR nope\r\n"
        for i in range(len(wire)):
            protocol.data_received(wire[i : i + 1])
        assert [f.result() for f in futures[:3]] == [42, b"hello", [b"a", -3]]
        assert isinstance(futures[3].exception(), RedisError)
        assert protocol.buffer == b""
    finally:
        loop.close()


def test_commands_are_encoded_as_resp_arrays():
    assert (
        encode_command(("SET", b"k\r\n", 12)) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n12\r\n"
    )


class _Wire:
    """A transport that records what is written and sends nothing anywhere."""

    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        pass


def test_a_caller_cancelled_after_its_reply_arrived_still_hands_it_over():
    async def go():
        client = PipelinedRedis("redis://127.0.0.1:1/0")
        protocol = _Protocol()
        protocol.connection_made(_Wire())
        client._conn, client._loop = protocol, asyncio.get_running_loop()
        orphaned = []
        waiting = asyncio.create_task(client.call("INCR", "n", orphan=orphaned.append))
        await asyncio.sleep(0)  # the call is queued and waits for its reply
        await asyncio.sleep(0)  # the queued write went out
        assert protocol.transport.written.startswith(b"*2\r\n$4\r\nINCR")
        protocol.data_received(b":1\r\n")  # the reply lands...
        waiting.cancel()  # ...and the caller is cancelled before it could resume
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return orphaned

    assert run(go()) == [1]  # the reply (say, a reservation made) reached its owner


def test_commands_on_a_lost_connection_fail_at_once(redis_url, redis_db):
    async def go():
        client = PipelinedRedis(redis_url)
        try:
            await client.call("PING")
            conn = client._conn
            conn.abort(RedisUnavailable("test"))
            await asyncio.sleep(0.05)  # the connection is gone and its loss already handled
            future = asyncio.get_running_loop().create_future()
            conn.send(b"*1\r\n$4\r\nPING\r\n", future, None, False)
            with pytest.raises(RedisUnavailable):
                await asyncio.wait_for(future, 1)
            assert await client.call("PING") == "PONG"  # and the client reconnects
        finally:
            await client.close()

    run(go())


def test_commands_queued_while_a_batch_is_out_go_in_one_write_after_its_replies(
    redis_url, redis_db
):
    async def go():
        client = PipelinedRedis(redis_url)
        try:
            await client.call("PING")
            conn = client._conn
            writes = []
            real_write = conn.transport.write
            conn.transport.write = lambda data: (writes.append(data), real_write(data))
            busy = "local i = 0 while i < 5000000 do i = i + 1 end return i"  # tens of ms
            slow = asyncio.ensure_future(client.call("EVAL", busy, 0))
            await asyncio.sleep(0.01)  # the slow batch is out; these queue behind it
            queued = [asyncio.ensure_future(client.call("INCR", "q")) for _ in range(20)]
            await asyncio.sleep(0.01)
            assert len(writes) == 1  # nothing more went out while the first batch was away
            replies = await asyncio.gather(slow, *queued)
            assert replies == [5000000, *range(1, 21)]
            assert len(writes) == 2 and writes[1].count(b"INCR") == 20
            # with nothing out, a lone call goes at once (end of this loop turn)
            assert await asyncio.wait_for(client.call("GET", "q"), 0.5) == b"20"
            assert len(writes) == 3
        finally:
            await client.close()

    run(go())
