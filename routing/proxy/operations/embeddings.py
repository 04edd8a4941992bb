"""The embeddings family: OpenAI `/v1/embeddings` and Gemini `batchEmbedContents` /
`embedContent` clients; the canonical form is the OpenAI request with a list `input`."""

from ...wire import embeddings
from ...wire.usage import Usage
from .base import Operation


class EmbeddingsOperation(Operation):
    name = endpoint_type = "embeddings"
    served_by = frozenset({"embeddings"})
    charges_without_output = True  # priced per input token; there is no output

    def estimate_prompt(self, request: dict) -> int:
        return embeddings.estimate_input_tokens(request)

    def verify(self, answer: dict, request: dict) -> None:
        if len(answer["data"]) != len(request["input"]):
            raise ValueError("upstream returned a different number of embeddings")

    def usage(self, answer: dict) -> Usage:
        usage = answer.get("usage")
        if isinstance(usage, dict):
            prompt = usage.get("prompt_tokens")
            if isinstance(prompt, int) and not isinstance(prompt, bool) and prompt >= 0:
                return Usage(prompt_tokens=prompt, reported=True)
        return Usage(reported=False)  # Gemini reports none: the pipeline's estimate stands


EMBEDDINGS = EmbeddingsOperation()
