"""Vector columns: a float32 matrix as a fixed-size Arrow list column, and back, without copies."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from .errors import InputError

__all__ = ["from_numpy", "output_name", "to_numpy", "vector_dtype"]


def output_name(column: Hashable) -> str:
    """The default name of the vector column made from ``column``."""
    return f"{column}_embedding"


def vector_dtype(dim: int) -> pd.ArrowDtype:
    """The dtype of a vector column: ``pd.ArrowDtype(pa.list_(pa.float32(), dim))``."""
    return pd.ArrowDtype(pa.list_(pa.float32(), dim))


def to_arrow(
    matrix: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_] | None = None
) -> pa.FixedSizeListArray:
    """A ``fixed_size_list<float32>[d]`` array over ``matrix``'s memory; rows not ``valid`` are null."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {matrix.shape}")
    _n, d = matrix.shape
    if d == 0:
        raise ValueError("vectors must have at least one dimension")
    mask = None if valid is None or bool(valid.all()) else pa.array(~valid)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), d, mask=mask)


def from_numpy(
    matrix: npt.NDArray[np.float32],
    *,
    valid: npt.NDArray[np.bool_] | None = None,
    index: pd.Index | None = None,
    name: Hashable = None,
) -> pd.Series:
    """A vector Series over ``matrix`` (no copy when it is C-contiguous float32)."""
    array = pd.arrays.ArrowExtensionArray(to_arrow(matrix, valid))
    return pd.Series(array, index=index, name=name, copy=False)


def _fixed_size_list(values: pd.Series | pa.Array | pa.ChunkedArray) -> pa.FixedSizeListArray:
    if isinstance(values, pd.Series):
        dtype = values.dtype
        if not (isinstance(dtype, pd.ArrowDtype) and pa.types.is_fixed_size_list(dtype.pyarrow_dtype)):
            raise InputError(
                f"expected a vector column (fixed_size_list ArrowDtype), got dtype {dtype}; "
                "embed the column first, or read it with embedframe.read_parquet"
            )
        values = (
            pa.chunked_array(values.array._pa_array)
            if hasattr(values.array, "_pa_array")
            else pa.array(values)
        )
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not isinstance(values, pa.FixedSizeListArray):
        raise InputError(f"expected a fixed_size_list array, got {values.type}")
    return values


def to_numpy(values: pd.Series | pa.Array | pa.ChunkedArray) -> npt.NDArray[np.float32]:
    """The ``(n, d)`` float32 matrix of a vector column.

    Without nulls it is a view of the column's memory (no copy, read-only). Null rows
    come back as rows of NaN, in a copy.
    """
    arr = _fixed_size_list(values)
    d = arr.type.list_size
    n = len(arr)
    if not pa.types.is_float32(arr.type.value_type):
        arr = arr.cast(pa.list_(pa.float32(), d))
    flat = arr.values.slice(arr.offset * d, n * d)
    if arr.null_count == 0 and flat.null_count == 0:
        view: npt.NDArray[np.float32] = flat.to_numpy(zero_copy_only=True).reshape(n, d)
        return view
    out: npt.NDArray[np.float32] = flat.to_numpy(zero_copy_only=False).astype(np.float32).reshape(n, d)
    out[~arr.is_valid().to_numpy(zero_copy_only=False)] = np.nan
    return out
