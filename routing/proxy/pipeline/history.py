"""Stored conversations of the Responses API: the history a `previous_response_id` names,
and the new turn kept after an answer."""

import orjson

from workspaces.selectors import KeyContext

from ...catalog.snapshot import ModelRoute
from ...selectors import stored_conversation
from ...services import store_response
from ...wire import responses
from ..errors import GatewayError, scrub_bytes
from .call import Call
from .state import run_db


async def conversation_so_far(
    payload: dict, key: KeyContext
) -> tuple[list[dict] | None, GatewayError | None]:
    """The stored turns a `previous_response_id` names, or why there are none. The reason
    is not raised here: a native Responses upstream may know the id as its own (and then
    gets the request as sent); only a translated call needs Orca's copy of the turns."""
    previous = payload.get("previous_response_id")
    if not previous:
        return None, None
    if not key.keep_response_history:
        return None, GatewayError(
            400,
            "previous_response_id needs response history, which this workspace does not keep; "
            "send the whole conversation in `input`, or ask an admin to enable response history",
            code="response_history_disabled",
            param="previous_response_id",
        )
    history = await run_db(stored_conversation, key.workspace_id, previous)
    if history is None:
        return None, GatewayError(
            400,
            f"previous response {previous!r} not found",
            code="previous_response_not_found",
            param="previous_response_id",
        )
    return history, None


async def remember(call: Call, completion: dict, route: ModelRoute) -> None:
    """Keep the new turn of a translated Responses call (a native upstream keeps its own)."""
    if call.surface.name != "responses" or not call.key.keep_response_history:
        return
    if call.body.get("store") is False:
        return
    messages = responses.history_after(call.canonical, completion)
    if route.provider.secrets:  # an upstream that echoed its credential: not stored either
        raw = orjson.dumps(messages)
        clean = scrub_bytes(raw, route.provider.secrets)
        if clean is not raw:
            messages = orjson.loads(clean)
    await run_db(
        store_response,
        call.key.workspace_id,
        call.client.response_id,
        call.client.model,
        messages,
    )
