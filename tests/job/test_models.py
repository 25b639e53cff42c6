"""The model table: open models' windows and tokenizers, name matching, and user entries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import embedframe
from embedframe import EmbedConfig, ModelInfo, model_info, register_model
from embedframe.models import MODELS, UNKNOWN_WINDOW, find_model


@pytest.fixture
def clean_table() -> Iterator[None]:
    """Registrations made by a test are undone after it."""
    from embedframe import models

    saved = (dict(models.MODELS), dict(models._exact), dict(models._short))
    yield
    models.MODELS.clear()
    models.MODELS.update(saved[0])
    models._exact.clear()
    models._exact.update(saved[1])
    models._short.clear()
    models._short.update(saved[2])


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
        ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
        ("ALL-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
        ("bge-m3", "BAAI/bge-m3"),
        ("BAAI/bge-m3", "BAAI/bge-m3"),
        ("bge-m3:latest", "BAAI/bge-m3"),
        ("nomic-embed-text", "nomic-embed-text"),
        ("nomic-embed-text:latest", "nomic-embed-text"),
        ("nomic-embed-text-v1.5", "nomic-ai/nomic-embed-text-v1.5"),
        ("mxbai-embed-large", "mixedbread-ai/mxbai-embed-large-v1"),
        ("mxbai-embed-large:335m", "mixedbread-ai/mxbai-embed-large-v1"),
        ("snowflake-arctic-embed:22m", "Snowflake/snowflake-arctic-embed-xs"),
        ("snowflake-arctic-embed", "Snowflake/snowflake-arctic-embed-l"),
        ("e5-large-v2", "intfloat/e5-large-v2"),
        ("thenlper/gte-base", "thenlper/gte-base"),
        ("jina-embeddings-v3", "jinaai/jina-embeddings-v3"),
        ("Qwen3-Embedding-0.6B", "Qwen/Qwen3-Embedding-0.6B"),
        ("hf.co/BAAI/bge-small-en-v1.5", "BAAI/bge-small-en-v1.5"),
        ("text-embedding-3-small", "text-embedding-3-small"),
    ],
)
def test_names_with_or_without_organisation_and_tag_find_one_entry(name: str, canonical: str) -> None:
    """A model is found by its name with or without organisation, in any case, with an Ollama tag."""
    found = find_model(name)
    assert found is not None and found.name == canonical


def test_windows_leave_room_for_special_tokens() -> None:
    """Windows are positions less the tokenizer's special tokens: 256-2 for MiniLM, 512-2 for BGE, 8191 for OpenAI."""
    assert model_info("all-MiniLM-L6-v2").max_input_tokens == 254
    assert model_info("BAAI/bge-small-en-v1.5").max_input_tokens == 510
    assert model_info("bge-m3").max_input_tokens == 8190
    assert model_info("nomic-embed-text").max_input_tokens == 2046  # Ollama's default context
    assert model_info("Qwen/Qwen3-Embedding-8B").max_input_tokens == 32767
    assert model_info("text-embedding-3-large").max_input_tokens == 8191
    assert model_info("text-embedding-3-large").tokenizer_kind == "tiktoken"


def test_the_table_covers_the_popular_open_models() -> None:
    """MiniLM, BGE, E5, GTE, nomic, mxbai, arctic, jina and Qwen3 are in, each with window, size and tokenizer."""
    families = ["MiniLM", "bge-small", "bge-base", "bge-large", "bge-m3", "e5-", "gte-", "nomic-embed-text"]
    families += ["mxbai-embed-large", "snowflake-arctic-embed", "jina-embeddings", "Qwen3-Embedding"]
    for family in families:
        entries = [m for m in MODELS.values() if family.lower() in m.name.lower()]
        assert entries, family
        for m in entries:
            assert (
                m.context and m.dimensions and m.tokenizer and m.tokenizer_kind in ("tiktoken", "huggingface")
            )
            assert (
                m.max_input_tokens is not None and m.max_input_tokens < m.context
            ) or m.special_tokens == 0
    matryoshka = {m.name for m in MODELS.values() if m.supports_dimensions}
    assert "mixedbread-ai/mxbai-embed-large-v1" in matryoshka and "BAAI/bge-m3" not in matryoshka


def test_an_unknown_model_has_no_window() -> None:
    """A name not in the table gets no window; the config falls back to the smallest common one."""
    info = model_info("acme/secret-embedder")
    assert info.max_input_tokens is None and not info.known
    cfg = EmbedConfig(base_url="http://127.0.0.1:9/v1", model="acme/secret-embedder")
    assert not cfg.window_known and cfg.input_limit == UNKNOWN_WINDOW == 254
    assert EmbedConfig(model="acme/secret-embedder", max_input_tokens=1000).window_known


def test_register_model_adds_an_entry_found_by_every_name(clean_table: None) -> None:
    """A registered model is found by its name, its short name and its aliases, and drives the config."""
    info = ModelInfo(
        "acme/bge-legal",
        tokenizer="BAAI/bge-base-en-v1.5",
        tokenizer_kind="huggingface",
        context=512,
        special_tokens=2,
        dimensions=768,
        supports_dimensions=False,
        usd_per_million_tokens=0.0,
        aliases=("legal-embed",),
    )
    assert register_model(info, aliases=("legal:v2",)) is info
    for name in ("acme/bge-legal", "bge-legal", "legal-embed", "LEGAL:v2", "legal-embed:latest"):
        assert find_model(name) is info, name
    cfg = EmbedConfig(base_url="http://127.0.0.1:9/v1", model="bge-legal")
    assert cfg.input_limit == 510 and cfg.expected_dimensions == 768
    with pytest.raises(embedframe.ConfigError, match="dimensions"):
        EmbedConfig(base_url="http://127.0.0.1:9/v1", model="bge-legal", dimensions=256)


def test_register_model_refuses_nonsense(clean_table: None) -> None:
    """Not a ModelInfo, or a window no larger than its special tokens, is refused."""
    with pytest.raises(TypeError):
        register_model({"name": "x"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="special_tokens"):
        register_model(ModelInfo("x", "x", "huggingface", 2, 2, 8, False, None))


def test_a_full_name_wins_over_a_shortened_one(clean_table: None) -> None:
    """A later model whose short name collides never hides an existing model's full name."""
    register_model(ModelInfo("someorg/bge-m3", "BAAI/bge-m3", "huggingface", 1024, 2, 1024, False, None))
    assert find_model("BAAI/bge-m3") is MODELS["BAAI/bge-m3"]
    assert find_model("someorg/bge-m3") is MODELS["someorg/bge-m3"]
