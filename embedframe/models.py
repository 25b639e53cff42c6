"""What embedframe knows about embedding models: tokenizer, input limit, size and price.

One table, used for token limits, the default dimension and cost estimates. A model that
is not in the table (a self-hosted one, say) gets :data:`DEFAULT_MODEL_INFO`'s limits;
the caller overrides them with ``encoding=`` and ``max_input_tokens=``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MODEL_INFO", "MODELS", "ModelInfo", "model_info"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Facts about one embedding model."""

    name: str
    encoding: str
    """tiktoken encoding that counts this model's tokens."""
    max_input_tokens: int
    """Most tokens the server accepts in one input."""
    dimensions: int | None
    """Native vector size, or ``None`` when unknown."""
    supports_dimensions: bool
    """Whether the request may carry ``dimensions``."""
    usd_per_million_tokens: float | None
    """List price, or ``None`` for models that are not billed per token."""


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo("text-embedding-3-small", "cl100k_base", 8191, 1536, True, 0.02),
        ModelInfo("text-embedding-3-large", "cl100k_base", 8191, 3072, True, 0.13),
        ModelInfo("text-embedding-ada-002", "cl100k_base", 8191, 1536, False, 0.10),
        # 256 positions less [CLS] and [SEP]: 254 tokens of text (embedframe.local.MAX_TOKENS)
        ModelInfo("all-MiniLM-L6-v2", "all-MiniLM-L6-v2", 254, 384, True, 0.0),
    )
}

DEFAULT_MODEL_INFO = ModelInfo("", "cl100k_base", 8191, None, True, None)


def model_info(name: str) -> ModelInfo:
    """The table's entry for ``name``, or the defaults under that name."""
    known = MODELS.get(name)
    if known is not None:
        return known
    d = DEFAULT_MODEL_INFO
    return ModelInfo(name, d.encoding, d.max_input_tokens, None, d.supports_dimensions, None)
