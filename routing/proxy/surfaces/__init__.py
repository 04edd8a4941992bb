"""Client surfaces: one per dialect of each endpoint family (routing.proxy.operations)."""

from .base import ClientCall, Surface
from .chat import CHAT, ChatStreamEncoder
from .embeddings import EMBED_CONTENT, EMBEDDINGS_SURFACE
from .generate import GENERATE
from .messages import MESSAGES
from .responses import RESPONSES

__all__ = [
    "CHAT",
    "EMBEDDINGS_SURFACE",
    "EMBED_CONTENT",
    "GENERATE",
    "MESSAGES",
    "RESPONSES",
    "ChatStreamEncoder",
    "ClientCall",
    "Surface",
]
