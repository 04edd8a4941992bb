"""Structured logs (ORCA_LOG_FORMAT=json): one JSON object per line.

Each line has `time` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`, and
`request_id` when the line was written by a relayed call's own task (the consumer tags its
task, only when JSON logs are on; background tasks a call happens to start are not
tagged, so their lines never carry a stranger's id), plus `exception` with the traceback when there
is one. Only these fields: a record's `extra` attributes are never dumped, so nothing a
caller attached (a header, a body) can reach the log. Messages are the same as in plain
logs, which carry request ids, never bodies, headers or keys (docs/architecture.md).

Nothing here imports Django: uvicorn's supervisor process (`make serve`) formats its own
lines with this class too (orca/uvicorn-log.json).
"""

import asyncio
import logging
import os
import weakref
from datetime import UTC, datetime

import orjson

FORMATS = ("plain", "json")
FORMAT = os.environ.get("ORCA_LOG_FORMAT", "plain").strip().lower() or "plain"
# Whether the relay tags its task with the request id.
REQUEST_IDS = FORMAT == "json"

# Not a context variable: tasks a call starts (the usage flusher, the config poller) would
# inherit it and tag every line they ever write with that first call's id.
_requests: "weakref.WeakKeyDictionary[asyncio.Task, str]" = weakref.WeakKeyDictionary()


def tag_task(request_id: str) -> None:
    """The current task serves this call: its log lines carry the id."""
    task = asyncio.current_task()
    if task is not None:
        _requests[task] = request_id


def current_request_id() -> str | None:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # a thread without an event loop
        return None
    return _requests.get(task) if task is not None else None


def adopt_uvicorn_logs() -> None:
    """uvicorn's loggers write through handlers of their own: give those the JSON format
    too (called as the app loads, after uvicorn set its logging up). Configuring the
    loggers instead would hand `uvicorn.access` a handler, turning on the access log that
    --no-access-log turned off."""
    if FORMAT != "json":
        return
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(JsonFormatter())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = current_request_id()
        if current is not None:
            entry["request_id"] = current
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()
