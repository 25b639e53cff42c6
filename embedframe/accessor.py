"""The ``.embed`` accessors on DataFrame and Series: check input, hand off, wrap the result."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pandas as pd

from . import api
from .config import EmbedConfig

__all__ = ["DataFrameEmbedAccessor", "SeriesEmbedAccessor"]


@pd.api.extensions.register_dataframe_accessor("embed")
class DataFrameEmbedAccessor:
    """``df.embed.column("text")`` or ``df.embed("text")``: the frame plus a vector column."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def __call__(
        self,
        column: Hashable,
        *,
        output: Hashable | None = None,
        config: EmbedConfig | None = None,
        **options: Any,
    ) -> pd.DataFrame:
        """Same as :meth:`column`."""
        return self.column(column, output=output, config=config, **options)

    def column(
        self,
        column: Hashable,
        *,
        output: Hashable | None = None,
        config: EmbedConfig | None = None,
        **options: Any,
    ) -> pd.DataFrame:
        """A new frame with ``column``'s vectors in ``output`` (default ``<column>_embedding``)."""
        return api.embed_column(self._frame, column, output=output, config=config, **options)

    async def acolumn(
        self,
        column: Hashable,
        *,
        output: Hashable | None = None,
        config: EmbedConfig | None = None,
        **options: Any,
    ) -> pd.DataFrame:
        """Async :meth:`column`."""
        return await api.aembed_column(self._frame, column, output=output, config=config, **options)

    def chunks(self, column: Hashable, *, config: EmbedConfig | None = None, **options: Any) -> pd.DataFrame:
        """One row per chunk of ``column``'s texts, each with its vector (see :func:`embedframe.embed_chunks`)."""
        return api.embed_chunks(api._column(self._frame, column), config=config, **options)


@pd.api.extensions.register_series_accessor("embed")
class SeriesEmbedAccessor:
    """``s.embed()``: a Series of vectors with ``s``'s index."""

    def __init__(self, series: pd.Series) -> None:
        self._series = series

    def __call__(self, *, config: EmbedConfig | None = None, **options: Any) -> pd.Series:
        return api.embed(self._series, config=config, **options)

    async def acall(self, *, config: EmbedConfig | None = None, **options: Any) -> pd.Series:
        """Async form of calling the accessor."""
        return await api.aembed(self._series, config=config, **options)

    def chunks(self, *, config: EmbedConfig | None = None, **options: Any) -> pd.DataFrame:
        """One row per chunk, each with its vector."""
        return api.embed_chunks(self._series, config=config, **options)
