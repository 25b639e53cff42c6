"""Vector columns as fixed-size Arrow lists, and the matrix back without a copy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from embedframe import InputError, from_numpy, to_numpy, vector_dtype


def test_round_trip_is_zero_copy() -> None:
    """from_numpy and to_numpy share the matrix's memory."""
    m = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    s = from_numpy(m, index=list("abcde"), name="v")
    assert s.dtype == vector_dtype(4) == pd.ArrowDtype(pa.list_(pa.float32(), 4))
    back = to_numpy(s)
    assert np.shares_memory(back, m) and np.array_equal(back, m)


def test_null_rows_come_back_as_nan() -> None:
    """Null vectors are null in the column and NaN rows in the matrix."""
    m = np.ones((3, 2), dtype=np.float32)
    s = from_numpy(m, valid=np.array([True, False, True]))
    assert s.isna().tolist() == [False, True, False]
    back = to_numpy(s)
    assert np.isnan(back[1]).all() and (back[[0, 2]] == 1).all()


def test_sliced_series_gives_its_rows() -> None:
    """A slice of a vector column gives exactly its own rows."""
    m = np.arange(12, dtype=np.float32).reshape(6, 2)
    assert np.array_equal(to_numpy(from_numpy(m).iloc[2:4]), m[2:4])


def test_non_vector_column_is_refused() -> None:
    """to_numpy on a column that is not a vector column says what to do."""
    with pytest.raises(InputError, match="vector column"):
        to_numpy(pd.Series([1.0, 2.0]))
