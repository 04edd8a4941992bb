from types import MappingProxyType

from channels.routing import URLRouter
from django.urls import path, re_path

from .consumer import NotFoundConsumer
from .consumers import (
    ChatCompletionsConsumer,
    CountTokensConsumer,
    EmbedContentConsumer,
    EmbeddingsConsumer,
    GeminiCountTokensConsumer,
    GeminiNotFoundConsumer,
    GenerateContentConsumer,
    GenerationConsumer,
    MessagesConsumer,
    ResponsesConsumer,
)
from .model_lists import ModelsConsumer
from .openrouter import OPENROUTER_ROUTES, OpenRouterNotFoundConsumer

# google-genai keeps slashes of the model id literally in the path, and depending on its
# version and options calls the v1beta or the v1 API; both are served.
GENERATE = r"models/(?P<model>.+):(?P<action>generateContent|streamGenerateContent)$"
EMBED = r"models/(?P<model>.+):(?P<action>embedContent|batchEmbedContents)$"
COUNT = r"models/(?P<model>.+):countTokens$"
# models.get: the id after `models/`, slashes and all (the actions above are tried first).
MODEL = r"models/(?P<model_id>.+)$"

# Fixed paths, looked up in a dict before any pattern is tried (the chat completions path
# carries most of the traffic; matching it through URLRouter cost a few % of a worker).
EXACT = {
    "v1/chat/completions": ChatCompletionsConsumer.as_asgi(),
    "v1/responses": ResponsesConsumer.as_asgi(),
    "v1/embeddings": EmbeddingsConsumer.as_asgi(),
    "v1/messages": MessagesConsumer.as_asgi(),
    "v1/messages/count_tokens": CountTokensConsumer.as_asgi(),
    "v1/generation": GenerationConsumer.as_asgi(),
    "v1/models": ModelsConsumer.as_asgi(),  # OpenAI's, Anthropic's or Gemini's shape
    "v1beta/models": ModelsConsumer.as_asgi(),  # Gemini's
    **OPENROUTER_ROUTES,  # /api/v1/key, credits, models, generation, chat/completions
}
NO_ARGUMENTS = MappingProxyType({"args": (), "kwargs": MappingProxyType({})})

relay_urlpatterns = [
    *(path(route, app) for route, app in EXACT.items()),
    re_path(rf"^v1beta/{GENERATE}", GenerateContentConsumer.as_asgi()),
    re_path(rf"^v1/{GENERATE}", GenerateContentConsumer.as_asgi()),
    re_path(rf"^v1beta/{EMBED}", EmbedContentConsumer.as_asgi()),
    re_path(rf"^v1/{EMBED}", EmbedContentConsumer.as_asgi()),
    re_path(rf"^v1beta/{COUNT}", GeminiCountTokensConsumer.as_asgi()),
    re_path(rf"^v1/{COUNT}", GeminiCountTokensConsumer.as_asgi()),
    re_path(rf"^v1beta/{MODEL}", ModelsConsumer.as_asgi()),
    re_path(rf"^v1/{MODEL}", ModelsConsumer.as_asgi()),
    re_path(r"^v1beta/", GeminiNotFoundConsumer.as_asgi()),
    re_path(r"^api/v1/", OpenRouterNotFoundConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]

_patterns = URLRouter(relay_urlpatterns)


async def relay_application(scope, receive, send) -> None:
    app = EXACT.get(scope["path"][1:])
    if app is None:
        return await _patterns(scope, receive, send)
    scope["url_route"] = NO_ARGUMENTS
    return await app(scope, receive, send)
