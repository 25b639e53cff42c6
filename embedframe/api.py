"""The public functions: embed a column (or any sequence of texts), sync or async."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Unpack

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._core.plan import EMPTY, NULL, Plan
from ._job.engine import JobResult, JobStats, run_job
from ._job.sync import run_sync
from ._warn import warn
from .config import EmbedConfig, resolve_config
from .errors import InputError
from .options import EmbedOptions, takes_options
from .provenance import PROVENANCE_ATTR, provenance_for
from .vectors import from_numpy, output_name

__all__ = [
    "aembed",
    "aembed_chunks",
    "aembed_column",
    "embed",
    "embed_chunks",
    "embed_column",
    "output_name",
    "row_details",
]


Texts = pd.Series | Sequence[Any] | npt.NDArray[Any]


def as_values(texts: Texts) -> tuple[npt.NDArray[np.object_], pd.Index, Hashable]:
    if isinstance(texts, pd.DataFrame):
        raise InputError("pass one column (a Series), not a DataFrame; use df.embed.column('name')")
    if isinstance(texts, pd.Series):
        return texts.to_numpy(dtype=object), texts.index, texts.name
    if isinstance(texts, (str, bytes)):
        raise InputError("pass a sequence of texts, not a single string; wrap it in a list")
    items = list(texts)
    values = np.empty(len(items), dtype=object)
    values[:] = items
    return values, pd.RangeIndex(len(items)), None


def get_column(df: pd.DataFrame, column: Hashable) -> pd.Series:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    try:
        found = df[column]
    except (KeyError, TypeError):
        shown = list(df.columns[:20])
        raise InputError(f"no column {column!r} in the frame; its columns are {shown}") from None
    if isinstance(found, pd.DataFrame):
        raise InputError(
            f"column label {column!r} names {found.shape[1]} columns; rename them so it is unique"
        )
    return found


async def _run(
    texts: Texts,
    config: EmbedConfig | None,
    options: EmbedOptions,
    *,
    exact: bool = False,
    details: bool = False,
) -> tuple[JobResult, pd.Index, Hashable]:
    cfg = resolve_config(config, options)
    values, index, name = as_values(texts)
    result = await run_job(
        values,
        index,
        cfg,
        column=name if name is not None else "texts",
        exact=exact,
        count_all=details,
        on_bad="mark" if details else "raise",
    )
    return result, index, name


@takes_options
async def aembed(
    texts: Texts, *, config: EmbedConfig | None = None, **options: Unpack[EmbedOptions]
) -> pd.Series:
    """Embed ``texts`` (a Series or a sequence); one vector per item, nulls where there was no text.

    The result keeps a Series' index and is named ``<name>_embedding``; its dtype is
    ``pd.ArrowDtype(pa.list_(pa.float32(), d))``. Options are :class:`EmbedConfig`'s.
    """
    result, index, name = await _run(texts, config, options)
    out = from_numpy(
        result.rows,
        valid=result.valid,
        index=index,
        name=output_name(name) if name is not None else "embedding",
    )
    out.attrs["embedframe"] = _summary(result.stats)
    return out


@takes_options
def embed(texts: Texts, *, config: EmbedConfig | None = None, **options: Unpack[EmbedOptions]) -> pd.Series:
    """Sync :func:`aembed`; also works inside Jupyter."""
    return run_sync(aembed(texts, config=config, **options))


@takes_options
async def aembed_column(
    df: pd.DataFrame,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> pd.DataFrame:
    """A new frame: ``df`` plus the vector column ``output`` (default ``<column>_embedding``).

    ``df`` is not modified; index and row order are kept. With ``details=True`` bad rows
    do not stop the job: they get a null vector, and four columns report on every row:
    ``<column>_tokens``, ``<column>_chunks``, ``<column>_truncated`` and ``<column>_status``
    (``ok``, ``null_input``, ``empty`` or ``error: ...``). A column already named ``output``
    is replaced in the result, with a warning.
    """
    series = get_column(df, column)
    name = output if output is not None else output_name(column)
    if name in df.columns:  # said before anything is sent; the input frame keeps its column
        warn(
            f"the frame already has a column {name!r}: the result's vectors replace it; pass "
            f"output=... to keep both, or drop it first (df.drop(columns=[{name!r}])) to say so"
        )
    result, index, _ = await _run(series, config, options, details=details)
    out = df.copy(deep=False)
    out[name] = from_numpy(result.rows, valid=result.valid, index=index, name=name)
    if details:
        for suffix, values in row_details(result.plan).items():
            out[f"{column}_{suffix}"] = pd.Series(values, index=index)
    out.attrs["embedframe"] = _summary(result.stats)
    provenance = dict(out.attrs.get(PROVENANCE_ATTR, {}))
    provenance[str(name)] = provenance_for(
        result.config,
        dimensions=result.rows.shape[1],
        column=column,
        vector_column=name,
        model=result.stats.model,
    )
    out.attrs[PROVENANCE_ATTR] = provenance
    return out


def row_details(plan: Plan) -> dict[str, Any]:
    """Per-row accounting: tokens, chunks, truncation and status of each row of ``plan``."""
    row_text = plan.row_text
    has_text = row_text >= 0
    t = np.maximum(row_text, 0)
    tokens = pd.array(np.where(has_text, plan.text_tokens[t] if len(plan.texts) else 0, 0), dtype="Int64")
    tokens[~has_text] = pd.NA
    chunks = np.where(has_text, np.diff(plan.ref_start)[t] if len(plan.texts) else 0, 0)
    truncated = np.where(has_text, plan.truncated[t] if len(plan.texts) else False, False)
    status = np.full(len(row_text), "ok", dtype=object)
    status[row_text == NULL] = "null_input"
    status[row_text == EMPTY] = "empty"
    for i, message in plan.row_errors.items():
        status[i] = f"error: {message}"
    return {
        "tokens": tokens,
        "chunks": chunks.astype(np.int64),
        "truncated": truncated.astype(bool),
        "status": pd.array(status, dtype="string"),
    }


@takes_options
def embed_column(
    df: pd.DataFrame,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> pd.DataFrame:
    """Sync :func:`aembed_column`; also works inside Jupyter."""
    return run_sync(aembed_column(df, column, output=output, details=details, config=config, **options))


@takes_options
async def aembed_chunks(
    texts: Texts, *, config: EmbedConfig | None = None, **options: Unpack[EmbedOptions]
) -> pd.DataFrame:
    """One row per chunk of each text: ``row`` (source label), ``chunk``, ``token_start``,
    ``token_end``, ``text`` and ``embedding``.

    Every text over ``chunk_tokens`` (default: the model's input limit) is split, with
    ``chunk_overlap`` tokens shared; rows with no text give no chunks.
    """
    options.setdefault("long_text", "chunk")
    result, index, _ = await _run(texts, config, options, exact=True)
    plan = result.plan
    rows = np.flatnonzero(plan.row_text >= 0)
    text_of_row = plan.row_text[rows]
    counts = np.diff(plan.ref_start)[text_of_row]
    first_ref = np.repeat(plan.ref_start[text_of_row], counts)
    chunk_no = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    refs = first_ref + chunk_no
    pieces = plan.ref_piece[refs]
    frame = pd.DataFrame(
        {
            "row": index.take(np.repeat(rows, counts)),
            "chunk": chunk_no,
            "token_start": plan.ref_span[refs, 0],
            "token_end": plan.ref_span[refs, 1],
            "text": pd.array([plan.pieces[p] for p in pieces.tolist()], dtype="string"),
        }
    )
    frame["embedding"] = from_numpy(np.ascontiguousarray(result.pieces[pieces]), index=frame.index)
    frame.attrs["embedframe"] = _summary(result.stats)
    return frame


@takes_options
def embed_chunks(
    texts: Texts, *, config: EmbedConfig | None = None, **options: Unpack[EmbedOptions]
) -> pd.DataFrame:
    """Sync :func:`aembed_chunks`; also works inside Jupyter."""
    return run_sync(aembed_chunks(texts, config=config, **options))


def _summary(stats: JobStats) -> dict[str, Any]:
    return {k: getattr(stats, k) for k in stats.__dataclass_fields__}
