"""Anthropic's Messages API (x-api-key, anthropic-version). Anthropic has no embeddings."""

from .chat import API_VERSION, AnthropicChat

__all__ = ["API_VERSION", "AnthropicChat"]
