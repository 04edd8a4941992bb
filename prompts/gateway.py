"""The prompt registry on the relay: an arrival hook that puts a registry prompt into the
request before it is validated, in the client's own dialect.

Which prompt: a request's own reference wins — `prompt_ref` in the body (any dialect; the
openai SDK sends it through `extra_body`), the `X-Orca-Prompt-Ref` header, or Responses'
`prompt: {"id", "version", "variables"}` when its id names a registry prompt — else the
key's binding. A reference to a prompt that is missing, disabled or in the trash is a 400
naming it; a binding to one injects nothing. Variables come in `prompt_variables` (or the
Responses prompt's `variables`).

Resolution is from memory: a workspace's prompt index (names, labels, newest numbers) is
read once per config version (every write to a prompt, version or label moves it, and every
process polls it), so a label move reaches the next call everywhere within one poll; a
version's content is immutable and cached for good. No ORM call on the hot path.
"""

import time
from typing import Any

from routing.proxy.errors import GatewayError
from routing.proxy.pipeline import hooks
from routing.proxy.pipeline.state import run_db, state

from . import inject
from .refs import DEFAULT_LABEL, Ref, RefError, parse_ref, parse_selector, pick
from .selectors import IndexedPrompt, PromptIndex, VersionSpec, prompt_index, version_spec
from .templating import PromptError, render_all

REF_HEADER = b"x-orca-prompt-ref"
_indexes: dict[int, tuple[PromptIndex, float]] = {}
_indexes_generation = -1
_versions: dict[tuple[int, int], VersionSpec | None] = {}
_MAX_CACHED = 20_000
# Rendered (system, messages) by (version spec, reference, values); specs are kept for good
# in _versions, so their ids are stable keys.
_renders: dict[tuple, tuple[str, list[dict]]] = {}


def _refused(message: str, param: str) -> GatewayError:
    return GatewayError(400, message, code="invalid_prompt_ref", param=param)


async def _index(workspace_id: int) -> PromptIndex:
    global _indexes_generation
    generation = state.generation
    if generation != _indexes_generation:
        _indexes.clear()
        _indexes_generation = generation
    entry = _indexes.get(workspace_id)
    if entry is None or not state.fresh(entry[1]):
        loaded_at = time.monotonic()
        found = await run_db(prompt_index, workspace_id)
        if state.generation == generation:
            if len(_indexes) >= _MAX_CACHED:
                _indexes.clear()
            _indexes[workspace_id] = (found, loaded_at)
        return found
    return entry[0]


async def _version(prompt: IndexedPrompt, number: int) -> VersionSpec | None:
    slot = (prompt.id, number)
    if slot not in _versions:
        spec = await run_db(version_spec, prompt.id, number)
        if len(_versions) >= _MAX_CACHED:
            _versions.clear()
            _renders.clear()  # keyed by the ids of the specs just let go
        _versions[slot] = spec
    return _versions[slot]


def _rendered(spec: VersionSpec, values: dict | None, ref: str) -> tuple[str, list[dict]]:
    """render_all, remembered for the same version and (plain) values: a bound prompt
    called with its defaults renders once, not on every call."""
    try:
        # the type too: True and 1 are equal keys, but not the same variable value
        plain = None if not values else tuple((k, type(v), v) for k, v in sorted(values.items()))
        slot = (id(spec), ref, plain)
        hash(slot)
    except TypeError:  # a value that is a list or an object: rendered (and refused) afresh
        return render_all(spec.system, list(spec.messages), spec.variables, values, ref)
    found = _renders.get(slot)
    if found is None:
        found = render_all(spec.system, list(spec.messages), spec.variables, values, ref)
        if len(_renders) >= _MAX_CACHED:
            _renders.clear()
        _renders[slot] = found
    system, messages = found
    return system, [dict(m) for m in messages]  # the body gets its own copies


def _request_ref(arrival: hooks.Arrival, payload: dict) -> tuple[Ref | None, Any, str]:
    """The reference the request itself makes (and its variables, and the field to name in
    an error), taken out of the body."""
    raw = payload.pop("prompt_ref", None)
    values = payload.pop("prompt_variables", None)
    param = "prompt_ref"
    if raw is None:
        header = arrival.consumer.header(REF_HEADER)
        if header:
            raw, param = header, "X-Orca-Prompt-Ref"
    if arrival.surface.name == "responses":
        found = _responses_prompt(payload)  # taken out of the body when it is a registry's
        if found is not None and raw is None:
            return found
    if raw is None:
        return None, values, param
    try:
        return parse_ref(raw), values, param
    except RefError as exc:
        raise _refused(f"{param}: {exc.message}", param) from None


def _responses_prompt(payload: dict) -> tuple[Ref, Any, str] | None:
    """OpenAI's `prompt` object, when its id is a registry name (a `pmpt_…` id of OpenAI's
    own stays in the body for a native upstream)."""
    prompt = payload.get("prompt")
    if not isinstance(prompt, dict) or not isinstance(prompt.get("id"), str):
        return None
    name, version = prompt["id"], prompt.get("version")
    if name.startswith("pmpt_"):
        return None
    selector = None
    if version is not None:
        selector = f"v{version}" if str(version).isdigit() else str(version)
    try:
        ref = parse_selector(name, selector) if "@" not in name else parse_ref(name)
    except RefError as exc:
        raise _refused(f"prompt: {exc.message}", "prompt") from None
    del payload["prompt"]
    return ref, prompt.get("variables"), "prompt"


async def apply_prompt(arrival: hooks.Arrival) -> None:
    payload = arrival.payload
    if not isinstance(payload, dict):
        return  # validation says what is wrong with it
    surface = arrival.surface.name
    ref, values, param = _request_ref(arrival, payload)
    key = arrival.key
    explicit = ref is not None
    if ref is None and key.prompt_id is None:
        return
    if surface not in inject.SURFACES:
        if explicit:  # embeddings take no prompt
            raise _refused(f"{surface} requests take no prompt", param)
        return
    index = await _index(key.workspace_id)
    if ref is None:
        bound = index.by_id.get(key.prompt_id)  # type: ignore[arg-type]
        if bound is None or not bound.enabled:
            return  # a bound prompt that is disabled or in the trash adds nothing
        try:
            ref = parse_selector(bound.name, key.prompt_label or DEFAULT_LABEL)
        except RefError:
            return
    prompt = index.by_name.get(ref.name)
    if prompt is None or not prompt.enabled:
        if not explicit:
            return
        state_word = "disabled" if prompt is not None else "not in this workspace"
        raise _refused(f"{param}: prompt {ref.name!r} is {state_word}", param)
    try:
        number, label = pick(ref, prompt.labels, prompt.latest)
    except RefError as exc:
        if not explicit:
            return
        raise _refused(f"{param}: {exc.message}", param) from None
    spec = await _version(prompt, number)
    if spec is None:
        if not explicit:
            return
        raise _refused(f"{param}: {ref.name} has no version {number}", param)
    if values is not None and not isinstance(values, dict):
        raise _refused("prompt_variables must be an object of name: value", "prompt_variables")
    try:
        system, messages = _rendered(spec, values, str(ref))
    except PromptError as exc:
        raise GatewayError(
            400, exc.message, code="invalid_prompt_variables", param=exc.field
        ) from None
    inject.inject(surface, payload, system, messages)
    inject.apply_defaults(surface, payload, spec.model, spec.parameters)
    shown = f"{prompt.name}@{label or f'v{number}'}:v{number}"
    arrival.headers = (*arrival.headers, (b"x-orca-prompt", shown.encode("utf-8", "replace")))
    arrival.prompt, arrival.prompt_version = prompt.name, number


def install() -> None:
    """Put the prompt hook on the relay (once per process, from AppConfig.ready)."""
    if apply_prompt not in hooks.on_arrival:
        hooks.on_arrival.append(apply_prompt)
