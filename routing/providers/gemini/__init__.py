"""Google's Gemini API (x-goog-api-key): generateContent and batchEmbedContents."""

from .chat import GeminiChat
from .embeddings import GeminiEmbeddings

__all__ = ["GeminiChat", "GeminiEmbeddings"]
