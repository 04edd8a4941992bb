"""Errors raised by pure wire code."""


class InvalidRequest(ValueError):
    """A request that is malformed, or that cannot be served faithfully; names the field."""

    def __init__(self, message: str, *, param: str | None, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class StreamError(Exception):
    """An error event inside an upstream stream (after the 200 went out)."""

    def __init__(self, message: str, type_: str = "api_error") -> None:
        super().__init__(message)
        self.message = message
        self.type = type_
