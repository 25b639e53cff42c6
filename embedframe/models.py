"""What embedframe knows about embedding models: tokenizer, window, size and price.

One table, used for token limits, the default dimension and cost estimates: OpenAI's
models (counted with tiktoken) and the popular open models that self-hosted servers
(TEI, vLLM, Ollama, Infinity, llama.cpp, ...) serve, counted with their own Hugging Face
tokenizer. Add your own with :func:`register_model`.

Windows. A model reads at most ``context`` positions, and the tokenizer adds
``special_tokens`` of them itself (``[CLS]`` and ``[SEP]`` for BERT-like models, ``<s>``
and ``</s>`` for XLM-R ones, an end-of-text token for Qwen3): a text may hold
``max_input_tokens = context - special_tokens`` tokens of its own (254 for
all-MiniLM-L6-v2's 256 positions). Every count embedframe makes is of the text's own
tokens, compared with that.

Names. :func:`model_info` finds an entry by its name with or without the organisation
(``BAAI/bge-m3`` or ``bge-m3``), in any case, and with or without an Ollama tag
(``nomic-embed-text:latest``); a tag that names a size (``snowflake-arctic-embed:22m``) is
matched first.

A model that is not in the table has no known window: :data:`UNKNOWN_WINDOW` applies,
and texts that might be longer are refused before anything is sent (see ``docs/models.md``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_MODEL_INFO",
    "MODELS",
    "UNKNOWN_WINDOW",
    "ModelInfo",
    "model_info",
    "register_model",
]

TokenizerKind = Literal["tiktoken", "huggingface"]

UNKNOWN_WINDOW = 254
"""Tokens of text assumed safe for a model whose window is unknown: the smallest window of
the popular models in the table (all-MiniLM-L6-v2: 256 positions less ``[CLS]``/``[SEP]``).
Longer texts are refused until ``max_input_tokens=`` is given (or discovered)."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Facts about one embedding model."""

    name: str
    """The canonical name (Hugging Face repository id for open models)."""
    tokenizer: str
    """tiktoken encoding (``cl100k_base``) or the Hugging Face repository whose
    ``tokenizer.json`` counts this model's tokens."""
    tokenizer_kind: TokenizerKind
    context: int | None
    """Positions the model reads, special tokens included; ``None`` when unknown."""
    special_tokens: int
    """Positions the tokenizer takes for itself in every input."""
    dimensions: int | None
    """Native vector size, or ``None`` when unknown."""
    supports_dimensions: bool
    """Whether the request may carry ``dimensions`` (Matryoshka-trained models; servers
    that cannot cut vectors answer 400)."""
    usd_per_million_tokens: float | None
    """List price, or ``None`` for models that are not billed per token."""
    aliases: tuple[str, ...] = field(default=())
    """Other names servers use for it (Ollama's ``nomic-embed-text``, say)."""

    @property
    def encoding(self) -> str:
        """The tokenizer's name (kept for callers of the old field)."""
        return self.tokenizer

    @property
    def max_input_tokens(self) -> int | None:
        """Tokens of text one input may hold (``context - special_tokens``); ``None`` when unknown."""
        return None if self.context is None else self.context - self.special_tokens

    @property
    def known(self) -> bool:
        """Whether the entry comes from the table (not made up for an unknown name)."""
        return self.context is not None


def _openai(name: str, dim: int, dims_ok: bool, usd: float) -> ModelInfo:
    # OpenAI's limit (8191) counts the text's tokens: no special tokens are added.
    return ModelInfo(name, "cl100k_base", "tiktoken", 8191, 0, dim, dims_ok, usd)


def _hf(
    repo: str,
    context: int,
    dim: int,
    *,
    special: int = 2,
    dims_ok: bool = False,
    tokenizer: str | None = None,
    aliases: tuple[str, ...] = (),
) -> ModelInfo:
    return ModelInfo(repo, tokenizer or repo, "huggingface", context, special, dim, dims_ok, 0.0, aliases)


_TABLE: tuple[ModelInfo, ...] = (
    _openai("text-embedding-3-small", 1536, True, 0.02),
    _openai("text-embedding-3-large", 3072, True, 0.13),
    _openai("text-embedding-ada-002", 1536, False, 0.10),
    # sentence-transformers: max_seq_length (not the 512 positions of the BERT underneath).
    # dimensions: embedframe serve cuts and re-normalises, so it is allowed for the local model.
    _hf(
        "sentence-transformers/all-MiniLM-L6-v2",
        256,
        384,
        dims_ok=True,
        aliases=("all-minilm", "all-minilm:22m"),
    ),
    _hf("sentence-transformers/all-MiniLM-L12-v2", 128, 384, aliases=("all-minilm:33m",)),
    _hf("sentence-transformers/all-mpnet-base-v2", 384, 768),
    _hf("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", 128, 384),
    # BAAI BGE (WordPiece; bge-m3 is XLM-R's SentencePiece)
    _hf("BAAI/bge-small-en-v1.5", 512, 384),
    _hf("BAAI/bge-base-en-v1.5", 512, 768),
    _hf("BAAI/bge-large-en-v1.5", 512, 1024, aliases=("bge-large",)),
    _hf("BAAI/bge-small-en", 512, 384),
    _hf("BAAI/bge-base-en", 512, 768),
    _hf("BAAI/bge-large-en", 512, 1024),
    _hf("BAAI/bge-m3", 8192, 1024),
    # E5 (WordPiece; multilingual: XLM-R)
    _hf("intfloat/e5-small-v2", 512, 384),
    _hf("intfloat/e5-base-v2", 512, 768),
    _hf("intfloat/e5-large-v2", 512, 1024),
    _hf("intfloat/multilingual-e5-small", 512, 384),
    _hf("intfloat/multilingual-e5-base", 512, 768),
    _hf("intfloat/multilingual-e5-large", 512, 1024),
    _hf("intfloat/multilingual-e5-large-instruct", 512, 1024),
    # GTE
    _hf("thenlper/gte-small", 512, 384),
    _hf("thenlper/gte-base", 512, 768),
    _hf("thenlper/gte-large", 512, 1024),
    _hf("Alibaba-NLP/gte-base-en-v1.5", 8192, 768),
    _hf("Alibaba-NLP/gte-large-en-v1.5", 8192, 1024),
    # nomic (bert-base-uncased WordPiece). Ollama's nomic-embed-text runs with a 2048 context.
    _hf("nomic-ai/nomic-embed-text-v1", 8192, 768),
    _hf("nomic-ai/nomic-embed-text-v1.5", 8192, 768, dims_ok=True),
    _hf("nomic-embed-text", 2048, 768, dims_ok=True, tokenizer="nomic-ai/nomic-embed-text-v1.5"),
    # mixedbread (Matryoshka)
    _hf("mixedbread-ai/mxbai-embed-large-v1", 512, 1024, dims_ok=True, aliases=("mxbai-embed-large",)),
    # Snowflake Arctic Embed (v1: WordPiece, 512; v2: XLM-R, 8192)
    _hf("Snowflake/snowflake-arctic-embed-xs", 512, 384, aliases=("snowflake-arctic-embed:22m",)),
    _hf("Snowflake/snowflake-arctic-embed-s", 512, 384, aliases=("snowflake-arctic-embed:33m",)),
    _hf("Snowflake/snowflake-arctic-embed-m", 512, 768, aliases=("snowflake-arctic-embed:110m",)),
    _hf("Snowflake/snowflake-arctic-embed-m-v1.5", 512, 768, dims_ok=True),
    _hf(
        "Snowflake/snowflake-arctic-embed-l",
        512,
        1024,
        aliases=("snowflake-arctic-embed", "snowflake-arctic-embed:335m"),
    ),
    _hf("Snowflake/snowflake-arctic-embed-m-v2.0", 8192, 768, dims_ok=True),
    _hf(
        "Snowflake/snowflake-arctic-embed-l-v2.0",
        8192,
        1024,
        dims_ok=True,
        aliases=("snowflake-arctic-embed2",),
    ),
    # Jina (v2: BERT WordPiece with ALiBi; v3: XLM-R, Matryoshka)
    _hf("jinaai/jina-embeddings-v2-small-en", 8192, 512),
    _hf("jinaai/jina-embeddings-v2-base-en", 8192, 768, aliases=("jina-embeddings-v2-base-en",)),
    _hf("jinaai/jina-embeddings-v3", 8192, 1024, dims_ok=True),
    # Qwen3 embedding (byte-level BPE; the tokenizer appends <|endoftext|>; Matryoshka)
    _hf("Qwen/Qwen3-Embedding-0.6B", 32768, 1024, special=1, dims_ok=True, aliases=("qwen3-embedding:0.6b",)),
    _hf("Qwen/Qwen3-Embedding-4B", 32768, 2560, special=1, dims_ok=True, aliases=("qwen3-embedding:4b",)),
    _hf(
        "Qwen/Qwen3-Embedding-8B",
        32768,
        4096,
        special=1,
        dims_ok=True,
        aliases=("qwen3-embedding", "qwen3-embedding:8b"),
    ),
)

MODELS: dict[str, ModelInfo] = {}
"""The table, by canonical name (read it; add entries with :func:`register_model`)."""

_exact: dict[str, ModelInfo] = {}
_short: dict[str, ModelInfo] = {}
_lock = threading.Lock()

DEFAULT_MODEL_INFO = ModelInfo("", "", "huggingface", None, 2, None, True, None)
"""What is assumed of a model that is not in the table: nothing but the usual two special
tokens; its window is :data:`UNKNOWN_WINDOW` until given or discovered."""


def _keys(name: str) -> list[str]:
    """The lookup keys of ``name``: lower-cased, with and without organisation and tag."""
    full = name.strip().lower()
    if full.startswith(("hf.co/", "huggingface.co/")):
        full = full.split("/", 1)[1]
    keys = [full]
    untagged = full.rsplit(":", 1)[0] if ":" in full.rsplit("/", 1)[-1] else full
    for key in (untagged, full.rsplit("/", 1)[-1], untagged.rsplit("/", 1)[-1]):
        if key not in keys:
            keys.append(key)
    return keys


def register_model(info: ModelInfo, *, aliases: tuple[str, ...] = ()) -> ModelInfo:
    """Add ``info`` to the table (or replace the entry of the same name) and return it.

    It is then found by its name with or without the organisation, by ``info.aliases``
    and by ``aliases``; a later registration wins over an earlier one for a shared name.
    For example a fine-tuned BGE served under its own name::

        embedframe.register_model(embedframe.ModelInfo(
            "acme/bge-legal", tokenizer="BAAI/bge-base-en-v1.5", tokenizer_kind="huggingface",
            context=512, special_tokens=2, dimensions=768, supports_dimensions=False,
            usd_per_million_tokens=0.0))
    """
    if not isinstance(info, ModelInfo):
        raise TypeError(f"register_model takes a ModelInfo, got {type(info).__name__}")
    if info.context is not None and info.context - info.special_tokens < 1:
        raise ValueError(
            f"{info.name}: context ({info.context}) must exceed special_tokens ({info.special_tokens})"
        )
    with _lock:
        MODELS[info.name] = info
        for name in (info.name, *info.aliases, *aliases):
            keys = _keys(name)
            _exact[keys[0]] = info
            for key in keys[1:]:
                _short[key] = info
    return info


for _info in _TABLE:
    register_model(_info)


def find_model(name: str) -> ModelInfo | None:
    """The table's entry for ``name`` (see the module docstring for the matching), or ``None``."""
    keys = _keys(name)
    # A full name (or alias) anywhere wins over a shortened one: ``bge-large`` is an
    # alias of bge-large-en-v1.5 even though ``BAAI/bge-large-en`` shortens to it too.
    for index in (_exact, _short):
        for key in keys:
            found = index.get(key)
            if found is not None:
                return found
    return None


def model_info(name: str) -> ModelInfo:
    """The table's entry for ``name``, or :data:`DEFAULT_MODEL_INFO`'s assumptions under that name."""
    known = find_model(name)
    if known is not None:
        return known
    d = DEFAULT_MODEL_INFO
    return ModelInfo(name, d.tokenizer, d.tokenizer_kind, None, d.special_tokens, None, True, None)
