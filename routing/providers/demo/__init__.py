"""The `demo` kind: answers locally and deterministically, so a fresh install works with no
provider account (chat that streams and calls tools; embeddings)."""

from .chat import DemoChat
from .embeddings import DemoEmbeddings

__all__ = ["DemoChat", "DemoEmbeddings"]
