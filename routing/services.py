"""Writes for the routing app."""

from billing.text import storable, storable_data

from .models import StoredResponse


def store_response(workspace_id: int, response_id: str, model: str, messages: list[dict]) -> None:
    # The conversation is the client's and the model's text: NUL or a lone surrogate in it
    # would make PostgreSQL refuse the row (and the reply would lose its history).
    StoredResponse.objects.create(
        workspace_id=workspace_id,
        response_id=response_id,
        model=storable(model)[:200],
        messages=storable_data(messages),
    )
