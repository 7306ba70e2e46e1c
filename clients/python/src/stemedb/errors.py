"""Exceptions raised by the StemeDB client.

Every exception carries the machine-readable ``code``, a human ``message`` and
the ``field`` it concerns (or ``None``), exactly like the server's error body
``{"error": {"code", "message", "field"}}``. Errors answered by the server also
carry the HTTP ``status`` and, for 429/503, ``retry_after`` in seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import BatchResult

__all__ = [
    "ApiError",
    "BadRequestError",
    "BatchError",
    "ForbiddenError",
    "IdMismatchError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "ServerError",
    "ServiceUnavailableError",
    "StemeDBError",
    "TransportError",
    "UnauthorizedError",
    "ValidationError",
]


class StemeDBError(Exception):
    """Base class of every error this package raises.

    Attributes:
        code: machine-readable error code (``missing_field``, ``not_found``, ...).
        message: human-readable description.
        field: the offending field or parameter (dotted, e.g. ``object.value``), or None.
        status: the HTTP status the server answered, or None when the error was
            detected before anything was sent.

    """

    def __init__(
        self, code: str, message: str, field: str | None = None, status: int | None = None
    ) -> None:
        self.code = code
        self.message = message
        self.field = field
        self.status = status
        where = f" ({field})" if field else ""
        prefix = f"HTTP {status} " if status is not None else ""
        super().__init__(f"{prefix}{code}{where}: {message}")


class ValidationError(StemeDBError):
    """A record or parameter broke a rule; detected by the client before sending.

    The code and field are the ones the server would answer (SPEC §1 limits).
    """


class IdMismatchError(StemeDBError):
    """The server stored a record under a different id than the client computed."""


class TransportError(StemeDBError):
    """The request did not get an answer (connection refused, TLS failure, timeout)."""


class ApiError(StemeDBError):
    """The server answered with an error status.

    Attributes:
        retry_after: seconds from the ``Retry-After`` header (429 and 503), or None.

    """

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None,
        status: int,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, field, status)
        self.retry_after = retry_after


class BadRequestError(ApiError):
    """HTTP 400: the server rejected the input; nothing of it was stored."""


class UnauthorizedError(ApiError):
    """HTTP 401: no (valid) bearer token was sent."""


class ForbiddenError(ApiError):
    """HTTP 403: the token's role, or the agent, may not do this."""


class NotFoundError(ApiError):
    """HTTP 404: unknown id, or a target/superseded epoch that does not exist."""


class PayloadTooLargeError(ApiError):
    """HTTP 413: body over ``api.max_body_bytes`` or batch over ``api.max_batch``."""


class RateLimitedError(ApiError):
    """HTTP 429: rate limited; wait ``retry_after`` seconds."""


class ServiceUnavailableError(ApiError):
    """HTTP 503: overloaded, read-only, timed out or closing; see ``code`` and ``retry_after``."""


class ServerError(ApiError):
    """HTTP 500 or any other unexpected status."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def api_error(
    status: int, code: str, message: str, field: str | None, retry_after: float | None
) -> ApiError:
    """Build the exception class matching an HTTP error status."""
    cls = _BY_STATUS.get(status, ServerError)
    return cls(code, message, field, status, retry_after)


class BatchError(StemeDBError):
    """``assert_many`` did not store every item.

    Attributes:
        result: the per-item outcome so far: stored items, failed items with their
            errors, and the indexes that were never sent (``result.unsent``).

    """

    def __init__(self, code: str, message: str, result: BatchResult) -> None:
        super().__init__(code, message, None, None)
        self.result = result
