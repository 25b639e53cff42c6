"""``ddf.embed`` and ``ds.embed``: the Dask accessors (no state; they hand off to the API)."""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Unpack

from ..config import EmbedConfig
from ..options import EmbedOptions, takes_options
from ..vectors import output_name

if TYPE_CHECKING:
    from ..estimate import Estimate

__all__ = ["DaskEmbedAccessor", "DaskSeriesEmbedAccessor"]

Dedupe = Literal["job", "partition"]


class DaskEmbedAccessor:
    """``ddf.embed.column("text")`` or ``ddf.embed("text")``: the frame plus a vector column, lazily."""

    def __init__(self, frame: Any) -> None:
        self._frame = frame

    @takes_options
    def column(
        self,
        column: Hashable,
        *,
        output: Hashable | None = None,
        details: bool = False,
        config: EmbedConfig | None = None,
        vector_size: int | None = None,
        workers: int | None = None,
        dedupe: Dedupe = "job",
        **options: Unpack[EmbedOptions],
    ) -> Any:
        """A lazy frame with ``column``'s vectors in ``output`` (see :func:`embedframe.dask.embed_column`)."""
        from . import embed_column

        return embed_column(
            self._frame,
            column,
            output=output,
            details=details,
            config=config,
            vector_size=vector_size,
            workers=workers,
            dedupe=dedupe,
            **options,
        )

    __call__ = column
    """``accessor(column, ...)`` is :meth:`column`."""

    @takes_options
    def estimate(
        self,
        column: Hashable,
        *,
        config: EmbedConfig | None = None,
        dedupe: Dedupe = "job",
        **options: Unpack[EmbedOptions],
    ) -> Estimate:
        """Exact tokens, requests and list-price cost of embedding ``column``; sends nothing."""
        from . import estimate

        return estimate(self._frame, column, config=config, dedupe=dedupe, **options)

    def to_parquet(
        self,
        path: str | os.PathLike[str],
        *,
        text_hash_column: Hashable | None = None,
        overwrite: bool = False,
        compute: bool = True,
        storage_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Write a directory of Parquet files, one per partition (see :func:`embedframe.dask.to_parquet`)."""
        from . import to_parquet

        return to_parquet(
            self._frame,
            path,
            text_hash_column=text_hash_column,
            overwrite=overwrite,
            compute=compute,
            storage_options=storage_options,
            **kwargs,
        )


class DaskSeriesEmbedAccessor:
    """``ds.embed()``: a lazy Series of vectors with ``ds``'s partitions and index."""

    def __init__(self, series: Any) -> None:
        self._series = series

    def __call__(
        self,
        *,
        config: EmbedConfig | None = None,
        vector_size: int | None = None,
        workers: int | None = None,
        dedupe: Dedupe = "job",
        **options: Unpack[EmbedOptions],
    ) -> Any:
        series = self._series
        source = series.name if series.name is not None else "text"
        name = output_name(series.name) if series.name is not None else "embedding"
        frame = series.to_frame(name=source)
        from . import embed_column

        out = embed_column(
            frame,
            source,
            output=name,
            config=config,
            vector_size=vector_size,
            workers=workers,
            dedupe=dedupe,
            **options,
        )
        return out[name]

    @takes_options
    def estimate(
        self, *, config: EmbedConfig | None = None, dedupe: Dedupe = "job", **options: Unpack[EmbedOptions]
    ) -> Estimate:
        """Exact tokens, requests and list-price cost of embedding the Series; sends nothing."""
        from . import estimate

        return estimate(self._series, self._series.name, config=config, dedupe=dedupe, **options)
