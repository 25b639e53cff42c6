"""Embedded frames and files on disk: df.embed.to_parquet, and embed_file streaming Parquet, CSV and JSONL."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import embedframe
from embedframe import EmbedConfig, InputError, read_parquet, read_provenance, to_numpy, write_parquet
from embedframe._storage.outputs import MANIFEST
from embedframe.files import read_batches
from tests.support import API_KEY, DIM
from tests.support.fakeserver import FakeServer, vector_for_text


def expected(texts: list[Any], dim: int = DIM) -> np.ndarray:
    """The vectors the server gives ``texts`` (NaN rows, as to_numpy gives null rows, where there is no text)."""
    nan = np.full(dim, np.nan, dtype=np.float32)
    return np.stack([vector_for_text(t, dim) if isinstance(t, str) and t.strip() else nan for t in texts])


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equal vectors (null rows are NaN in both)."""
    return bool(np.array_equal(a, b, equal_nan=True))


def frame(n: int, *, offset: int = 0) -> pd.DataFrame:
    """A frame with a text column between other columns of several types, some rows null."""
    texts: list[str | None] = [
        f"review {i + offset}: the product was {('good', 'bad', 'fine')[i % 3]}" for i in range(n)
    ]
    for i in range(3, n, 7):
        texts[i] = None
    return pd.DataFrame(
        {
            "id": np.arange(offset, offset + n, dtype=np.int64),
            "text": texts,
            "stars": (np.arange(n) % 5 + 1).astype(np.int64),
            "score": np.arange(n) * 0.25,
            "tag": [f"t{i % 4}" for i in range(n)],
        }
    )


def write_input(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_json(path, orient="records", lines=True)
    return path


def vectors_of(path: Path, column: str = "text_embedding") -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A file's frame (through embedframe.read_parquet), its vector matrix and its valid mask."""
    back = read_parquet(path)
    return back, to_numpy(back[column]), back[column].notna().to_numpy()


def plain_texts(values: Any) -> list[str | None]:
    """Texts with empty strings as None (a CSV cannot tell the two apart)."""
    return [v if isinstance(v, str) and v else None for v in values]


# ------------------------------------------------------------------------ df.embed.to_parquet


def test_embedded_frame_to_parquet_reads_back_in_every_reader(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """df.embed then .embed.to_parquet gives a file pandas, pyarrow, polars, DuckDB and read_parquet all read exactly."""
    pl = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    df = frame(12)
    out = df.embed("text", config=config)
    path = tmp_path / "out.parquet"
    out.embed.to_parquet(path)
    valid = df["text"].notna().to_numpy()
    m = expected(df["text"].tolist())

    plain = pd.read_parquet(path)
    assert list(plain.columns) == [*df.columns, "text_embedding"]
    pd.testing.assert_frame_equal(plain[df.columns], df)
    assert all(plain["text_embedding"].iloc[i] is None for i in np.flatnonzero(~valid))
    assert np.array_equal(np.stack(plain["text_embedding"][valid].tolist()), m[valid])

    table = pq.read_table(path)
    assert table.schema.field("text_embedding").type.equals(pa.list_(pa.float32(), DIM))
    vec = table.column("text_embedding").combine_chunks()
    assert vec.is_valid().to_numpy(zero_copy_only=False).tolist() == valid.tolist()

    polars_frame = pl.read_parquet(path)
    assert polars_frame.schema["text_embedding"] == pl.Array(pl.Float32, DIM)
    assert polars_frame["id"].to_list() == df["id"].tolist()
    assert same(polars_frame["text_embedding"].to_numpy()[valid], m[valid])

    rows = duckdb.connect().sql(f"select id, text_embedding from '{path}' order by id").fetchall()
    assert [r[0] for r in rows] == df["id"].tolist()
    got = [r[1] for r in rows]
    assert all(got[i] is None for i in np.flatnonzero(~valid))
    assert np.array_equal(np.array([got[i] for i in np.flatnonzero(valid)], dtype=np.float32), m[valid])

    back = read_parquet(path)
    assert back["text_embedding"].dtype == embedframe.vector_dtype(DIM)
    assert same(to_numpy(back["text_embedding"]), to_numpy(out["text_embedding"]))
    pd.testing.assert_frame_equal(back[df.columns], df)


def test_provenance_of_the_run_is_in_the_file_and_no_key_is(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file records model, dimensions and the server's host from the run; the key (arg or env) is nowhere in its bytes."""
    df = frame(6)
    out = df.embed("text", base_url=server.url, api_key=API_KEY, dimensions=8, progress=False)
    out.embed.to_parquet(tmp_path / "accessor.parquet")
    write_parquet(out, tmp_path / "function.parquet")
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    df.embed("text", base_url=server.url, progress=False).embed.to_parquet(tmp_path / "env.parquet")
    for name in ("accessor", "function", "env"):
        path = tmp_path / f"{name}.parquet"
        prov = read_provenance(path)
        assert prov["model"] == "text-embedding-3-small"
        assert prov["dimensions"] == (DIM if name == "env" else 8)
        assert prov["base_url_host"] == f"127.0.0.1:{server.port}"
        assert prov["source_column"] == "text" and prov["vector_column"] == "text_embedding"
        assert prov["encoding"] == "cl100k_base" and prov["long_text"] == "chunk"
        data = path.read_bytes()
        for secret in (API_KEY, API_KEY[3:], "SECRET-0123"):
            assert secret.encode() not in data, (name, secret)
    assert read_provenance(tmp_path / "accessor.parquet") == read_provenance(tmp_path / "function.parquet")


# ------------------------------------------------------------------------------ embed_file


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
@pytest.mark.parametrize("single", [True, False], ids=["one-file", "folder"])
def test_embed_file_carries_every_column_in_order(
    tmp_path: Path, server: FakeServer, config: EmbedConfig, suffix: str, single: bool
) -> None:
    """Parquet, CSV and JSONL inputs give one .parquet file or a folder of parts: all columns, row order, right vectors."""
    df = frame(23)
    src = write_input(df, tmp_path / f"in{suffix}")
    dst = tmp_path / ("out.parquet" if single else "out")
    stats = embedframe.embed_file(src, dst, column="text", batch_rows=5, config=config)
    assert (stats.rows, stats.parts_written, stats.parts_skipped) == (23, 5, 0)
    if single:
        assert stats.outputs == [str(dst)] and dst.is_file()
        assert not (tmp_path / "out.parquet.parts").exists()
        back, m, valid = vectors_of(dst)
    else:
        parts = sorted(dst.glob("part-*.parquet"))
        assert stats.outputs == [str(p) for p in parts] and len(parts) == 5
        assert [pq.ParquetFile(p).metadata.num_rows for p in parts] == [5, 5, 5, 5, 3]
        back = pd.concat([read_parquet(p) for p in parts], ignore_index=True)
        m, valid = to_numpy(back["text_embedding"]), back["text_embedding"].notna().to_numpy()
        assert len(pd.read_parquet(dst)) == 23  # the folder reads as one dataset
    assert list(back.columns) == [*df.columns, "text_embedding"]
    carried = pd.read_csv(src, dtype=str) if suffix == ".csv" else df  # a CSV's columns stay text
    for name in ("id", "stars", "score", "tag"):
        assert back[name].tolist() == carried[name].tolist(), name
    assert plain_texts(back["text"]) == plain_texts(df["text"])
    assert valid.tolist() == df["text"].notna().tolist()
    assert same(m, expected(df["text"].tolist()))
    assert sorted(server.ok_inputs()) == sorted(set(df["text"].dropna()))


def test_csv_text_that_looks_like_numbers_stays_text(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """A CSV's columns come out exactly as written: text of digits stays text, leading zeros included."""
    src = tmp_path / "codes.csv"
    src.write_text("zip,sku,text\n01234,000123,42\n2,7,007\n00000,1e5,3.5\n")
    out = tmp_path / "out.parquet"
    embedframe.embed_file(src, out, column="text", config=config)
    back, m, _ = vectors_of(out)
    assert back["text"].tolist() == ["42", "007", "3.5"]
    assert back["zip"].tolist() == ["01234", "2", "00000"] and back["sku"].tolist() == ["000123", "7", "1e5"]
    assert pq.read_schema(out).field("zip").type in (pa.string(), pa.large_string())
    assert same(m, expected(["42", "007", "3.5"]))


def test_drop_null_vectors_writes_only_rows_with_a_vector_and_reruns_as_the_same_job(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """drop_null_vectors=True leaves out the rows with no text (for LanceDB); the summary counts them; a rerun sends nothing."""
    src = tmp_path / "in.csv"
    src.write_text("id,text\n1,alpha\n2,\n3,gamma\n4,   \n5,epsilon\n")
    out = tmp_path / "out.parquet"
    stats = embedframe.embed_file(
        src, out, column="text", batch_rows=2, drop_null_vectors=True, config=config
    )
    back, m, valid = vectors_of(out)
    assert back["id"].tolist() == ["1", "3", "5"] and valid.all()
    assert same(m, expected(["alpha", "gamma", "epsilon"]))
    assert stats.null_vectors == 2
    sent = len(server.requests)
    again = embedframe.embed_file(
        src, out, column="text", batch_rows=2, drop_null_vectors=True, config=config
    )
    assert len(server.requests) == sent and again.already_done
    with pytest.raises(InputError, match="overwrite"):  # keeping the null rows is another job
        embedframe.embed_file(src, out, column="text", batch_rows=2, config=config)


def test_csv_columns_given_types_are_converted(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """dtype= converts the columns it names (and only those); the others stay text."""
    src = tmp_path / "typed.csv"
    src.write_text("id,zip,stars,text\n1,01234,5,a\n2,00042,,b\n")
    out = tmp_path / "out.parquet"
    embedframe.embed_file(src, out, column="text", dtype={"id": "int64", "stars": "Int64"}, config=config)
    back = pd.read_parquet(out)
    assert back["id"].tolist() == [1, 2] and back["zip"].tolist() == ["01234", "00042"]
    assert back["stars"].tolist()[0] == 5 and pd.isna(back["stars"].tolist()[1])
    assert pq.read_schema(out).field("id").type == pa.int64()


def test_a_late_value_that_breaks_a_given_type_is_found_before_anything_is_sent(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """A code column of digits that turns to 'A240000' near the end: carried as text it is fine; typed as
    int64 the job fails with its row before any request, and leaves nothing behind."""
    src = tmp_path / "big.csv"
    lines = "".join(f"{i},text {i % 50}\n" for i in range(200_000))
    src.write_text(f"code,text\n{lines}A240000,last\n")
    dst = tmp_path / "out.parquet"
    with pytest.raises(InputError, match=r"column 'code' holds 'A240000' at data row 200,001.*not int64"):
        embedframe.embed_file(
            src, dst, column="text", batch_rows=20_000, dtype={"code": "int64"}, config=config
        )
    assert server.requests == [] and sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]
    stats = embedframe.embed_file(src, dst, column="text", batch_rows=50_000, config=config)
    assert stats.rows == 200_001 and pq.read_table(dst, columns=["code"]).column(0)[-1].as_py() == "A240000"


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_reader_yields_batches_of_batch_rows(tmp_path: Path, suffix: str) -> None:
    """read_batches gives the input batch_rows rows at a time (the last shorter), in order, for each format."""
    df = frame(23)
    src = write_input(df, tmp_path / f"in{suffix}")
    batches = list(read_batches(src, batch_rows=4, text_column="text"))
    assert [len(b) for b in batches] == [4, 4, 4, 4, 4, 3]
    ids = pd.concat(batches, ignore_index=True)["id"].tolist()
    assert ids == (df["id"].astype(str) if suffix == ".csv" else df["id"]).tolist()


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_streaming_embeds_and_writes_one_batch_at_a_time(
    tmp_path: Path, server: FakeServer, config: EmbedConfig, suffix: str
) -> None:
    """on_part runs once per batch; when part k is written, only batches 0..k have been sent and k+1 parts exist."""
    n, rows = 26, 6
    df = frame(n)
    df["text"] = [f"distinct text {i}" for i in range(n)]
    src = write_input(df, tmp_path / f"in{suffix}")
    dst = tmp_path / "out"
    calls: list[tuple[int, int]] = []

    def on_part(number: int, count: int) -> None:
        calls.append((number, count))
        assert len(list(dst.glob("part-*.parquet"))) == number + 1
        sent = set(server.ok_inputs())
        assert sent == set(df["text"][: number * rows + count])

    stats = embedframe.embed_file(src, dst, column="text", batch_rows=rows, on_part=on_part, config=config)
    assert calls == [(0, 6), (1, 6), (2, 6), (3, 6), (4, 2)]
    assert stats.parts_written == math.ceil(n / rows)
    assert all(pq.ParquetFile(p).metadata.num_rows <= rows for p in dst.glob("part-*.parquet"))


def test_on_part_failure_then_rerun_resumes_without_duplicates(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """A job stopped after part 1 resumes from part 2: no duplicate rows, same file as a clean run, nothing paid twice."""
    df = frame(30)
    df["text"] = [f"resumable {i}" for i in range(30)]
    src = write_input(df, tmp_path / "in.parquet")
    dst = tmp_path / "out.parquet"

    def stop_after_part_1(number: int, rows: int) -> None:
        if number == 1:
            raise RuntimeError("stopped on purpose")

    with pytest.raises(RuntimeError, match="on purpose"):
        embedframe.embed_file(src, dst, column="text", batch_rows=8, on_part=stop_after_part_1, config=config)
    assert not dst.exists()
    assert sorted(p.name for p in (tmp_path / "out.parquet.parts").glob("part-*")) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    first = len(server.ok_inputs())
    stats = embedframe.embed_file(src, dst, column="text", batch_rows=8, config=config)
    assert (stats.parts_skipped, stats.parts_written, stats.rows) == (2, 2, 30)
    assert first == 16 and len(server.ok_inputs()) == 30
    assert sorted(server.ok_inputs()) == sorted(df["text"])  # every text paid once

    clean = tmp_path / "clean.parquet"
    embedframe.embed_file(src, clean, column="text", batch_rows=8, config=config.replace(cache=False))
    resumed, m, _ = vectors_of(dst)
    reference, m_clean, _ = vectors_of(clean)
    assert resumed["id"].tolist() == list(range(30))
    pd.testing.assert_frame_equal(
        resumed.drop(columns="text_embedding"), reference.drop(columns="text_embedding")
    )
    assert same(m, m_clean) and same(m, expected(df["text"].tolist()))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"column": "tag"}, "column"),
        ({"model": "text-embedding-3-large"}, "model"),
        ({"dimensions": 8}, "dimensions"),
        ({"output": "vec"}, "output"),
        ({"batch_rows": 5}, "batch_rows"),
    ],
)
@pytest.mark.parametrize("single", [True, False], ids=["one-file", "folder"])
def test_a_changed_job_into_the_same_output_is_refused_unless_overwrite(
    tmp_path: Path, server: FakeServer, config: EmbedConfig, change: dict[str, Any], named: str, single: bool
) -> None:
    """Unfinished parts of one job are never mixed with another's: a clear InputError naming the change, or overwrite=True."""
    df = frame(20)
    src = write_input(df, tmp_path / "in.parquet")
    dst = tmp_path / ("out.parquet" if single else "out")
    parts = tmp_path / "out.parquet.parts" if single else dst
    job: dict[str, Any] = {"column": "text", "batch_rows": 8}

    def stop(number: int, rows: int) -> None:
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        embedframe.embed_file(src, dst, on_part=stop, config=config, **job)
    assert (parts / "part-00000.parquet").exists()
    changed = {**job, **change}
    with pytest.raises(InputError, match=rf"different job \(changed: [^)]*\b{named}\b.*overwrite=True"):
        embedframe.embed_file(src, dst, config=config, **changed)
    assert (parts / "part-00000.parquet").exists()  # the refused call touched nothing
    stats = embedframe.embed_file(src, dst, overwrite=True, config=config, **changed)
    assert stats.parts_skipped == 0 and stats.rows == 20
    name = changed.get("output", f"{changed['column']}_embedding")
    files = [dst] if single else sorted(dst.glob("part-*.parquet"))
    assert all(pq.read_schema(f).names == [*df.columns, name] for f in files)
    if not single:
        assert json.loads((parts / MANIFEST).read_text())["column"] == changed["column"]


@pytest.mark.parametrize("single", [True, False], ids=["one-file", "folder"])
def test_rerunning_a_finished_job_sends_nothing_and_leaves_the_output_as_it_is(
    tmp_path: Path, server: FakeServer, config: EmbedConfig, single: bool
) -> None:
    """The same call again after it finished (also after `touch` on the input) reads nothing, sends nothing, rewrites nothing."""
    src = write_input(frame(12), tmp_path / "in.csv")
    dst = tmp_path / ("out.parquet" if single else "out")
    first = embedframe.embed_file(src, dst, column="text", batch_rows=5, config=config)
    files = [dst] if single else sorted(dst.glob("*"))
    before = {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files}
    server.reset()
    again = embedframe.embed_file(src, dst, column="text", batch_rows=5, config=config)
    assert again.already_done and (again.rows, again.parts_written, again.requests) == (12, 0, 0)
    assert again.model == first.model == "text-embedding-3-small" and again.usd == 0.0
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 5_000_000_000))  # touch: same content
    assert embedframe.embed_file(src, dst, column="text", batch_rows=5, config=config).already_done
    assert server.requests == []
    assert {
        f: (f.read_bytes(), f.stat().st_mtime_ns) for f in (sorted(dst.glob("*")) if not single else [dst])
    } == before


@pytest.mark.parametrize("single", [True, False], ids=["one-file", "folder"])
def test_another_job_into_a_finished_output_is_refused_unless_overwrite(
    tmp_path: Path, server: FakeServer, config: EmbedConfig, single: bool
) -> None:
    """A finished output is not replaced by another job (other options, or an input whose content changed) without overwrite=True."""
    src = write_input(frame(5), tmp_path / "in.parquet")
    dst = tmp_path / ("out.parquet" if single else "out")
    embedframe.embed_file(src, dst, column="text", config=config)
    with pytest.raises(
        InputError,
        match=r"(exists and holds a|holds parts of a) different job \(changed: dimensions\).*overwrite=True",
    ):
        embedframe.embed_file(src, dst, column="text", dimensions=8, config=config)
    write_input(frame(5, offset=100), src)  # new content at the same path
    with pytest.raises(InputError, match=r"changed: source_sha256"):
        embedframe.embed_file(src, dst, column="text", config=config)
    embedframe.embed_file(src, dst, column="text", output="v", overwrite=True, config=config)
    assert "v" in pq.read_schema(dst if single else dst / "part-00000.parquet").names


def test_an_existing_file_not_written_by_a_file_job_is_not_replaced(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """A Parquet file at the destination that embed_file did not write is refused without overwrite=True."""
    src = write_input(frame(5), tmp_path / "in.parquet")
    dst = tmp_path / "out.parquet"
    frame(2).to_parquet(dst)
    with pytest.raises(InputError, match=r"not written by an embedframe file job; pass overwrite=True"):
        embedframe.embed_file(src, dst, column="text", config=config)
    assert server.requests == [] and len(pd.read_parquet(dst)) == 2


def test_a_resume_against_another_server_is_refused(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """Parts made through one server are never completed through another: the resume is refused, nothing sent."""
    src = write_input(frame(10), tmp_path / "in.parquet")
    dst = tmp_path / "out.parquet"

    def stop(number: int, rows: int) -> None:
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        embedframe.embed_file(src, dst, column="text", batch_rows=4, on_part=stop, config=config)
    server.reset()
    other = config.replace(base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InputError, match=r"different job \(changed: server\)"):
        embedframe.embed_file(src, dst, column="text", batch_rows=4, config=other)
    assert server.requests == [] and (tmp_path / "out.parquet.parts" / "part-00000.parquet").exists()


def test_job_identity_resolves_the_backend_from_the_environment(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no options, the identity names the local model; with OPENAI_BASE_URL/KEY set, that server and its model."""
    from embedframe.files import job_changes, job_identity

    local = job_identity(EmbedConfig(), column="text", vector_column="text_embedding")
    assert local["server"] == "local" and local["model"] == "all-MiniLM-L6-v2"
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    remote = job_identity(EmbedConfig(), column="text", vector_column="text_embedding")
    assert remote["server"] == f"{server.url}/embeddings" and remote["model"] == "text-embedding-3-small"
    assert {"server", "model", "tokenizer"} <= set(job_changes(local, remote))
    assert API_KEY not in json.dumps(remote)


def test_a_job_that_failed_before_its_first_part_does_not_block_the_corrected_one(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """A typo in the column (or a missing input) fails with InputError, and the corrected rerun is not refused."""
    src = write_input(frame(6), tmp_path / "in.csv")
    dst = tmp_path / "out.parquet"
    with pytest.raises(InputError, match="does not exist"):
        embedframe.embed_file(tmp_path / "missing.csv", dst, column="text", config=config)
    assert list(tmp_path.iterdir()) == [src]
    with pytest.raises(InputError, match="no column 'txt'"):
        embedframe.embed_file(src, dst, column="txt", config=config)
    stats = embedframe.embed_file(src, dst, column="text", config=config)
    assert stats.rows == 6 and dst.is_file()


def test_a_file_that_is_not_parquet_is_an_input_error(tmp_path: Path, config: EmbedConfig) -> None:
    """A .parquet input that is not Parquet raises InputError naming it."""
    src = tmp_path / "in.parquet"
    src.write_text("text\nhello\n")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        embedframe.embed_file(src, tmp_path / "out.parquet", column="text", config=config)


def test_embed_file_writes_provenance_and_no_key(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """The merged file carries the job's provenance (model, dimensions, host) and none of the key's bytes."""
    src = write_input(frame(9), tmp_path / "in.jsonl")
    dst = tmp_path / "out.parquet"
    embedframe.embed_file(src, dst, column="text", batch_rows=4, config=config)
    prov = read_provenance(dst)
    assert prov["model"] == "text-embedding-3-small" and prov["dimensions"] == DIM
    assert prov["base_url_host"] == f"127.0.0.1:{server.port}"
    assert API_KEY.encode() not in dst.read_bytes()


@pytest.mark.parametrize("model", ["text-embedding-3-small", "my-self-hosted-model"])
def test_batches_without_text_get_null_vectors_of_the_same_size(
    tmp_path: Path, server: FakeServer, config: EmbedConfig, model: str
) -> None:
    """Batches with no text (nulls sorted last) get null vectors the size of the others, also after a resume."""
    texts = ["one", "two", "three", "four", None, "", "  ", None, None, ""]
    src = write_input(pd.DataFrame({"id": range(10), "text": texts}), tmp_path / "in.parquet")
    dst = tmp_path / "out.parquet"

    def stop_after_first_part(number: int, rows: int) -> None:
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        embedframe.embed_file(
            src, dst, column="text", batch_rows=4, model=model, on_part=stop_after_first_part, config=config
        )
    stats = embedframe.embed_file(src, dst, column="text", batch_rows=4, model=model, config=config)
    assert (stats.parts_skipped, stats.parts_written) == (1, 2)
    assert pq.read_schema(dst).field("text_embedding").type.equals(pa.list_(pa.float32(), DIM))
    back, m, valid = vectors_of(dst)
    assert back["id"].tolist() == list(range(10)) and valid.tolist() == [True] * 4 + [False] * 6
    assert same(m, expected(texts))
    assert len(server.requests) == 1


def test_a_fully_resumed_job_still_reports_its_model(
    server: FakeServer, config: EmbedConfig, tmp_path: Path
) -> None:
    """When every part was already written, the summary still names the model (read from the parts)."""
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(6)]}).to_csv(src, index=False)
    dst = tmp_path / "out"
    embedframe.embed_file(src, dst, column="text", batch_rows=3, config=config)
    again = embedframe.embed_file(src, dst, column="text", batch_rows=3, config=config)
    assert again.parts_skipped == 2 and again.parts_written == 0
    assert again.model == "text-embedding-3-small" and again.usd == 0.0


# ------------------------------------------------------------------------------- input files


def test_empty_csv_fields_are_nulls_as_pandas_reads_them(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """Empty fields and pandas' null markers are null (null vectors, null text); estimate counts them as pandas does."""
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,hello\n2,\n3,""\n4," "\n5,NA\n6,world\n7,null\n')
    by_pandas = pd.read_csv(src)["text"]
    est = embedframe.estimate_file(src, column="text", config=config)
    empty = int(by_pandas.dropna().str.strip().eq("").sum())
    assert (est.null_rows, est.empty_rows) == (int(by_pandas.isna().sum()), empty) == (4, 1)
    dst = tmp_path / "out.parquet"
    embedframe.embed_file(src, dst, column="text", config=config)
    back = pd.read_parquet(dst)
    assert back["text"].isna().tolist() == by_pandas.isna().tolist()
    assert back["text_embedding"].notna().tolist() == [True, False, False, False, False, True, False]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "latin1.csv",
            "id,text\n1,plain\n2,café au lait\n".encode("latin-1"),
            r"'.*latin1\.csv'.* not valid utf-8 text at line 3 \(byte 0xe9\).*file_encoding='latin-1'",
        ),
        (
            "fields.csv",
            b"id,text\n1,a\n2,b,extra\n3,c\n",
            r"'.*fields\.csv'.* line 3 has 3 fields where the header has 2; quote the fields",
        ),
        (
            "broken.jsonl",
            b'{"id": 1, "text": "a"}\n{"id": 2, "text": "b"\n{"id": 3, "text": "c"}\n',
            r"'.*broken\.jsonl'.* line 2 is not valid JSON .*fix or remove that line",
        ),
        ("zero.csv", b"", r"'.*zero\.csv' is empty \(0 bytes\)"),
        ("zero.jsonl", b"", r"'.*zero\.jsonl' is empty \(0 bytes\)"),
    ],
)
def test_a_bad_input_file_is_one_clear_input_error_before_anything_is_sent(
    tmp_path: Path, server: FakeServer, config: EmbedConfig, name: str, content: bytes, message: str
) -> None:
    """A Latin-1 CSV, a row with too many fields, a broken JSON line, a zero-byte file: InputError naming file, line and fix; nothing left behind."""
    src = tmp_path / name
    src.write_bytes(content)
    for dst in (tmp_path / "out.parquet", tmp_path / "out"):
        with pytest.raises(InputError, match=message):
            embedframe.embed_file(src, dst, column="text", batch_rows=1, config=config)
        with pytest.raises(InputError, match=message):
            embedframe.estimate_file(src, column="text", config=config)
    assert server.requests == [] and [p.name for p in tmp_path.iterdir()] == [name]


def test_file_encoding_and_delimiter_read_other_files(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """file_encoding= and delimiter= read a Latin-1, ';'-separated file; without them the message suggests the delimiter."""
    src = tmp_path / "in.csv"
    src.write_bytes("id;text\n1;café au lait\n2;crème brûlée\n".encode("latin-1"))
    with pytest.raises(
        InputError, match=r"no column 'text'.*\['id;text'\].*';'-separated: pass delimiter=';'"
    ):
        embedframe.embed_file(
            src, tmp_path / "out.parquet", column="text", file_encoding="latin-1", config=config
        )
    out = tmp_path / "out.parquet"
    embedframe.embed_file(src, out, column="text", file_encoding="latin-1", delimiter=";", config=config)
    back, m, _ = vectors_of(out)
    assert back["text"].tolist() == ["café au lait", "crème brûlée"] and back["id"].tolist() == ["1", "2"]
    assert same(m, expected(["café au lait", "crème brûlée"]))


@pytest.mark.parametrize("single", [True, False], ids=["one-file", "folder"])
def test_a_failed_run_leaves_nothing_it_created(
    tmp_path: Path, server: FakeServer, config: EmbedConfig, single: bool
) -> None:
    """A wrong column, or a server that refuses the first batch, leaves no empty OUT.parquet.parts/ (or OUT/) behind."""
    src = write_input(frame(6), tmp_path / "in.csv")
    dst = tmp_path / ("out.parquet" if single else "out")
    with pytest.raises(InputError, match="no column 'txt'"):
        embedframe.embed_file(src, dst, column="txt", config=config)
    with pytest.raises(embedframe.AuthenticationError):
        embedframe.embed_file(src, dst, column="text", config=config.replace(api_key="sk-wrong-key-0000"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "vector-cache") == ["in.csv"]


@pytest.mark.parametrize("single", [True, False], ids=["one-file", "folder"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_input_with_no_rows_writes_an_empty_output_with_the_schema(
    tmp_path: Path, server: FakeServer, config: EmbedConfig, single: bool, suffix: str
) -> None:
    """A header-only CSV (or an empty Parquet file) gives an empty output with every column and the vector column; nothing sent."""
    src = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        src.write_text("id,text,zip\n")
    else:
        pd.DataFrame({"id": pd.Series([], dtype="int64"), "text": pd.Series([], dtype=object)}).to_parquet(
            src
        )
    dst = tmp_path / ("out.parquet" if single else "out")
    stats = embedframe.embed_file(src, dst, column="text", dimensions=DIM, config=config)
    assert stats.rows == 0 and server.requests == []
    file = dst if single else dst / "part-00000.parquet"
    schema = pq.read_schema(file)
    assert schema.names[:2] == ["id", "text"] and schema.names[-1] == "text_embedding"
    assert schema.field("text_embedding").type.equals(pa.list_(pa.float32(), DIM))
    assert pq.ParquetFile(file).metadata.num_rows == 0
    assert embedframe.embed_file(src, dst, column="text", dimensions=DIM, config=config).already_done


def test_jsonl_columns_keep_their_json_types_across_batches(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """A JSON column of integers with nulls in a later batch only is written with one type in every part; strings stay strings."""
    src = tmp_path / "in.jsonl"
    rows = [{"id": i, "zip": f"{i:05d}", "n": (None if i >= 4 else i), "text": f"t{i}"} for i in range(6)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dst = tmp_path / "out.parquet"
    embedframe.embed_file(src, dst, column="text", batch_rows=2, config=config)
    back = pd.read_parquet(dst)
    assert back["zip"].tolist() == [f"{i:05d}" for i in range(6)]
    assert back["n"].tolist()[:4] == [0, 1, 2, 3] and back["n"].isna().tolist()[4:] == [True, True]


def test_a_jsonl_column_of_two_types_is_refused_before_anything_is_sent(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """A JSON column that holds numbers in one batch and text in a later one fails with its rows and the dtype fix, before any request."""
    src = tmp_path / "in.jsonl"
    rows = [{"code": i, "text": f"t{i}"} for i in range(4)] + [{"code": "A240000", "text": "last"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        InputError, match=r"column 'code' holds int64 values from data row 1 .* dtype=\{'code': 'str'\}"
    ):
        embedframe.embed_file(src, tmp_path / "out.parquet", column="text", batch_rows=2, config=config)
    assert server.requests == []
    embedframe.embed_file(
        src, tmp_path / "out.parquet", column="text", batch_rows=2, dtype={"code": "str"}, config=config
    )
    assert pd.read_parquet(tmp_path / "out.parquet")["code"].tolist() == ["0", "1", "2", "3", "A240000"]


def test_a_finished_folder_missing_a_part_is_completed_by_the_rerun(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """A part deleted from a finished folder output is written again by the rerun (and only that part is embedded)."""
    src = write_input(frame(12), tmp_path / "in.parquet")
    dst = tmp_path / "out"
    embedframe.embed_file(src, dst, column="text", batch_rows=5, config=config.replace(cache=False))
    (dst / "part-00001.parquet").unlink()
    server.reset()
    stats = embedframe.embed_file(src, dst, column="text", batch_rows=5, config=config.replace(cache=False))
    assert not stats.already_done and (stats.parts_skipped, stats.parts_written) == (2, 1)
    assert sorted(server.ok_inputs()) == sorted(frame(12)["text"][5:10].dropna())
    assert embedframe.embed_file(src, dst, column="text", batch_rows=5, config=config).already_done


def test_a_jsonl_value_that_breaks_a_given_type_names_its_row(tmp_path: Path, config: EmbedConfig) -> None:
    """dtype= on a JSON Lines column: a value that does not convert is named with its row (not taken for broken JSON)."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"n": "1", "text": "a"}\n{"n": "x2", "text": "b"}\n')
    with pytest.raises(InputError, match=r"column 'n' holds 'x2' at data row 2, which is not int64"):
        embedframe.estimate_file(src, column="text", dtype={"n": "int64"}, config=config)


def test_dimensions_equal_to_the_models_size_are_the_same_job(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """dimensions=1536 on text-embedding-3-small resolves to what the default asks for: the rerun is the same job, not refused."""
    src = write_input(frame(4), tmp_path / "in.parquet")
    dst = tmp_path / "out.parquet"
    embedframe.embed_file(src, dst, column="text", config=config)
    assert embedframe.embed_file(src, dst, column="text", dimensions=1536, config=config).already_done


def test_a_folder_of_parquet_files_with_clashing_types_is_refused_before_anything_is_sent(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """A folder input whose files disagree on a column's type names the file and column at once; compatible files are read as one."""
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"code": [1, 2], "text": ["a", "b"]}).to_parquet(folder / "a.parquet")
    pd.DataFrame({"code": ["x"], "text": ["c"]}).to_parquet(folder / "b.parquet")
    with pytest.raises(
        InputError, match=r"b\.parquet.*does not fit.*code \((large_)?string here, int64 before\)"
    ):
        embedframe.embed_file(folder, tmp_path / "out.parquet", column="text", config=config)
    assert server.requests == []
    pd.DataFrame({"code": [None], "text": ["c"]}).to_parquet(folder / "b.parquet")  # all-null: fits
    stats = embedframe.embed_file(folder, tmp_path / "out.parquet", column="text", config=config)
    assert stats.rows == 3 and pd.read_parquet(tmp_path / "out.parquet")["code"].tolist()[:2] == [1, 2]


def test_dtype_naming_a_column_the_file_lacks_is_an_input_error(tmp_path: Path, config: EmbedConfig) -> None:
    """A typo in dtype= is reported with the file's columns, not ignored."""
    src = tmp_path / "in.csv"
    src.write_text("id,text\n1,a\n")
    with pytest.raises(InputError, match=r"dtype names column\(s\) \['ide'\].*\['id', 'text'\]"):
        embedframe.embed_file(
            src, tmp_path / "out.parquet", column="text", dtype={"ide": "int64"}, config=config
        )
