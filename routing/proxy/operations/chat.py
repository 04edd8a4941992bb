"""The chat family: Chat Completions, Responses, Messages and generateContent clients, all
reaching the canonical form (OpenAI chat) and every provider kind's chat endpoint."""

from ... import selection
from ...catalog.snapshot import ModelRoute
from ...providers import FamilyAdapter, family_adapters
from ...selection import Needs
from ...wire import openai_chat, tokens
from ...wire.usage import Usage
from .base import Operation

DEFAULT_MAX_OUTPUT = 4096  # for the reservation when neither request nor model sets one


class ChatOperation(Operation):
    name = endpoint_type = "chat"
    # "responses": the upstream speaks OpenAI's Responses API for the model (OpenAI, xAI);
    # a model listing only that is Responses-only, and chat clients reach it translated.
    served_by = frozenset({"chat", "responses"})

    def __init__(self) -> None:
        super().__init__()
        self._responses: dict[str, FamilyAdapter] | None = None

    def adapter_for(self, route: ModelRoute, surface: str) -> FamilyAdapter | None:
        """A model on a Responses upstream is asked natively by Responses clients (pass-
        through) and, when it serves only Responses, by every chat client (translated)."""
        types = route.endpoint_types
        if "responses" in types and (surface == "responses" or "chat" not in types):
            native = self._responses
            if native is None:
                native = self._responses = family_adapters("responses")
            found = native.get(route.provider.kind)
            if found is not None:
                return found
        return self.adapter(route.provider.kind)

    def estimate_prompt(self, request: dict) -> int:
        return tokens.estimate_chat_prompt(request, budget=tokens.RESERVATION_EXACT_CHARS)

    def max_output(self, request: dict, route: ModelRoute) -> int:
        asked = request.get("max_completion_tokens") or request.get("max_tokens")
        if isinstance(asked, int) and asked > 0:
            return asked
        return route.max_output_tokens or DEFAULT_MAX_OUTPUT

    def needs(self, request: dict, prompt_estimate: int) -> Needs:
        return selection.needs_of(request, prompt_estimate)

    def usage(self, answer: dict) -> Usage:
        return openai_chat.usage_from_object(answer.get("usage")) or Usage(reported=False)


CHAT = ChatOperation()
