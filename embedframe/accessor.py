"""The ``.embed`` accessors on DataFrame and Series: check input, hand off, wrap the result."""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any, Unpack

import pandas as pd

from . import api
from .batch import BatchJob, BatchOptions, aembed_column_batch, embed_column_batch, submit
from .config import EmbedConfig
from .estimate import Estimate, estimate
from .options import EmbedOptions, takes_options
from .parquet import write_parquet
from .search import search

__all__ = ["DataFrameEmbedAccessor", "SeriesEmbedAccessor"]


@pd.api.extensions.register_dataframe_accessor("embed")
class DataFrameEmbedAccessor:
    """``df.embed.column("text")`` or ``df.embed("text")``: the frame plus a vector column."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    @takes_options
    def column(
        self,
        column: Hashable,
        *,
        output: Hashable | None = None,
        details: bool = False,
        batch: bool | BatchOptions = False,
        config: EmbedConfig | None = None,
        **options: Unpack[EmbedOptions],
    ) -> pd.DataFrame:
        """A new frame with ``column``'s vectors in ``output`` (default ``<column>_embedding``).

        ``details=True`` adds per-row accounting columns and reports bad rows instead of raising.
        ``batch=True`` (or a :class:`~embedframe.BatchOptions`) goes through the Batch API at
        half the price and blocks until it is done (see :meth:`submit` to return at once).
        """
        if batch is not False:
            return embed_column_batch(
                self._frame,
                column,
                output=output,
                details=details,
                batch=_batch_options(batch),
                config=config,
                **options,
            )
        return api.embed_column(self._frame, column, output=output, details=details, config=config, **options)

    @takes_options
    def submit(
        self,
        column: Hashable,
        *,
        output: Hashable | None = None,
        details: bool = False,
        batch: BatchOptions | None = None,
        config: EmbedConfig | None = None,
        **options: Unpack[EmbedOptions],
    ) -> BatchJob:
        """Submit ``column`` to the Batch API and return at once: a :class:`~embedframe.BatchJob`
        with an ``id`` to come back with (see :func:`embedframe.submit`)."""
        return submit(
            self._frame, column, output=output, details=details, batch=batch, config=config, **options
        )

    __call__ = column
    """``accessor(column, ...)`` is :meth:`column`."""

    @takes_options
    async def acolumn(
        self,
        column: Hashable,
        *,
        output: Hashable | None = None,
        details: bool = False,
        batch: bool | BatchOptions = False,
        config: EmbedConfig | None = None,
        **options: Unpack[EmbedOptions],
    ) -> pd.DataFrame:
        """Async :meth:`column`."""
        if batch is not False:
            return await aembed_column_batch(
                self._frame,
                column,
                output=output,
                details=details,
                batch=_batch_options(batch),
                config=config,
                **options,
            )
        return await api.aembed_column(
            self._frame, column, output=output, details=details, config=config, **options
        )

    @takes_options
    def chunks(
        self, column: Hashable, *, config: EmbedConfig | None = None, **options: Unpack[EmbedOptions]
    ) -> pd.DataFrame:
        """One row per chunk of ``column``'s texts, each with its vector (see :func:`embedframe.embed_chunks`)."""
        return api.embed_chunks(api.get_column(self._frame, column), config=config, **options)

    def to_parquet(
        self, path: str | os.PathLike[str], *, text_hash_column: Hashable | None = None, **kwargs: Any
    ) -> None:
        """Write the frame to Parquet with its vector columns as ``fixed_size_list<float32>[d]``
        and their provenance in the footer (see :func:`embedframe.write_parquet`)."""
        write_parquet(self._frame, path, text_hash_column=text_hash_column, **kwargs)

    @takes_options
    def search(
        self,
        query: str,
        *,
        k: int = 5,
        column: Hashable | None = None,
        config: EmbedConfig | None = None,
        **options: Unpack[EmbedOptions],
    ) -> pd.DataFrame:
        """The ``k`` rows most similar to ``query`` (cosine), best first, with a ``score`` column."""
        return search(self._frame, query, k=k, column=column, config=config, **options)

    @takes_options
    def estimate(
        self, column: Hashable, *, config: EmbedConfig | None = None, **options: Unpack[EmbedOptions]
    ) -> Estimate:
        """Exact tokens, requests and list-price cost of embedding ``column``; sends nothing."""
        return estimate(api.get_column(self._frame, column), config=config, column=column, **options)


def _batch_options(batch: bool | BatchOptions) -> BatchOptions:
    if batch is True:
        return BatchOptions()
    if isinstance(batch, BatchOptions):
        return batch
    raise TypeError(f"batch must be True, False or a BatchOptions, got {batch!r}")


@pd.api.extensions.register_series_accessor("embed")
class SeriesEmbedAccessor:
    """``s.embed()``: a Series of vectors with ``s``'s index."""

    def __init__(self, series: pd.Series) -> None:
        self._series = series

    def __call__(self, *, config: EmbedConfig | None = None, **options: Unpack[EmbedOptions]) -> pd.Series:
        return api.embed(self._series, config=config, **options)

    @takes_options
    async def acall(self, *, config: EmbedConfig | None = None, **options: Unpack[EmbedOptions]) -> pd.Series:
        """Async form of calling the accessor."""
        return await api.aembed(self._series, config=config, **options)

    @takes_options
    def chunks(self, *, config: EmbedConfig | None = None, **options: Unpack[EmbedOptions]) -> pd.DataFrame:
        """One row per chunk, each with its vector."""
        return api.embed_chunks(self._series, config=config, **options)
