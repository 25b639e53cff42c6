"""Parquet files of vector frames: every reader gets the vectors back, safely written, with provenance."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import embedframe
import embedframe.parquet as ep
from embedframe import (
    ConfigError,
    EmbedConfig,
    InputError,
    InputTypeError,
    from_numpy,
    to_numpy,
    vector_dtype,
)
from embedframe.parquet import provenance_for, read_parquet, read_provenance, write_parquet, write_table

D = 4
KEY = "sk-proj-DISTINCTIVE-kq8Zr2Lm9XvT4wYb"


def _frame(
    n: int = 6, d: int = D, index: pd.Index | None = None, nulls: tuple[int, ...] = (1,)
) -> tuple[pd.DataFrame, npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """A frame with a text column and a vector column (rows in ``nulls`` null), its matrix and mask."""
    rng = np.random.default_rng(n * 1000 + d)
    m = rng.standard_normal((n, d), dtype=np.float32)
    valid = np.ones(n, dtype=bool)
    valid[list(nulls)] = False
    index = pd.RangeIndex(n) if index is None else index
    texts = [None if not ok else f"text {i}" for i, ok in enumerate(valid)]
    df = pd.DataFrame({"text": texts}, index=index)
    df["vec"] = from_numpy(m, valid=valid, index=index)
    return df, m, valid


def _check_vectors(
    arr: pa.Array | pa.ChunkedArray, m: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]
) -> None:
    """A list column read by some reader holds exactly ``m``'s valid rows and nulls elsewhere."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    assert arr.is_valid().to_numpy(zero_copy_only=False).tolist() == valid.tolist()
    kept = arr.filter(pa.array(valid))
    flat = np.asarray(kept.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    assert np.array_equal(flat.reshape(-1, m.shape[1]), m[valid])


def test_plain_pandas_reads_the_file(tmp_path: Path) -> None:
    """pd.read_parquet with default options reads the file: float32 arrays, None for null rows."""
    df, m, valid = _frame()
    path = tmp_path / "v.parquet"
    write_parquet(df, path)
    back = pd.read_parquet(path)
    assert list(back.columns) == ["text", "vec"] and back.index.equals(df.index)
    assert back["vec"].iloc[1] is None
    rows = np.stack([back["vec"].iloc[i] for i in np.flatnonzero(valid)])
    assert rows.dtype == np.float32 and np.array_equal(rows, m[valid])


def test_plain_pandas_fails_without_the_fix(tmp_path: Path) -> None:
    """The failure the writer avoids: pandas cannot parse its own fixed-size-list dtype string."""
    df, _, _ = _frame()
    df.to_parquet(tmp_path / "plain.parquet")
    try:
        pd.read_parquet(tmp_path / "plain.parquet")
    except (NotImplementedError, TypeError) as err:
        assert "pyarrow" in str(err) or "[4]" in str(err)
    else:
        pytest.skip("this pandas reads fixed-size-list columns back; the metadata fix is moot")


def test_read_parquet_reads_files_written_by_pandas(tmp_path: Path) -> None:
    """read_parquet also reads a file from df.to_parquet, which pandas cannot read back."""
    df, m, valid = _frame()
    df.to_parquet(tmp_path / "plain.parquet")
    back = read_parquet(tmp_path / "plain.parquet")
    assert back["vec"].dtype == vector_dtype(D)
    assert np.array_equal(to_numpy(back["vec"])[valid], m[valid])


def test_pyarrow_reads_fixed_size_float32(tmp_path: Path) -> None:
    """pyarrow reads the vector column as fixed_size_list<float32>[d] with the same values and nulls."""
    df, m, valid = _frame()
    write_parquet(df, tmp_path / "v.parquet")
    table = pq.read_table(tmp_path / "v.parquet")
    assert table.schema.field("vec").type.equals(pa.list_(pa.float32(), D))
    _check_vectors(table.column("vec"), m, valid)


def test_polars_reads_the_vectors(tmp_path: Path) -> None:
    """polars reads the vector column as Array(Float32, d) with the same values and nulls."""
    pl = pytest.importorskip("polars")
    df, m, valid = _frame()
    write_parquet(df, tmp_path / "v.parquet")
    frame = pl.read_parquet(tmp_path / "v.parquet")
    assert frame.schema["vec"] == pl.Array(pl.Float32, D)
    _check_vectors(frame["vec"].to_arrow(), m, valid)


def test_duckdb_reads_the_vectors(tmp_path: Path) -> None:
    """DuckDB reads the vector column as FLOAT[] with the same values and nulls."""
    duckdb = pytest.importorskip("duckdb")
    df, m, valid = _frame()
    path = tmp_path / "v.parquet"
    write_parquet(df, path)
    con = duckdb.connect()
    rel = con.sql(f"select vec from '{path}'")
    table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    _check_vectors(table.column("vec"), m, valid)
    rows = con.sql(f"select len(vec), list_extract(vec, 2) from '{path}'").fetchall()
    assert rows[1] == (None, None)
    assert rows[0] == (D, float(m[0, 1]))


def test_writing_does_not_copy_the_vectors() -> None:
    """The Arrow table that gets written holds the vector column in the frame's own memory."""
    df, m, _ = _frame(n=20, nulls=(3,))
    table = ep.frame_to_table(df, text_hash_column="text")
    column = table.column("vec").chunk(0)
    assert np.shares_memory(np.frombuffer(column.values.buffers()[1], dtype=np.float32), m)
    described = {c["name"]: c for c in json.loads(table.schema.metadata[b"pandas"])["columns"]}
    assert described["vec"]["numpy_type"] == "object"  # what plain pd.read_parquet can parse


def test_read_parquet_gives_one_chunk_zero_copy(tmp_path: Path) -> None:
    """read_parquet returns the vector ArrowDtype in one chunk; to_numpy is a view of its buffer."""
    df, m, _ = _frame(n=50, nulls=())
    write_parquet(df, tmp_path / "v.parquet", row_group_size=7)  # 8 row groups, many batches
    assert pq.ParquetFile(tmp_path / "v.parquet").metadata.num_row_groups == 8
    back = read_parquet(tmp_path / "v.parquet")
    assert back["vec"].dtype == vector_dtype(D)
    chunked = back["vec"].array._pa_array
    assert chunked.num_chunks == 1
    buffer = np.frombuffer(chunked.chunk(0).values.buffers()[1], dtype=np.float32)
    matrix = to_numpy(back["vec"])
    assert np.shares_memory(matrix, buffer) and np.array_equal(matrix, m)


def test_read_parquet_keeps_null_rows(tmp_path: Path) -> None:
    """Null vectors are null after read_parquet, across batch boundaries, and NaN rows in to_numpy."""
    df, m, valid = _frame(n=30, nulls=(0, 7, 29))
    write_parquet(df, tmp_path / "v.parquet", row_group_size=4)
    back = read_parquet(tmp_path / "v.parquet")
    assert back["vec"].isna().to_numpy().tolist() == (~valid).tolist()
    matrix = to_numpy(back["vec"])
    assert np.isnan(matrix[~valid]).all() and np.array_equal(matrix[valid], m[valid])
    assert back["text"].isna().to_numpy().tolist() == (~valid).tolist()


def test_read_parquet_keeps_null_floats_inside_vectors(tmp_path: Path) -> None:
    """A null float inside a valid vector stays null (not silently NaN or 0)."""
    values = pa.array([1.0, None, 3.0, 4.0, 5.0, 6.0], pa.float32())
    vec = pa.FixedSizeListArray.from_arrays(values, 2, mask=pa.array([False, False, True]))
    pq.write_table(pa.table({"vec": vec}), tmp_path / "v.parquet")
    back = read_parquet(tmp_path / "v.parquet")["vec"].array._pa_array.chunk(0)
    assert back.to_pylist() == [[1.0, None], [3.0, 4.0], None]


def test_read_parquet_columns(tmp_path: Path) -> None:
    """columns= reads only those columns (plus the index), and an unknown name is an InputError."""
    df, _, _ = _frame(index=pd.Index(list("abcdef"), name="key"))
    write_parquet(df, tmp_path / "v.parquet")
    only_text = read_parquet(tmp_path / "v.parquet", columns=["text"])
    assert list(only_text.columns) == ["text"] and only_text.index.equals(df.index)
    only_vec = read_parquet(tmp_path / "v.parquet", columns=["vec"])
    assert list(only_vec.columns) == ["vec"] and only_vec.index.equals(df.index)
    with pytest.raises(InputError, match="nope"):
        read_parquet(tmp_path / "v.parquet", columns=["nope"])


@pytest.mark.parametrize(
    "index",
    [
        pd.RangeIndex(6),
        pd.RangeIndex(10, 22, 2),
        pd.Index(list("uvwxyz"), name="key"),
        pd.MultiIndex.from_product([["a", "b"], [1, 2, 3]], names=["g", "n"]),
    ],
    ids=["range", "range-step", "named-string", "multi"],
)
def test_index_round_trips(tmp_path: Path, index: pd.Index) -> None:
    """The index comes back the same through read_parquet and through plain pd.read_parquet."""
    df, _, _ = _frame(index=index)
    write_parquet(df, tmp_path / "v.parquet")
    ours = read_parquet(tmp_path / "v.parquet")
    plain = pd.read_parquet(tmp_path / "v.parquet")
    pd.testing.assert_index_equal(ours.index, df.index)
    pd.testing.assert_index_equal(plain.index, df.index)
    pd.testing.assert_series_equal(ours["vec"], df["vec"])


def _config() -> EmbedConfig:
    return EmbedConfig(
        api_key=KEY,
        base_url="https://alice:pa55word@embed.example.com:8443/v1?token=qs-secret",
        model="text-embedding-3-small",
        dimensions=256,
        headers={"X-Private": "header-secret-value"},
        chunk_tokens=512,
        chunk_overlap=64,
    )


def test_provenance_round_trips(tmp_path: Path) -> None:
    """provenance_for's dict is stored in the footer and read_provenance gives it back."""
    df, _, _ = _frame()
    prov = provenance_for(_config(), dimensions=D, column="text", vector_column="vec")
    write_parquet(df, tmp_path / "v.parquet", provenance=prov)
    back = read_provenance(tmp_path / "v.parquet")
    assert back == prov
    assert back["model"] == "text-embedding-3-small" and back["encoding"] == "cl100k_base"
    assert (back["chunk_tokens"], back["chunk_overlap"], back["long_text"]) == (512, 64, "chunk")
    assert back["normalised"] is True and back["dimensions"] == D
    assert back["source_column"] == "text" and back["vector_column"] == "vec"
    assert back["base_url_host"] == "embed.example.com:8443"
    assert back["embedframe_version"] == embedframe.__version__
    assert pd.Timestamp(back["created_at"]).tzinfo is not None
    assert pq.read_schema(tmp_path / "v.parquet").metadata[ep.PROVENANCE_KEY] is not None


def test_no_secret_anywhere_in_the_file(tmp_path: Path) -> None:
    """Neither the API key, nor the URL's password or query, nor a header value is in the file's bytes."""
    df, _, _ = _frame()
    cfg = _config()
    write_parquet(df, tmp_path / "v.parquet", provenance=provenance_for(cfg, dimensions=D, column="text"))
    data = (tmp_path / "v.parquet").read_bytes()
    for secret in (KEY, "DISTINCTIVE", "pa55word", "alice", "qs-secret", "header-secret-value"):
        assert secret.encode() not in data, secret


def test_provenance_defaults() -> None:
    """Without a server in the config there is no host; the vector column defaults to <column>_embedding."""
    prov = provenance_for(EmbedConfig(model="text-embedding-3-small"), dimensions=8, column="body")
    assert prov["base_url_host"] is None and prov["vector_column"] == "body_embedding"
    keyed = provenance_for(EmbedConfig(api_key=KEY), dimensions=8, column="body", model="m-served")
    assert keyed["base_url_host"] == "api.openai.com" and keyed["model"] == "m-served"
    assert KEY not in repr(keyed)


def test_provenance_refuses_credentials_and_non_json(tmp_path: Path) -> None:
    """A provenance holding a credential key, or not JSON-able, is a ConfigError and nothing is written."""
    df, _, _ = _frame()
    with pytest.raises(ConfigError, match="api_key"):
        write_parquet(df, tmp_path / "v.parquet", provenance={"model": "m", "api_key": KEY})
    with pytest.raises(ConfigError, match="JSON"):
        write_parquet(df, tmp_path / "v.parquet", provenance={"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_read_provenance_of_a_file_without_it(tmp_path: Path) -> None:
    """A file without provenance gives an empty dict."""
    df, _, _ = _frame()
    write_parquet(df, tmp_path / "v.parquet")
    assert read_provenance(tmp_path / "v.parquet") == {}


def test_text_hash_column(tmp_path: Path) -> None:
    """The hash column holds each text's SHA-256 hex, null for null text, and the input frame is untouched."""
    df, _, _ = _frame()
    df.loc[3, "text"] = "héllo ✓"
    df.loc[4, "text"] = np.nan
    before = df.copy()
    write_parquet(df, tmp_path / "v.parquet", text_hash_column="text", hash_column="h")
    pd.testing.assert_frame_equal(df, before)
    back = read_parquet(tmp_path / "v.parquet")
    for text, digest in zip(back["text"], back["h"], strict=True):
        if pd.isna(text):
            assert pd.isna(digest)
        else:
            assert digest == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert back["h"].isna().tolist() == [False, True, False, False, True, False]


def test_text_hashes_details() -> None:
    """Lone surrogates hash as U+FFFD; a non-string value is an InputTypeError naming its row."""
    hashes = ep.text_hashes(pd.Series(["a\ud800", "a\ufffd", None], index=["x", "y", "z"], dtype=object))
    assert hashes["x"] == hashes["y"] == hashlib.sha256("a\ufffd".encode()).hexdigest()
    assert hashes["z"] is None
    with pytest.raises(InputTypeError, match="'q'"):
        ep.text_hashes(pd.Series(["a", 3], index=["p", "q"]))


def test_text_hash_of_a_missing_column(tmp_path: Path) -> None:
    """Asking to hash a column that is not there is an InputError naming it."""
    df, _, _ = _frame()
    with pytest.raises(InputError, match="body"):
        write_parquet(df, tmp_path / "v.parquet", text_hash_column="body")


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_write_leaves_only_the_target(tmp_path: Path) -> None:
    """A successful write leaves the target and no temporary file."""
    df, _, _ = _frame()
    write_parquet(df, tmp_path / "v.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["v.parquet"]


def test_failed_write_creates_nothing(tmp_path: Path) -> None:
    """A write that fails after the temporary file was opened (bad option) leaves no file at all."""
    df, _, _ = _frame()
    with pytest.raises(TypeError):
        write_parquet(df, tmp_path / "v.parquet", no_such_option=1)
    assert list(tmp_path.iterdir()) == []


def test_crash_mid_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after some rows were written leaves the previous file intact and no temporary file."""
    old, _, _ = _frame(n=3, nulls=())
    target = tmp_path / "v.parquet"
    write_parquet(old, target)
    before = target.read_bytes()
    seen: list[str] = []
    real = pq.ParquetWriter.write_table

    def write_then_crash(self: Any, table: pa.Table, row_group_size: int | None = None) -> None:
        real(self, table.slice(0, 2), row_group_size=row_group_size)
        seen.extend(p.name for p in tmp_path.iterdir())
        raise KeyboardInterrupt

    monkeypatch.setattr(pq.ParquetWriter, "write_table", write_then_crash)
    new, _, _ = _frame(n=20)
    with pytest.raises(KeyboardInterrupt):
        write_parquet(new, target)
    assert any(name.endswith(".tmp") for name in seen)  # the rows did go to a temporary file
    assert target.read_bytes() == before and _no_temp_files(tmp_path)


def test_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    """Writing into a directory that does not exist raises InputError naming the path."""
    df, _, _ = _frame()
    target = tmp_path / "nope" / "v.parquet"
    with pytest.raises(InputError, match="nope"):
        write_parquet(df, target)
    with pytest.raises(InputError, match="is a directory"):
        write_parquet(df, tmp_path)


def test_writer_settings_are_in_the_file(tmp_path: Path) -> None:
    """Vectors: zstd, byte-stream-split, no dictionary, no statistics; the text column keeps pyarrow's."""
    df, _, _ = _frame()
    write_parquet(df, tmp_path / "v.parquet")
    group = pq.ParquetFile(tmp_path / "v.parquet").metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    vec, text = columns["vec.list.element"], columns["text"]
    assert vec.compression == text.compression == ep.DEFAULT_COMPRESSION.upper()
    assert not vec.is_stats_set and not vec.has_dictionary_page
    assert "BYTE_STREAM_SPLIT" in vec.encodings
    assert text.is_stats_set and text.has_dictionary_page


def test_writer_options_can_be_overridden(tmp_path: Path) -> None:
    """compression= and pyarrow options given to write_parquet win over the defaults."""
    df, m, valid = _frame()
    write_parquet(df, tmp_path / "v.parquet", compression="snappy", use_byte_stream_split=False)
    vec = pq.ParquetFile(tmp_path / "v.parquet").metadata.row_group(0).column(1)
    assert vec.compression == "SNAPPY" and "BYTE_STREAM_SPLIT" not in vec.encodings
    assert np.array_equal(to_numpy(read_parquet(tmp_path / "v.parquet")["vec"])[valid], m[valid])


def test_default_row_groups_follow_vector_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default a row group holds about ROW_GROUP_BYTES of vectors."""
    monkeypatch.setattr(ep, "ROW_GROUP_BYTES", 10 * D * 4)
    df, _, _ = _frame(n=35)
    write_parquet(df, tmp_path / "v.parquet")
    meta = pq.ParquetFile(tmp_path / "v.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [10, 10, 10, 5]


@pytest.mark.parametrize(
    "make",
    [
        lambda m: pd.Series(list(m.astype(np.float64)), dtype=pd.ArrowDtype(pa.list_(pa.float64(), D))),
        lambda m: pd.Series(list(m.astype(np.float64)), dtype=pd.ArrowDtype(pa.list_(pa.float64()))),
        lambda m: pd.Series(list(m), dtype=object),
    ],
    ids=["float64-fixed", "float64-list", "object-arrays"],
)
def test_other_vector_columns_become_float32_fixed(tmp_path: Path, make: Any) -> None:
    """float64, variable-length and object-of-array vectors are written as fixed_size_list<float32>[d]."""
    m = np.random.default_rng(1).standard_normal((5, D)).astype(np.float32)
    df = pd.DataFrame({"vec": make(m)})
    write_parquet(df, tmp_path / "v.parquet")
    assert pq.read_schema(tmp_path / "v.parquet").field("vec").type.equals(pa.list_(pa.float32(), D))
    back = read_parquet(tmp_path / "v.parquet")
    assert back["vec"].dtype == vector_dtype(D) and np.array_equal(to_numpy(back["vec"]), m)
    assert pd.read_parquet(tmp_path / "v.parquet")["vec"].iloc[0].dtype == np.float32


def test_ragged_vectors_are_refused(tmp_path: Path) -> None:
    """A float-list column whose rows differ in length is an InputError naming the column."""
    df = pd.DataFrame({"emb": pd.Series([[1.0, 2.0], [1.0]], dtype=pd.ArrowDtype(pa.list_(pa.float64())))})
    with pytest.raises(InputError, match=r"'emb'.*different lengths"):
        write_parquet(df, tmp_path / "v.parquet")
    assert list(tmp_path.iterdir()) == []


def test_frame_without_vectors(tmp_path: Path) -> None:
    """A frame with no vector column is written and read back like pandas would."""
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"]})
    write_parquet(df, tmp_path / "v.parquet")
    pd.testing.assert_frame_equal(
        read_parquet(tmp_path / "v.parquet"), pd.read_parquet(tmp_path / "v.parquet")
    )
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "v.parquet"), df)


def test_empty_frame_round_trips(tmp_path: Path) -> None:
    """A frame with no rows keeps its vector dtype."""
    df, _, _ = _frame()
    write_parquet(df.iloc[:0], tmp_path / "v.parquet")
    back = read_parquet(tmp_path / "v.parquet")
    assert len(back) == 0 and back["vec"].dtype == vector_dtype(D)
    assert to_numpy(back["vec"]).shape == (0, D)


def test_write_table_concatenates_parts(tmp_path: Path) -> None:
    """write_table writes several Parquet files into one, in order, with the vector settings."""
    parts = []
    frames = []
    for i in range(3):
        df, _, _ = _frame(n=4 + i, nulls=(0,))
        frames.append(df)
        parts.append(tmp_path / f"part-{i}.parquet")
        write_parquet(df, parts[-1], provenance={"part": 0})
    write_table(parts, tmp_path / "all.parquet")
    back = read_parquet(tmp_path / "all.parquet")
    expected = pd.concat(frames, ignore_index=True)
    assert len(back) == 15 and back["text"].tolist() == expected["text"].tolist()
    assert np.array_equal(to_numpy(back["vec"]), to_numpy(expected["vec"]), equal_nan=True)
    assert read_provenance(tmp_path / "all.parquet") == {"part": 0}
    vec = pq.ParquetFile(tmp_path / "all.parquet").metadata.row_group(0).column(1)
    assert not vec.is_stats_set and "BYTE_STREAM_SPLIT" in vec.encodings
    assert _no_temp_files(tmp_path) and os.path.exists(tmp_path / "all.parquet")


# ------------------------------------------------------------------ other readers (docs/files.md)

DOCS_FILES = Path(__file__).resolve().parents[2] / "docs" / "files.md"

DUCKDB_SQL = """
    SELECT text, array_cosine_similarity(text_embedding::FLOAT[{d}], $q::FLOAT[{d}]) AS score
    FROM read_parquet($path)
    WHERE text_embedding IS NOT NULL
    ORDER BY score DESC
    LIMIT 5
"""


def _reviews_file(tmp_path: Path, d: int = 16) -> tuple[Path, pd.DataFrame, npt.NDArray[np.float32]]:
    """A file as the quick start writes it: a text column and its vectors, two rows without one."""
    df, m, _ = _frame(n=8, d=d, nulls=(2, 5))
    df = df.rename(columns={"vec": "text_embedding"})
    path = tmp_path / "reviews_embedded.parquet"
    write_parquet(df, path)
    return path, df, m


def _in_docs(snippet: str) -> bool:
    """Whether docs/files.md shows ``snippet`` (whitespace aside)."""
    return " ".join(snippet.split()) in " ".join(DOCS_FILES.read_text(encoding="utf-8").split())


def test_duckdb_cosine_query_of_the_docs(tmp_path: Path) -> None:
    """The documented DuckDB query (cast to FLOAT[d]) ranks the rows as cosine does, skipping nulls;
    without the cast DuckDB's binder refuses the FLOAT[] column, which is why the docs cast."""
    duckdb = pytest.importorskip("duckdb")
    path, df, m = _reviews_file(tmp_path)
    assert _in_docs(DUCKDB_SQL)
    d = read_provenance(path).get("dimensions", m.shape[1])
    q = m[3].tolist()
    hits = duckdb.execute(DUCKDB_SQL.format(d=d), {"q": q, "path": str(path)}).df()
    valid = df["text_embedding"].notna().to_numpy()
    scores = (m @ m[3]) / (np.linalg.norm(m, axis=1) * np.linalg.norm(m[3]))
    order = [i for i in np.argsort(-scores, kind="stable") if valid[i]][:5]
    assert hits["text"].tolist() == df["text"].iloc[order].tolist()
    assert np.allclose(hits["score"].to_numpy(), scores[order], atol=1e-5)
    with pytest.raises(duckdb.BinderException):  # if DuckDB ever sees FLOAT[d], drop the cast in the docs
        duckdb.execute(
            "SELECT array_cosine_similarity(text_embedding, $q::FLOAT[16]) FROM read_parquet($path)",
            {"q": q, "path": str(path)},
        )
    con = duckdb.connect()
    con.register("arrow", pq.read_table(path))  # through Arrow the size is seen: no cast
    kinds = {row[0]: row[1] for row in con.sql("DESCRIBE SELECT * FROM arrow").fetchall()}
    assert kinds["text_embedding"] == "FLOAT[16]"


def test_lancedb_takes_the_file_as_the_docs_say(tmp_path: Path) -> None:
    """LanceDB builds a table from the file with on_bad_vectors="drop" (or "null"), and from a file
    written with drop_null_vectors=True as it is; its nearest row is the query's own."""
    lancedb = pytest.importorskip("lancedb")
    path, df, m = _reviews_file(tmp_path)
    assert _in_docs('db.create_table("reviews", pq.read_table(path), on_bad_vectors="drop")')
    assert _in_docs('out.embed.to_parquet("out/with_vectors.parquet", drop_null_vectors=True)')
    db = lancedb.connect(tmp_path / "lancedb")
    dropped = db.create_table("reviews", pq.read_table(path), on_bad_vectors="drop")
    assert dropped.count_rows() == 6
    nearest = dropped.search(m[3], vector_column_name="text_embedding").limit(1).to_pandas()
    assert nearest["text"].tolist() == ["text 3"]
    assert db.create_table("kept", pq.read_table(path), on_bad_vectors="null").count_rows() == 8

    only = tmp_path / "with_vectors.parquet"
    df.embed.to_parquet(only, drop_null_vectors=True)
    plain = db.create_table("reviews_with_vectors", pq.read_table(only))
    assert plain.count_rows() == 6
    assert plain.search(m[7], vector_column_name="text_embedding").limit(1).to_pandas()["text"].tolist() == [
        "text 7"
    ]


def test_drop_null_vectors_writes_only_rows_with_a_vector(tmp_path: Path) -> None:
    """drop_null_vectors=True leaves out rows with a null in any vector column, keeps the others'
    index, values and provenance; the caller's frame is untouched."""
    df, m, _ = _frame(n=7, nulls=(0, 4), index=pd.Index(list("abcdefg"), name="id"))
    other = m[::-1].copy()
    df["vec2"] = from_numpy(other, valid=np.arange(7) != 6, index=df.index)
    path = tmp_path / "v.parquet"
    write_parquet(df, path, provenance={"model": "m"}, drop_null_vectors=True)
    back = read_parquet(path)
    assert back.index.tolist() == ["b", "c", "d", "f"] and back.index.name == "id"
    assert np.array_equal(to_numpy(back["vec"]), m[[1, 2, 3, 5]])
    assert np.array_equal(to_numpy(back["vec2"]), other[[1, 2, 3, 5]])
    assert read_provenance(path) == {"model": "m"} and len(df) == 7
    write_parquet(df, path)  # by default every row is written
    assert len(read_parquet(path)) == 7
