from django.urls import path, re_path

from .consumer import NotFoundConsumer
from .consumers import ChatCompletionsConsumer, ModelsConsumer

relay_urlpatterns = [
    path("v1/chat/completions", ChatCompletionsConsumer.as_asgi()),
    path("v1/models", ModelsConsumer.as_asgi()),
    re_path(r"^v1/models/(?P<model_id>.+)$", ModelsConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]
