"""What every operation answers for the pipeline."""

from ...catalog.snapshot import ModelRoute
from ...providers import FamilyAdapter, family_adapters
from ...selection import Needs
from ...wire.usage import Usage


class Operation:
    name: str  # the family, as provider kinds register their adapters under it
    endpoint_type: str  # the family's catalog endpoint type, as errors name it
    # A model serves the family when its catalog `endpoints` list any of these.
    served_by: frozenset[str] = frozenset()
    # Whether a call that produced no output is still charged (chat: an empty completion is
    # free; embeddings: the input is the product).
    charges_without_output: bool = False

    def __init__(self) -> None:
        # Filled lazily: provider kinds import the wire modules, operations import kinds.
        self._adapters: dict[str, FamilyAdapter] | None = None

    def serves(self, route: ModelRoute) -> bool:
        return not self.served_by.isdisjoint(route.endpoint_types)

    def adapter_for(self, route: ModelRoute, surface: str) -> FamilyAdapter | None:
        """How the call reaches `route` from a client of `surface`: its kind's adapter."""
        return self.adapter(route.provider.kind)

    def adapter(self, kind: str) -> FamilyAdapter | None:
        """How provider kind `kind` serves this family, or None when it cannot."""
        adapters = self._adapters
        if adapters is None:
            adapters = self._adapters = family_adapters(self.name)
        return adapters.get(kind)

    def estimate_prompt(self, request: dict) -> int:
        """Input tokens of a canonical request, estimated before the upstream counts them."""
        raise NotImplementedError

    def reserved_prompt(self, request: dict, estimate: int) -> int:
        """The input tokens the reservation holds: the estimate, unless the family bills
        the input alone and needs a true upper bound (embeddings)."""
        return estimate

    def kept_output(self, out: bytes, answer: dict) -> str:
        """The output text a keeping workspace stores for a non-stream answer."""
        return out.decode("utf-8", "replace")

    def max_output(self, request: dict, route: ModelRoute) -> int:
        """The most output a call on `route` may be billed for: with the prompt estimate,
        what the pipeline reserves (at the dearest planned model) before any upstream call."""
        return 0

    def needs(self, request: dict, prompt_estimate: int) -> Needs:
        """What a router's candidate must offer to take this request."""
        return Needs(prompt_tokens=prompt_estimate)

    def verify(self, answer: dict, request: dict) -> None:
        """Raise ValueError when a canonical answer does not answer the request."""

    def usage(self, answer: dict) -> Usage:
        """Usage of a canonical answer (not reported: the pipeline fills in its estimate)."""
        raise NotImplementedError
