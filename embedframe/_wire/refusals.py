"""What a server's refusal of a request (400, 413, 422) means, read from its status and
message: too large (split the request), an input over the context length (chunk the text),
or the content itself; and the limits its message states (``maximum allowed batch size 32``,
``max 2000 tokens per request``, ``context length is 512``). Pure: data in, data out.
"""

from __future__ import annotations

import re

from ..errors import BadRequestError

__all__ = [
    "INPUT_TOO_LONG",
    "REQUESTED_TOKENS",
    "STATED_INPUTS",
    "STATED_INPUT_TOKENS",
    "STATED_TOKENS",
    "TOO_LARGE",
    "hinted",
    "input_too_long",
    "stated",
    "too_large",
]

TOO_LARGE = re.compile(
    r"max_tokens_per_request|too many (inputs|tokens)|batch size|batch too large|payload too large|"
    r"request entity too large|maximum.*(inputs|batch)|at most \d+ (items|inputs)",
    re.I,
)
INPUT_TOO_LONG = re.compile(
    r"context.length|must have less than (\d+) tokens|(?:input|prompt) is too (?:long|large)", re.I
)
STATED_INPUTS = re.compile(
    r"maximum allowed batch size (\d+)|max(?:imum)? number of inputs is (\d+)|at most (\d+) (?:items|inputs)",
    re.I,
)
STATED_TOKENS = re.compile(r"max(?:imum)? (\d+) tokens per request", re.I)
REQUESTED_TOKENS = re.compile(r"you requested (\d+) tokens|Given: (\d+)", re.I)
STATED_INPUT_TOKENS = re.compile(r"context length is (\d+)|must have less than (\d+) tokens", re.I)


def too_large(error: BadRequestError) -> bool:
    """Whether the server refused the request for its size (split it), not its content."""
    if input_too_long(error):
        return False
    if error.status == 413:
        return True
    return bool(TOO_LARGE.search(f"{error.code or ''} {error.message}"))


def input_too_long(error: BadRequestError) -> bool:
    """Whether the server refused an input as over its context length: splitting the request
    cannot help (servers count this per input), chunking the text can."""
    return bool(INPUT_TOO_LONG.search(error.message))


def stated(pattern: re.Pattern[str], message: str) -> int | None:
    """The limit a server's message states (``... maximum allowed batch size 32``), if any."""
    found = pattern.search(message)
    return next((int(g) for g in found.groups() if g), None) if found else None


def hinted(error: BadRequestError, hint: str) -> BadRequestError:
    """``error`` again, its message followed by what to do about it."""
    return type(error)(
        f"{error.message} ({hint})",
        status=error.status,
        code=error.code,
        type=error.type,
        request_id=error.request_id,
    )
