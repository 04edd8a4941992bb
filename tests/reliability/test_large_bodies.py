"""One huge JSON body does not stall the gateway for everyone else: a request of tens of
thousands of messages is parsed off the event loop, and a quick call made meanwhile on the
same worker is answered at once. Against a live server whose body limit allows it."""

import threading
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.live import LiveServer

MESSAGES = 400_000  # ~12 MiB of small objects: orjson alone holds the loop ~0.2 s for it
SERVED = 90_000  # under the item limit (100,000): parsed off the loop, then served


@pytest.fixture(scope="module")
def roomy(live, tmp_path_factory) -> Iterator[LiveServer]:
    log_path = tmp_path_factory.mktemp("large-bodies") / "server.log"
    server = LiveServer(log_path, ORCA_MAX_BODY_BYTES=str(64 * 1024 * 1024)).start()
    yield server
    server.stop()


def _quick_calls(url: str, key: str, stop: threading.Event, took: list[float]) -> None:
    with httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(f"{url}/v1/models").raise_for_status()
            took.append(time.perf_counter() - started)
            time.sleep(0.005)


@pytest.mark.parametrize(
    ("messages", "cut", "status", "code"),
    [
        (MESSAGES, False, 413, "request_too_large"),  # over the item limit, refused
        (MESSAGES, True, 400, "invalid_json"),  # cut short: parsed all the way, then refused
        (SERVED, False, 200, None),
    ],
)
def test_a_huge_body_does_not_hold_up_other_calls(roomy, live, messages, cut, status, code):
    body = orjson.dumps(
        {"model": "orca/demo", "messages": [{"role": "user", "content": "hi"}] * messages}
    )
    if cut:
        body = body[:-2]
    took: list[float] = []
    stop = threading.Event()
    quick = threading.Thread(target=_quick_calls, args=(roomy.base_url, live.key, stop, took))
    quick.start()
    try:
        time.sleep(0.3)
        answer = httpx.post(
            f"{roomy.base_url}/v1/chat/completions",
            content=body,
            headers={"authorization": f"Bearer {live.key}", "content-type": "application/json"},
            timeout=120,
        )
    finally:
        stop.set()
        quick.join(30)
    assert answer.status_code == status, answer.text[:300]
    if code is not None:
        assert answer.json()["error"]["code"] == code
    assert len(took) > 10
    assert max(took) < 0.15, f"a quick call waited {max(took) * 1000:.0f} ms"
