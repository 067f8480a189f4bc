"""Domain errors raised by services; the API maps each to an HTTP status."""


class ConcordError(Exception):
    """Base of errors a user can act on; the message names the problem."""

    status_code = 400

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ValidationError(ConcordError):
    status_code = 400


class PermissionDenied(ConcordError):
    status_code = 403


class NotFound(ConcordError):
    status_code = 404


class Conflict(ConcordError):
    status_code = 409


class TooLarge(ConcordError):
    status_code = 413
