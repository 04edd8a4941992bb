"""Writes for the routing app."""

from .models import StoredResponse


def store_response(workspace_id: int, response_id: str, model: str, messages: list[dict]) -> None:
    StoredResponse.objects.create(
        workspace_id=workspace_id, response_id=response_id, model=model, messages=messages
    )
