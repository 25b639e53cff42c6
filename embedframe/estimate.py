"""Plan before spending: exact tokens, requests and cost of a job, without any request."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import asdict, dataclass
from typing import Any, Unpack

import numpy as np

from ._core.batchfile import batch_usd
from ._core.plan import EMPTY, ERROR, NULL
from ._job.backend import resolve_backend
from ._job.engine import count_tokens, open_cache, pack_pieces, piece_keys, plan_for
from .api import Texts, as_values
from .config import EmbedConfig, resolve_config
from .options import EmbedOptions, takes_options

__all__ = ["Estimate", "estimate", "prices"]


@dataclass(frozen=True)
class Estimate:
    """What embedding a column would cost. No request is made to compute it."""

    model: str
    rows: int
    null_rows: int
    empty_rows: int
    bad_rows: int
    """Rows that would fail: not a string, or too long under ``long_text="error"``."""
    duplicate_rows: int
    """Rows whose text appears earlier in the column (sent once)."""
    distinct_texts: int
    long_rows: int
    """Rows over the model's input limit."""
    long_pieces: int
    """Pieces (chunks) those long texts become."""
    pieces: int
    """Distinct inputs that would be embedded."""
    cache_hits: int
    """Pieces already in the cache (free)."""
    tokens: int
    """Exact tokens that would be sent (cache hits excluded)."""
    requests: int
    usd: float | None
    """List-price cost in US dollars, or ``None`` when the model's price is unknown."""
    batch_usd: float | None = None
    """The same through the Batch API (half the list price; see ``df.embed.submit``)."""
    tokenizer: str = ""
    """What counted the tokens: a tiktoken encoding, or the model's tokenizer (name and
    file hash), the server's ``/tokenize``, or the UTF-8 byte bound."""
    max_input_tokens: int = 0
    """Tokens of text per input that long texts are cut to (the model's window)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        cost = "unknown price" if self.usd is None else f"${self.usd:,.4f}"
        lines = [
            f"model            {self.model}",
            f"rows             {self.rows:,}",
            f"  null / empty   {self.null_rows:,} / {self.empty_rows:,}",
            f"  duplicates     {self.duplicate_rows:,}",
            f"  bad            {self.bad_rows:,}",
            f"  over the limit {self.long_rows:,} (-> {self.long_pieces:,} chunks)",
            f"inputs to embed  {self.pieces:,} ({self.cache_hits:,} cached)",
            f"tokens to send   {self.tokens:,}",
            f"  tokenizer      {_short_hash(self.tokenizer)}, {self.max_input_tokens:,} tokens per input",
            f"requests         {self.requests:,}",
            f"estimated cost   {cost}",
        ]
        if self.batch_usd is not None:
            lines.append(f"  batch API      ${self.batch_usd:,.4f} (half price, within 24 h)")
        return "\n".join(lines)


def _short_hash(name: str) -> str:
    """``name@sha256:<64 hex>`` shown with the hash's first 12 digits."""
    head, sep, digest = name.partition("@sha256:")
    return f"{head}{sep}{digest[:12]}" if sep else name


@takes_options
def estimate(
    texts: Texts,
    *,
    config: EmbedConfig | None = None,
    column: Hashable | None = None,
    **options: Unpack[EmbedOptions],
) -> Estimate:
    """Count exactly what embedding ``texts`` would send, and its list price. Nothing is
    embedded; a self-hosted server is only asked about its model (window, tokenizer)."""
    cfg = resolve_config(config, options)
    backend = resolve_backend(cfg, announce=False)
    cfg = backend.config
    values, index, name = as_values(texts)
    plan = plan_for(
        values,
        index,
        backend,
        column=column if column is not None else (name if name is not None else "texts"),
        on_bad="mark",
        byte_bound=False,
        count_all=True,
    )
    store = open_cache(cfg)
    found = np.zeros(len(plan.pieces), dtype=bool)
    if store is not None and plan.pieces:
        found = store.contains(piece_keys(cfg, plan.pieces))
    todo = np.flatnonzero(~found)
    batches, bound, exact = pack_pieces(plan, todo, cfg, backend.tokenizer)
    row_text = plan.row_text
    with_text = row_text[row_text >= 0]
    long_texts = (plan.text_tokens > cfg.input_limit) & (np.diff(plan.ref_start) > 0)
    tokens = count_tokens(plan, todo, bound, exact, backend.tokenizer)
    return Estimate(
        model=str(cfg.model),
        tokenizer=cfg.tokenizer_name,
        max_input_tokens=cfg.input_limit,
        rows=plan.n_rows,
        null_rows=int((row_text == NULL).sum()),
        empty_rows=int((row_text == EMPTY).sum()),
        bad_rows=int((row_text == ERROR).sum()),
        duplicate_rows=len(with_text) - len(np.unique(with_text)),
        distinct_texts=len(plan.texts),
        long_rows=int(long_texts[with_text].sum()) if len(plan.texts) else 0,
        long_pieces=int(np.diff(plan.ref_start)[long_texts].sum()),
        pieces=len(plan.pieces),
        cache_hits=int(found.sum()),
        tokens=tokens,
        requests=len(batches),
        **prices(cfg, tokens),
    )


def prices(config: EmbedConfig, tokens: int) -> dict[str, float | None]:
    """The list price of ``tokens`` with ``config``'s model, online and through the Batch
    API (``None`` where the model's price is unknown): the one place a cost is computed."""
    price = config.model_info.usd_per_million_tokens
    usd = None if price is None else tokens * price / 1_000_000
    return {"usd": usd, "batch_usd": batch_usd(usd)}
