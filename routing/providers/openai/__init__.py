"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, DeepSeek, xAI, ...)."""

from .chat import OpenAIChat
from .embeddings import OpenAIEmbeddings
from .responses import OpenAIResponses

__all__ = ["OpenAIChat", "OpenAIEmbeddings", "OpenAIResponses"]
