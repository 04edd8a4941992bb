"""The chat family: Chat Completions, Responses, Messages and generateContent clients, all
reaching the canonical form (OpenAI chat) and every provider kind's chat endpoint."""

from ... import selection
from ...catalog.snapshot import ModelRoute
from ...selection import Needs
from ...wire import openai_chat
from ...wire.usage import Usage
from .base import Operation

DEFAULT_MAX_OUTPUT = 4096  # for the reservation when neither request nor model sets one


class ChatOperation(Operation):
    name = endpoint_type = "chat"
    streams = True

    def estimate_prompt(self, request: dict) -> int:
        return selection.estimate_tokens(request)

    def max_output(self, request: dict, route: ModelRoute) -> int:
        asked = request.get("max_completion_tokens") or request.get("max_tokens")
        if isinstance(asked, int) and asked > 0:
            return asked
        return route.max_output_tokens or DEFAULT_MAX_OUTPUT

    def needs(self, request: dict, prompt_estimate: int) -> Needs:
        return selection.needs_of(request)

    def usage(self, answer: dict) -> Usage:
        return openai_chat.usage_from_object(answer.get("usage")) or Usage(reported=False)


CHAT = ChatOperation()
