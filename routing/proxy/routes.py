from django.urls import path, re_path

from .consumer import NotFoundConsumer
from .consumers import (
    ChatCompletionsConsumer,
    CountTokensConsumer,
    GeminiNotFoundConsumer,
    GenerateContentConsumer,
    GenerationConsumer,
    MessagesConsumer,
    ModelsConsumer,
    ResponsesConsumer,
)

# google-genai keeps slashes of the model id literally in the path, and depending on its
# version and options calls the v1beta or the v1 API; both are served.
GENERATE = r"models/(?P<model>.+):(?P<action>generateContent|streamGenerateContent)$"

relay_urlpatterns = [
    path("v1/chat/completions", ChatCompletionsConsumer.as_asgi()),
    path("v1/responses", ResponsesConsumer.as_asgi()),
    path("v1/messages", MessagesConsumer.as_asgi()),
    path("v1/messages/count_tokens", CountTokensConsumer.as_asgi()),
    re_path(rf"^v1beta/{GENERATE}", GenerateContentConsumer.as_asgi()),
    re_path(rf"^v1/{GENERATE}", GenerateContentConsumer.as_asgi()),
    path("v1/generation", GenerationConsumer.as_asgi()),
    path("v1/models", ModelsConsumer.as_asgi()),
    re_path(r"^v1/models/(?P<model_id>.+)$", ModelsConsumer.as_asgi()),
    re_path(r"^v1beta/", GeminiNotFoundConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]
