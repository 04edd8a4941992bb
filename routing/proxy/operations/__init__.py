"""Operations: one module per endpoint family (chat, embeddings; images, speech, video next).

An operation is what the pipeline asks of a family, whatever the client's dialect and the
provider's kind: which catalog endpoint type serves it, what a call may cost at most, what a
model must offer to take it, and how usage is read from the family's canonical answer. How
each provider kind builds the upstream call lives beside the kind (routing.providers, one
module per kind and family); how each dialect parses and renders lives in the surfaces.
"""

from .base import Operation
from .chat import CHAT
from .embeddings import EMBEDDINGS

__all__ = ["CHAT", "EMBEDDINGS", "Operation"]
