"""The embeddings family: OpenAI `/v1/embeddings` and Gemini `batchEmbedContents` /
`embedContent` clients; the canonical form is the OpenAI request with a list `input`."""

from ...selection import Needs
from ...wire import embeddings, tokens
from ...wire.usage import Usage
from .base import Operation


class EmbeddingsOperation(Operation):
    name = endpoint_type = "embeddings"
    served_by = frozenset({"embeddings"})
    charges_without_output = True  # priced per input token; there is no output

    def estimate_prompt(self, request: dict) -> int:
        return embeddings.estimate_input_tokens(request)

    def reserved_prompt(self, request: dict, estimate: int) -> int:
        # The input is the whole cost and the upstream's tokenizer may count more than ours:
        # hold the most any byte-level tokenizer can count (UTF-8 bytes), so the balance
        # never goes below zero when the upstream's count comes in.
        return max(estimate, embeddings.most_input_tokens(request)[0])

    def needs(self, request: dict, prompt_estimate: int) -> Needs:
        # A model's context bounds each input, not the batch.
        items = request.get("input") or []
        largest = max(
            (tokens.count_text(i) if isinstance(i, str) else len(i) for i in items), default=0
        )
        return Needs(prompt_tokens=largest)

    def kept_output(self, out: bytes, answer: dict) -> str:
        # Vectors are not text anyone reads back, and can be 100 MB: a summary is kept.
        data = answer.get("data") or []
        size = (
            len(data[0]["embedding"]) if data and isinstance(data[0].get("embedding"), list) else 0
        )
        return f"[{len(data)} embeddings of {size} dimensions]"

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
