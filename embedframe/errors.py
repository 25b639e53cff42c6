"""The one exception tree of embedframe.

Every error embedframe raises on purpose derives from :class:`EmbedFrameError`::

    EmbedFrameError
    ├── ConfigError (ValueError)          an option has a bad value; nothing was sent
    ├── InputError (ValueError)           bad rows in the input; nothing was sent
    │   └── InputTypeError (TypeError)    a value that is not a string (names the row and type)
    ├── APIError                          the server answered with an error status
    │   ├── BadRequestError               400, 413, 422: the request is wrong; not retried
    │   ├── AuthenticationError           401, 403: bad or missing key; not retried
    │   ├── NotFoundError                 404: unknown model or route; not retried
    │   ├── RateLimitError                429 still failing after the retries
    │   │   └── QuotaExceededError        429 insufficient_quota: will not clear; not retried
    │   └── ServerError                   5xx still failing after the retries
    ├── TransportError                    timeouts or dropped connections after the retries
    ├── BatchError                        a Batch API job cannot give every row a vector (failed,
    │                                     cancelled or expired batches), or is not finished yet
    └── ResponseError                     a 200 whose body breaks the contract (count, index,
        │                                 dimension, non-finite values, bad JSON)
        └── VectorSizeError               vectors of another size than the job's so far

Messages say what was wrong, with which value, and what to do. They never contain the API
key: server messages are scrubbed before they are stored. ``resumable`` says whether running
the same call again can get further (what was paid for is in the cache): true for failures
that may clear (429, 5xx, the network, a bad answer), false where something must change
first (the input, an option, the key, the model, the account's quota, the host name).
"""

from __future__ import annotations

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "BatchError",
    "ConfigError",
    "EmbedFrameError",
    "InputError",
    "InputTypeError",
    "NotFoundError",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseError",
    "ServerError",
    "TransportError",
    "VectorSizeError",
]


class EmbedFrameError(Exception):
    """Base class of every error embedframe raises on purpose."""

    resumable: bool = False
    """Whether running the same call again can get further without changing anything."""


class ConfigError(EmbedFrameError, ValueError):
    """An option has a value embedframe cannot use."""


class InputError(EmbedFrameError, ValueError):
    """Some input rows cannot be embedded; raised before any request is sent."""


class InputTypeError(InputError, TypeError):
    """A value in the text column is neither a string nor a null."""


class APIError(EmbedFrameError):
    """The server answered with an error status.

    ``status`` is the HTTP status, ``message`` the server's own message, ``code`` and
    ``type`` the error code and type when the server gave them.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.type = type
        self.request_id = request_id
        detail = f"HTTP {status}"
        if code:
            detail += f" ({code})"
        text = f"{detail}: {message}"
        if request_id:
            text += f" [request id {request_id}]"
        super().__init__(text)

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments: rebuild through a helper so the error pickles (Dask workers).
        fields = {"status": self.status, "code": self.code, "type": self.type, "request_id": self.request_id}
        return (_rebuild_api_error, (type(self), self.message, fields))


def _rebuild_api_error(cls: type[APIError], message: str, fields: dict[str, object]) -> APIError:
    return cls(message, **fields)  # type: ignore[arg-type]


class BadRequestError(APIError):
    """The server rejected the request as malformed or too large (400, 413, 422)."""


class AuthenticationError(APIError):
    """The server refused the credentials (401, 403)."""


class NotFoundError(APIError):
    """The model or route does not exist on this server (404)."""


class RateLimitError(APIError):
    """The server kept answering 429 after every retry, or asked for a longer wait than allowed."""

    resumable = True


class QuotaExceededError(RateLimitError):
    """The account has no quota left (429 ``insufficient_quota``); retrying cannot help."""

    resumable = False


class ServerError(APIError):
    """The server kept failing with 5xx after every retry."""

    resumable = True


class BatchError(EmbedFrameError):
    """A Batch API job cannot give every row its vector (batches that failed, were cancelled
    or expired too often), or its result was asked for before it finished."""


class TransportError(EmbedFrameError):
    """The connection failed or timed out after every retry (or the host name is unknown:
    then ``resumable`` is false)."""

    def __init__(self, message: str, *, resumable: bool = True) -> None:
        super().__init__(message)
        self.resumable = resumable

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_transport_error, (type(self), str(self), self.resumable))


def _rebuild_transport_error(cls: type[TransportError], message: str, resumable: bool) -> TransportError:
    return cls(message, resumable=resumable)


class ResponseError(EmbedFrameError):
    """A successful response broke the embeddings contract; nothing from it was written."""

    resumable = True


class VectorSizeError(ResponseError):
    """Vectors of another size than the ones already in hand (this job's, the cache's, or
    the size a column was set up for)."""

    resumable = False  # the same call meets the same sizes: pass dimensions= first

    def __init__(self, got: int, expected: int, *, source: str, fix: str) -> None:
        super().__init__(f"the server sent {got}-d vectors, but {source} holds {expected}-d ones; {fix}")
        self.got = got
        self.expected = expected
