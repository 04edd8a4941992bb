"""The production ASGI app with test hooks in the pipeline's seam (routing.proxy.pipeline.
hooks), for test_hooks_live.py. Markers in the last user message choose what the hooks do,
so one server covers every case:

* HOOK-MODEL:<id>  before_plan switches the call to model <id>
* HOOK-PLANBLOCK   before_plan refuses the call (403 hook_blocked)
* HOOK-REWRITE     before_upstream rewrites the marker to REWRITTEN-BY-HOOK in the canonical
* HOOK-BLOCK       before_upstream refuses the call (403 hook_blocked)
* HOOK-WATCH       a watcher that only looks
* HOOK-REDACT      a watcher that writes "fake" as "[redacted]" in the answer
* HOOK-DROP        a watcher that drops every stream chunk whose text has "fake"
* HOOK-STOP        a watcher that blocks the answer (403) at the first text with "fake"

Every watcher's finish() appends a JSON line about its call to the file $HOOK_LOG.
"""

import copy
import json
import os
import re

from orca.asgi import application
from routing.proxy.errors import GatewayError
from routing.proxy.pipeline import hooks

MARKER = re.compile(r"HOOK-([A-Z]+)(?::([\w./-]+))?")
WATCHING = {"WATCH", "REDACT", "DROP", "STOP"}


def _last_user(canonical: dict) -> dict | None:
    for message in reversed(canonical.get("messages") or []):
        if message.get("role") == "user":
            return message
    return None


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


def markers(call) -> dict[str, str]:
    message = _last_user(call.canonical)
    text = _text(message.get("content")) if message else ""
    return {name: arg for name, arg in MARKER.findall(text)}


def blocked(message: str) -> GatewayError:
    return GatewayError(403, message, code="hook_blocked")


async def before_plan(call) -> None:
    found = markers(call)
    if "PLANBLOCK" in found:
        raise blocked("blocked by the test prompt hook")
    if found.get("MODEL"):
        call.rewrite(model=found["MODEL"])


async def before_upstream(call) -> None:
    found = markers(call)
    if "BLOCK" in found:
        raise blocked("blocked by the test input policy")
    if "REWRITE" in found:
        canonical = copy.deepcopy(call.canonical)  # never the client's own body in place
        message = _last_user(canonical)
        assert message is not None
        content = message["content"]
        if isinstance(content, str):
            message["content"] = content.replace("HOOK-REWRITE", "REWRITTEN-BY-HOOK")
        else:
            for part in content:
                if isinstance(part.get("text"), str):
                    part["text"] = part["text"].replace("HOOK-REWRITE", "REWRITTEN-BY-HOOK")
        call.rewrite(canonical=canonical)


class Watcher:
    def __init__(self, found: dict[str, str]) -> None:
        self.found = found
        self.completions = 0
        self.chunks = 0
        self.text: list[str] = []

    def _look(self, text: str) -> str:
        if "STOP" in self.found and "fake" in text:
            raise blocked("answer blocked by the test output policy")
        if "REDACT" in self.found:
            text = text.replace("fake", "[redacted]")
        self.text.append(text)
        return text

    def completion(self, call, answer: dict) -> None:
        self.completions += 1
        for choice in answer.get("choices") or []:
            message = choice.get("message") or {}
            if isinstance(message.get("content"), str):
                message["content"] = self._look(message["content"])

    def chunk(self, call, chunk: dict) -> dict | None:
        self.chunks += 1
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                if "DROP" in self.found and "fake" in delta["content"]:
                    return None
                delta["content"] = self._look(delta["content"])
        return chunk

    def finish(self, call) -> None:
        line = {
            "request_id": call.request_id,
            "surface": call.surface.name,
            "stream": call.client.stream,
            "model": call.record.route.public_id,
            "status": call.record.status,
            "completions": self.completions,
            "chunks": self.chunks,
            "text": "".join(self.text),
        }
        with open(os.environ["HOOK_LOG"], "a") as log:
            log.write(json.dumps(line) + "\n")


def watch(call) -> Watcher | None:
    found = markers(call)
    return Watcher(found) if WATCHING & found.keys() else None


hooks.before_plan.append(before_plan)
hooks.before_upstream.append(before_upstream)
hooks.answer_watchers.append(watch)

__all__ = ["application"]
