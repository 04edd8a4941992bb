"""Errors raised by pure wire code."""


class InvalidRequest(ValueError):
    """A request that is malformed, or that cannot be served faithfully; names the field."""

    def __init__(self, message: str, *, param: str | None, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class StreamError(Exception):
    """An error event inside an upstream stream (after the 200 went out), or an event that
    cannot be decoded at all (`malformed`: it must not be forwarded, even on a pass-through)."""

    def __init__(self, message: str, type_: str = "api_error", *, malformed: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.type = type_
        self.malformed = malformed


def malformed_event() -> StreamError:
    return StreamError("upstream sent a malformed stream event", "api_error", malformed=True)
