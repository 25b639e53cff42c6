"""The keyword options of every public call, declared for type checkers and documented
for ``help()``: :class:`EmbedConfig`'s fields, which are where each option is declared,
defaulted, documented and validated."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import itertools
import os
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, TypeVar

from ._core.tokenizer import Tokenizer
from .config import EmbedConfig, EmptyPolicy, LongTextPolicy

__all__ = ["EmbedOptions", "options_help", "takes_options"]


class EmbedOptions(TypedDict, total=False):
    """The keyword options every public call takes (``**options``): :class:`EmbedConfig`'s
    fields, for type checkers. EmbedConfig is where each is declared, defaulted, documented
    and validated; a test keeps the two the same."""

    api_key: str | None
    base_url: str | None
    model: str | None
    dimensions: int | None
    user: str | None
    organization: str | None
    project: str | None
    headers: Mapping[str, str]
    api_version: str | None
    encoding: str | None
    tokenizer: str | os.PathLike[str] | Tokenizer | None
    max_input_tokens: int | None
    long_text: LongTextPolicy
    chunk_tokens: int | None
    chunk_overlap: int
    empty: EmptyPolicy
    max_inputs_per_request: int
    max_tokens_per_request: int
    concurrency: int
    requests_per_minute: int | None
    tokens_per_minute: int | None
    timeout: float
    max_retries: int
    wait_initial: float
    wait_max: float
    max_retry_wait: float
    progress: bool | None
    cache: bool | str | os.PathLike[str]
    cache_storage_options: Mapping[str, Any] | None


_F = TypeVar("_F", bound=Callable[..., Any])


@functools.cache
def options_help() -> str:
    """Every option with its type, default and meaning (from EmbedConfig's field docstrings),
    as a docstring section."""
    docs = _field_docs()
    lines = ["", "Options (keyword-only; the same as :class:`EmbedConfig`'s fields):", ""]
    for f in dataclasses.fields(EmbedConfig):
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        lines.append(f"- ``{f.name}`` ({f.type}, default ``{default!r}``): {docs.get(f.name, '')}")
    return "\n".join(lines)


def _field_docs() -> dict[str, str]:
    """The docstring under each field of EmbedConfig, read from this module's source."""
    import ast

    tree = ast.parse(inspect.getsource(EmbedConfig))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
        ):
            docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def takes_options(fn: _F) -> _F:
    """Append the options' documentation to ``fn``'s docstring, so ``help()`` and the API
    reference list every option with its meaning."""
    with contextlib.suppress(OSError, TypeError):  # no source to read the field docs from (frozen app)
        fn.__doc__ = inspect.cleandoc(fn.__doc__ or "") + "\n" + options_help()
    return fn
