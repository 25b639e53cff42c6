"""The local model (all-MiniLM-L6-v2 on CPU) and its tokenizer, loaded offline from the package."""

from __future__ import annotations

import itertools
import os
import random
import sys

import numpy as np
import pytest

from embedframe import local
from embedframe._core.chunk import split_tokens
from embedframe.errors import ConfigError, InputError
from embedframe.local import LOCAL_MODEL, MAX_TOKENS, LocalModel, LocalTokenizer, local_tokenizer

pytestmark = pytest.mark.skipif(not local.is_available(), reason="embedframe[local] is not installed")


@pytest.fixture(scope="module")
def model() -> LocalModel:
    m = LocalModel()
    m.load()
    return m


def words(n: int) -> str:
    """A text of exactly ``n`` tokens."""
    return " ".join("alpha" for _ in range(n))


def test_loads_offline_on_cpu(model: LocalModel) -> None:
    """The model loads from the package's files with the hub switched off, on CPU."""
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    st = local._load_model()
    assert str(st.device) == "cpu"
    assert st.max_seq_length == model.max_seq_length == 256
    assert model.max_tokens == MAX_TOKENS == 254
    assert model.name == LOCAL_MODEL == "all-MiniLM-L6-v2"


def test_vectors_are_unit_float32_and_384_wide(model: LocalModel) -> None:
    """embed gives float32 (n, 384) rows of length 1."""
    vecs = model.embed(["hello world", "a second, longer sentence about nothing in particular", "日本語"])
    assert vecs.dtype == np.float32 and vecs.shape == (3, 384) == (3, model.dimensions)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert model.embed([]).shape == (0, 384)


def test_vectors_are_semantically_sensible(model: LocalModel) -> None:
    """A sentence is closer to its paraphrase than to an unrelated one."""
    guitar, instrument, stocks = model.embed(
        ["A man is playing guitar", "Someone plays an instrument", "The stock market fell today"]
    )
    assert guitar @ instrument > 0.5 > 0.1 > guitar @ stocks


def test_vectors_are_deterministic_and_in_input_order(model: LocalModel) -> None:
    """The same texts give the same vectors, whatever their order in the call."""
    texts = [f"sentence number {i} " * (1 + i % 7) for i in range(40)]
    first = model.embed(texts)
    np.testing.assert_array_equal(first, model.embed(texts))
    np.testing.assert_allclose(model.embed(texts[::-1])[::-1], first, atol=1e-5)


def test_count_tokens_excludes_cls_and_sep(model: LocalModel) -> None:
    """count_tokens counts a text's own tokens; special-token strings in it are one token."""
    assert model.count_tokens(["hello world", "", "[SEP]", "Héllo, WÖRLD!", "각"]) == [2, 0, 1, 4, 3]
    assert model.count_tokens([words(254)]) == [254]


def test_standalone_tokenizer_matches_the_models(model: LocalModel) -> None:
    """The light tokenizer (tokenizer.json) gives exactly the ids the loaded model's tokenizer gives."""
    rng = random.Random(7)
    alphabet = "abcXYZ éüñ 日本語 한국어 ো ோ 😀🎉 [CLS] [SEP] \u0301\t\n\x00 مرحبا ﬁ İ ß Σ ,.!?"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300))) for _ in range(300)]
    hf = model.hf_tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert [model.tokenizer.encode_ordinary(t) for t in texts] == hf
    assert model.count_tokens(texts) == [len(ids) for ids in hf]


def test_window_is_254_tokens_and_embed_refuses_more(model: LocalModel) -> None:
    """The model silently drops a 255th token, so embed refuses texts over 254 tokens."""
    st = local._load_model()
    at, over = words(254), words(254) + " omega"
    assert model.count_tokens([at, over]) == [254, 255]
    cut = st.encode([at, over], normalize_embeddings=True)
    np.testing.assert_array_equal(cut[0], cut[1])  # the model really cuts at 254 own tokens
    assert model.embed([at]).shape == (1, 384)
    with pytest.raises(InputError, match="254-token window"):
        model.embed(["short", over])


CHUNK_TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 200,
    "日本語のテキストと絵文字😀🎉が混ざった文章。" * 150,
    "x" * 5000 + " y" * 300,
    "مرحبا بالعالم " * 300,
    "한국어 텍스트입니다. 각각의 음절. " * 150,
    "  \n Ünïcödé ÀÉÎ café naïve, [SEP] İstanbul ﬁne ß \u0301\x00 " * 100 + "\n\t ",
    "unbelievably antidisestablishmentarianism supercalifragilistic " * 120,
]


@pytest.mark.parametrize("window", [100, MAX_TOKENS])
@pytest.mark.parametrize("text", CHUNK_TEXTS)
def test_chunks_fit_and_rebuild_the_text(text: str, window: int) -> None:
    """Without overlap, chunks fit the window, are substrings, and concatenate back to the text."""
    tok = local_tokenizer()
    chunks = split_tokens(tok.encode_ordinary(text), tok, window=window)
    assert len(chunks) > 1
    assert "".join(c.text for c in chunks) == text
    for c in chunks:
        assert c.text in text
        assert c.tokens == len(tok.encode_ordinary(c.text)) <= window
        assert "\ufffd" not in c.text


def test_overlap_repeats_tokens_between_neighbours() -> None:
    """With overlap k, each chunk starts k tokens before the previous one ended."""
    tok = local_tokenizer()
    text = "word " * 1000
    tokens = tok.encode_ordinary(text)
    chunks = split_tokens(tokens, tok, window=100, overlap=20)
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.token_start == prev.token_end - 20
    assert chunks[-1].token_end == len(tokens)
    assert all(c.text in text and c.tokens <= 100 for c in chunks)


def test_first_only_gives_the_start() -> None:
    """Truncation keeps the first window, a prefix of the text."""
    tok = local_tokenizer()
    text = "Ünïcödé words and more words " * 100
    (only,) = split_tokens(tok.encode_ordinary(text), tok, window=50, first_only=True)
    assert only.token_start == 0 and only.tokens <= 50 and text.startswith(only.text)


def test_decode_with_offsets_gives_the_original_text_back() -> None:
    """Decoding encode_ordinary's ids (or a copy of them) gives the text and each token's start."""
    tok = local_tokenizer()
    text = "  Héllo, WÖRLD! 한국"
    ids = tok.encode_ordinary(text)
    decoded, starts = tok.decode_with_offsets(ids)
    assert decoded == text and starts[0] == 0 and starts == sorted(starts)
    assert [text[s] for s in starts[1:]] == [",", "W", "!", "한", "한", "한", "국", "국", "국"]
    assert tok.decode_with_offsets(list(ids)) == (text, starts)
    assert tok.decode(tok.encode_ordinary("[SEP] café")) == "[SEP] café"


def test_decode_of_unknown_ids_uses_the_vocabulary() -> None:
    """Ids that did not come from encode_ordinary decode from the vocabulary (lower-cased, no accents)."""
    ids = list(local_tokenizer().encode_ordinary("Unbelievable CAFÉ"))
    text, starts = LocalTokenizer().decode_with_offsets(ids)  # a fresh one has seen nothing
    assert text == "unbelievable cafe"
    assert [text[s] for s in starts] == ["u", "c"]


def test_lone_surrogates_are_replaced() -> None:
    """A lone surrogate, which no tokenizer can take, is read as U+FFFD."""
    tok = local_tokenizer()
    assert tok.decode(tok.encode_ordinary("a\ud800b")) == "a\ufffdb"
    assert tok.count(["a\ud800b"]) == [len(tok.encode_ordinary("a\ufffdb"))]


# --------------------------------------------------------------------------- token bound

_BLOCKS = [
    (0x0980, 0x0B00),  # Bengali .. Gujarati: vowel signs that split in two under NFD
    (0x0B80, 0x0C00),  # Tamil
    (0x1100, 0x1200),  # Hangul jamo
    (0xAC00, 0xD7A4),  # every Hangul syllable: up to 3 tokens each
    (0x1D15E, 0x1D1C1),  # musical symbols that decompose
]


def test_tokens_never_exceed_utf8_bytes_per_code_point() -> None:
    """Each code point (a sample of all of Unicode, and whole risky blocks) makes <= its UTF-8 bytes and <= 3 tokens."""
    tok = local_tokenizer()
    cps = set(range(0, 0x110000, 17)) | {c for lo, hi in _BLOCKS for c in range(lo, hi)}
    chars = [chr(c) for c in sorted(cps) if not 0xD800 <= c <= 0xDFFF]
    counts = tok.count(chars)
    for ch, n in zip(chars, counts, strict=True):
        assert n <= len(ch.encode("utf-8")) and n <= local.MAX_TOKENS_PER_CHAR, (hex(ord(ch)), n)
    assert max(counts) == 3  # so tokens are not bounded by characters


def test_tokens_never_exceed_utf8_bytes_for_mixed_text() -> None:
    """Random texts over many scripts, emoji and marks have <= UTF-8 bytes and <= 3 x chars tokens."""
    tok = local_tokenizer()
    rng = random.Random(1234)
    pool = (
        "abc XYZ 123 ,.;!? éüñ ÀÉÎ İ ß ﬁ Σς 日本語中文 한국어각갂 ো ோ 😀🎉👩‍👩‍👧 مرحبا שלום Ελληνικά "
        "\u0301\u0308\u200d\t\n\x00\x7f [CLS][SEP][UNK] ##"
    )
    texts = ["".join(rng.choice(pool) for _ in range(rng.randint(1, 400))) for _ in range(1500)]
    texts += ["각" * 300, "ো" * 300, "x" * 150, "a" * 99 + "각"]
    for text, n in zip(texts, tok.count(texts), strict=True):
        assert n <= len(text.encode("utf-8")) and n <= 3 * len(text)
    assert local.TOKEN_BYTES_BOUND is True
    assert tok.count(["각"]) == [3]


def test_missing_dependencies_raise_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without sentence-transformers installed, is_available is False and LocalModel says how to install it."""
    assert local.is_available()
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # how Python marks a module absent
    assert not local.is_available()
    with pytest.raises(ConfigError, match=r"embedframe\[local\]"):
        LocalModel()
