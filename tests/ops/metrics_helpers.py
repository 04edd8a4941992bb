"""Reading a live gateway's /metrics: scrape, parse (prometheus_client.parser), pick samples."""

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-for-tests-3c1f"


def scrape(base_url: str, token: str = TOKEN) -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition, by (sample name, labels)."""
    response = httpx.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def wait_for(
    base_url: str, check: Callable[[dict], bool], timeout: float = 5.0
) -> dict[tuple[str, frozenset], float]:
    """Scrape until `check` holds: the other workers flush their tallies every 0.25 s."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(base_url)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics did not reach the expected values in {timeout} s")
        time.sleep(0.1)
