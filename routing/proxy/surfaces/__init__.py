"""Client surfaces: one per dialect of each endpoint family (routing.proxy.operations)."""

from .base import ClientCall, Surface
from .chat import CHAT, GENERATE, MESSAGES, RESPONSES, ChatStreamEncoder
from .embeddings import EMBED_CONTENT, EMBEDDINGS_SURFACE

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
