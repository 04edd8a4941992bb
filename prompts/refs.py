"""Prompt references (pure: no Django): `name`, `name@label`, `name@v3`, `name@latest`.

Which version a reference means, given a prompt's labels and its newest number, is decided
here once, so the management API's render and the relay's hook agree:

- `@v3`: version 3 (it must exist);
- `@latest`: the newest version;
- `@label`: the version the label points at (it must exist);
- no selector: the `production` label, or the newest version while the prompt has no
  `production` label (a prompt nobody has released yet still works).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

LATEST = "latest"
DEFAULT_LABEL = "production"
NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{1,128}\Z")
LABEL_RE = re.compile(r"^[a-zA-Z0-9._-]{1,64}\Z")
VERSION_RE = re.compile(r"^v([0-9]{1,9})\Z")


class RefError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Ref:
    name: str
    label: str | None = None  # a label name, `latest`, or None (the default)
    version: int | None = None  # set for `@vN`

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@v{self.version}"
        return f"{self.name}@{self.label or DEFAULT_LABEL}"


def parse_selector(name: str, selector: str | None) -> Ref:
    """The part after `@` (or None/"" for the default)."""
    if not selector:
        return Ref(name)
    found = VERSION_RE.match(selector)
    if found:
        number = int(found.group(1))
        if number < 1:
            raise RefError(f"no version {selector} (versions start at v1)")
        return Ref(name, version=number)
    if not LABEL_RE.match(selector):
        raise RefError(f"{selector!r} is not a label or a version like v3")
    return Ref(name, label=selector)


def parse_ref(ref: str) -> Ref:
    """`name`, `name@label`, `name@v3` or `name@latest`; RefError when malformed."""
    if not isinstance(ref, str) or not ref.strip():
        raise RefError("a prompt reference like support, support@production or support@v3")
    name, _, selector = ref.strip().partition("@")
    if not NAME_RE.match(name):
        raise RefError(f"{name!r} is not a prompt name (letters, digits, ., _ and -)")
    if "@" in selector:
        raise RefError("one @ at most, e.g. support@production")
    return parse_selector(name, selector)


def pick(ref: Ref, labels: Mapping[str, int], latest: int) -> tuple[int, str | None]:
    """The version number `ref` means and the label that chose it (None for `@vN`), or
    RefError saying what is missing."""
    if latest < 1:
        raise RefError(f"{ref.name} has no versions yet")
    if ref.version is not None:
        if ref.version > latest:
            raise RefError(f"{ref.name} has no version {ref.version} (the newest is v{latest})")
        return ref.version, None
    if ref.label == LATEST:
        return latest, LATEST
    if ref.label is None:
        number = labels.get(DEFAULT_LABEL)
        return (number, DEFAULT_LABEL) if number is not None else (latest, LATEST)
    number = labels.get(ref.label)
    if number is None:
        raise RefError(f"{ref.name} has no label {ref.label}")
    return number, ref.label


def reserved_label(name: str) -> str | None:
    """Why `name` cannot be a stored label, or None when it can."""
    if name == LATEST:
        return "latest always means the newest version; it cannot be moved"
    if VERSION_RE.match(name):
        return "v<number> names a version; a label cannot look like one"
    return None
