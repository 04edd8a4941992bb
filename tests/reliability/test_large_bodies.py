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


@pytest.mark.parametrize("valid", [True, False])
def test_a_huge_body_is_parsed_off_the_event_loop(roomy, live, valid):
    messages = [{"role": "user", "content": "hi"}] * MESSAGES
    body = orjson.dumps({"model": "orca/demo", "messages": messages})
    if not valid:
        body = body[:-2]  # cut short: the parser goes all the way before it fails
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
    if valid:
        assert answer.status_code != 500, answer.text[:300]
    else:
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"
    assert len(took) > 10
    assert max(took) < 0.15, f"a quick call waited {max(took) * 1000:.0f} ms"
