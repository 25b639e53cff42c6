"""The embedframe command: embed, estimate and inspect, their output, exit codes, and a key that is never printed."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import read_parquet, read_provenance, to_numpy
from embedframe.cli import main
from tests.support import API_KEY, DIM, interruptible
from tests.support.fakeserver import FakeServer, Fault, encoding, vector_for_text

TEXTS = ["the first review", "the second review", None, "the first review", "a fifth one"]
DISTINCT = ["the first review", "the second review", "a fifth one"]


def tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))


@pytest.fixture
def csv_input(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    pd.DataFrame({"id": [1, 2, 3, 4, 5], "text": TEXTS, "stars": [5, 1, 3, 4, 2]}).to_csv(path, index=False)
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """Run ``embedframe ARGV`` in this process; the exit code, stdout and stderr (which never hold the key)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    for secret in (API_KEY, API_KEY[8:]):
        assert secret not in captured.out and secret not in captured.err
    return code, captured.out, captured.err


def command(*argv: object, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m embedframe.cli ARGV`` as its own process, which Ctrl-C (SIGINT) stops."""
    return subprocess.Popen(
        [sys.executable, "-m", "embedframe.cli", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=interruptible,
    )


# -------------------------------------------------------------------------------------- embed


def test_embed_writes_the_file_and_prints_a_summary(
    tmp_path: Path, csv_input: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """embed writes OUT.parquet and prints rows, tokens, requests, cache hits, cost and time to stderr."""
    out = tmp_path / "out.parquet"
    base = ["--base-url", server.url, "--api-key", API_KEY]
    code, stdout, stderr = cli(capsys, "embed", csv_input, "-c", "text", "-o", out, *base, "--no-cache")
    assert code == 0 and stdout == ""
    sent = sum(r.total_tokens for r in server.requests)
    assert sent == sum(tokens(t) for t in DISTINCT)
    assert f"embedded 5 rows with text-embedding-3-small into {out}" in stderr
    assert re.search(
        rf"{sent} tokens billed( \([\d,]+ sent at most: an upper bound[^)]*\))?, 1 request, 0 cache hits",
        stderr,
    )
    assert "1 row with a null vector (0 bad rows)" in stderr
    assert f"cost ${sent * 0.02 / 1e6:,.4f}" in stderr
    assert re.search(r", \d+\.\d s$", stderr.strip())
    assert not (tmp_path / "vector-cache").exists()  # --no-cache: nothing read or written

    back = read_parquet(out)
    assert back["id"].tolist() == ["1", "2", "3", "4", "5"]  # a CSV's columns come out as written
    assert back["stars"].tolist() == ["5", "1", "3", "4", "2"]
    valid = back["text_embedding"].notna().to_numpy()
    assert valid.tolist() == [True, True, False, True, True]
    assert np.array_equal(
        to_numpy(back["text_embedding"])[valid], np.stack([vector_for_text(t, DIM) for t in TEXTS if t])
    )

    first = len(server.requests)
    cli(capsys, "embed", csv_input, "-c", "text", "-o", tmp_path / "cached.parquet", *base)
    code, _, stderr = cli(capsys, "embed", csv_input, "-c", "text", "-o", tmp_path / "again.parquet", *base)
    assert code == 0 and "0 tokens billed, 0 requests, 3 cache hits" in stderr
    assert len(server.requests) == first + 1  # only the first cached run sent anything


def test_a_cache_in_a_bucket_named_by_flags_pays_once_and_its_options_are_never_shown(
    tmp_path: Path, csv_input: Path, server: FakeServer, s3_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """--cache-dir s3://... with --cache-storage-option KEY=VALUE (JSON where it parses): a second output
    of the same job is filled from the bucket alone, and no option value is ever printed."""
    from embedframe._job import engine as _engine

    flags = ["--cache-dir", f"s3://{s3_server.new_bucket()}/vectors"]
    for key, value in s3_server.options.items():
        flags += ["--cache-storage-option", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    base = ["embed", csv_input, "-c", "text", "--base-url", server.url, "--api-key", API_KEY, *flags]
    code, _, first = cli(capsys, *base, "-o", tmp_path / "a.parquet")
    assert code == 0 and "0 cache hits" in first and server.requests
    server.reset()
    _engine._open_caches.clear()  # as a fresh process: nothing but the bucket
    code, _, again = cli(capsys, *base, "-o", tmp_path / "b.parquet")
    assert code == 0 and "0 requests, 3 cache hits" in again and server.requests == []
    a, b = read_parquet(tmp_path / "a.parquet"), read_parquet(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert "SECRET" not in first + again


def test_a_cache_in_a_bucket_named_by_the_environment_alone(
    tmp_path: Path, csv_input: Path, server: FakeServer, s3_server: Any
) -> None:
    """As an ETL job runs it: $EMBEDFRAME_CACHE_DIR=s3://... and fsspec's own $FSSPEC_S3 (endpoint,
    credentials); the second run of another output is served from the bucket."""
    env = {
        "EMBEDFRAME_CACHE_DIR": f"s3://{s3_server.new_bucket()}/vectors",
        "FSSPEC_S3": json.dumps(s3_server.options),
        "OPENAI_API_KEY": API_KEY,
    }
    outputs = []
    for name in ("a", "b"):
        proc = command(
            "embed",
            csv_input,
            "-c",
            "text",
            "-o",
            tmp_path / f"{name}.parquet",
            "--base-url",
            server.url,
            "--no-progress",
            env=env,
        )
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        outputs.append(stderr)
    assert "0 cache hits" in outputs[0] and "0 requests, 3 cache hits" in outputs[1]
    assert len(server.requests) == 1 and "SECRET" not in "".join(outputs)


def test_a_malformed_or_misplaced_cache_storage_option_exits_2_without_echoing_it(
    tmp_path: Path, csv_input: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """An option that is not KEY=VALUE, or one for a local cache, exits 2 with the fix and without the value."""
    base = ["embed", csv_input, "-c", "text", "-o", tmp_path / "out.parquet", "--base-url", server.url]
    code, _, stderr = cli(
        capsys, *base, "--cache-storage-option", "key=K", "--cache-storage-option", "S-SECRET"
    )
    assert code == 2 and "--cache-storage-option #2 must be KEY=VALUE" in stderr and "SECRET" not in stderr
    code, _, stderr = cli(capsys, *base, "--cache-storage-option", "secret=S-SECRET")
    assert code == 2 and "are for an fsspec URL cache (--cache-dir s3://bucket/path)" in stderr
    assert "SECRET" not in stderr and server.requests == []


def test_embed_drop_null_vectors_writes_only_rows_with_a_vector(
    tmp_path: Path, csv_input: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """--drop-null-vectors leaves the row without text out of the file (LanceDB refuses null vectors)."""
    out = tmp_path / "out.parquet"
    base = ["--base-url", server.url, "--api-key", API_KEY]
    code, _, _ = cli(capsys, "embed", csv_input, "-c", "text", "-o", out, *base, "--drop-null-vectors")
    back = read_parquet(out)
    assert code == 0 and back["id"].tolist() == ["1", "2", "4", "5"]
    assert back["text_embedding"].notna().all()


def test_embed_as_a_real_subprocess(tmp_path: Path, server: FakeServer) -> None:
    """`python -m embedframe.cli embed` with OPENAI_API_KEY writes a folder of parts and prints the summary, not the key."""
    src = tmp_path / "in.jsonl"
    pd.DataFrame({"id": range(5), "text": TEXTS}).to_json(src, orient="records", lines=True)
    out = tmp_path / "parts"
    proc = command(
        "embed",
        src,
        "-c",
        "text",
        "-o",
        out,
        "--base-url",
        server.url,
        "--no-cache",
        "--batch-rows",
        2,
        env={"OPENAI_API_KEY": API_KEY},
    )
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "embedded 5 rows" in stderr and "3 requests" in stderr and "cost $" in stderr
    assert API_KEY not in stdout + stderr
    assert sorted(p.name for p in out.glob("part-*.parquet")) == [f"part-0000{i}.parquet" for i in range(3)]
    assert pd.read_parquet(out)["id"].tolist() == list(range(5))


# ----------------------------------------------------------------------------------- estimate


def test_estimate_prints_tokens_requests_and_cost_without_sending(
    csv_input: Path, server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """estimate prints exact tokens, requests and cost (and the same as JSON); a run then sends that many requests."""
    base = ["--base-url", server.url, "--api-key", API_KEY, "--max-inputs-per-request", 2]
    code, stdout, _ = cli(capsys, "estimate", csv_input, "-c", "text", *base)
    assert code == 0
    total = sum(tokens(t) for t in DISTINCT)
    assert f"tokens to send   {total}" in stdout
    assert f"requests         {math.ceil(len(DISTINCT) / 2)}" in stdout
    assert f"estimated cost   ${total * 0.02 / 1e6:,.4f}" in stdout
    code, stdout, _ = cli(capsys, "estimate", csv_input, "-c", "text", *base, "--json")
    assert code == 0
    est = json.loads(stdout)
    assert est["tokens"] == total and est["requests"] == 2 and est["rows"] == 5
    assert (est["null_rows"], est["empty_rows"]) == (1, 0)  # an empty CSV field is null, as pandas reads it
    assert (est["duplicate_rows"], est["distinct_texts"]) == (1, 3)
    assert est["usd"] == pytest.approx(total * 0.02 / 1e6) and est["model"] == "text-embedding-3-small"
    assert server.requests == []
    code, _, _ = cli(capsys, "embed", csv_input, "-c", "text", "-o", tmp_path / "o.parquet", *base)
    assert code == 0 and len(server.requests) == est["requests"]
    code, stdout, _ = cli(capsys, "estimate", csv_input, "-c", "text", *base, "--json")
    assert json.loads(stdout)["cache_hits"] == 3 and json.loads(stdout)["requests"] == 0


# ------------------------------------------------------------------------------------ inspect


def test_inspect_prints_schema_provenance_rows_dimension_and_nulls(
    tmp_path: Path, csv_input: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """inspect shows rows, every column's type, the vector dimension and null count, and the provenance."""
    out = tmp_path / "out.parquet"
    base = ["--base-url", server.url, "--api-key", API_KEY, "--dtype", "id=int64", "--dtype", "stars=int64"]
    cli(capsys, "embed", csv_input, "-c", "text", "-o", out, *base)
    code, stdout, _ = cli(capsys, "inspect", out)
    assert code == 0
    assert f"{out}: 5 rows in 1 row group(s)" in stdout
    for line in (
        "  id: int64",
        "  stars: int64",
        f"  text_embedding: fixed_size_list<element: float>[{DIM}]",
    ):
        assert line in stdout
    assert f"vector column text_embedding: dimension {DIM}, 1 null(s)" in stdout
    assert "provenance:\n" in stdout
    for line in (
        "  model: text-embedding-3-small",
        f"  base_url_host: 127.0.0.1:{server.port}",
        "  source_column: text",
    ):
        assert line in stdout
    code, stdout, _ = cli(capsys, "inspect", out, "--json")
    info = json.loads(stdout)
    assert info["rows"] == 5 and info["vector_columns"] == {"text_embedding": {"dimension": DIM, "nulls": 1}}
    assert info["provenance"] == read_provenance(out) and info["columns"]["text"] in (
        "string",
        "large_string",
    )


# --------------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["embed", "{csv}", "-c", "txt", "-o", "{tmp}/o.parquet"], "no column 'txt'"),
        (["embed", "{tmp}/missing.csv", "-c", "text", "-o", "{tmp}/o.parquet"], "does not exist"),
        (
            ["embed", "{csv}", "-c", "text", "-o", "{tmp}/o.parquet", "--dimensions", "0"],
            "dimensions must be",
        ),
        (["estimate", "{csv}", "-c", "txt"], "no column 'txt'"),
        (["estimate", "{tmp}/missing.jsonl", "-c", "text"], "does not exist"),
        (["inspect", "{tmp}/missing.parquet"], "no file or folder"),
        (["inspect", "{csv}"], "not a readable Parquet file"),
    ],
    ids=[
        "embed-column",
        "embed-file",
        "embed-option",
        "estimate-column",
        "estimate-file",
        "inspect-file",
        "inspect-csv",
    ],
)
def test_bad_input_exits_2(
    tmp_path: Path,
    csv_input: Path,
    server: FakeServer,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    """A missing column or file, a bad option or a file that is not Parquet: exit 2 and one clear line, no traceback."""
    args = [a.format(csv=csv_input, tmp=tmp_path) for a in argv]
    if args[0] != "inspect":
        args += ["--base-url", server.url, "--api-key", API_KEY]
    code, stdout, stderr = cli(capsys, *args)
    assert code == 2 and stdout == ""
    assert stderr.startswith("embedframe: ") and message in stderr and "Traceback" not in stderr
    assert server.requests == []


@pytest.mark.parametrize(
    ("fault", "status"), [("401", "HTTP 401"), ("400", "HTTP 400"), ("429_quota", "HTTP 429")]
)
def test_api_error_exits_3(
    tmp_path: Path,
    csv_input: Path,
    server: FakeServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    status: str,
) -> None:
    """An error status the server will not change its mind about exits 3 with its message; the key from the env is not shown."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    server.inject(fault)
    code, _, stderr = cli(
        capsys, "embed", csv_input, "-c", "text", "-o", tmp_path / "o.parquet", "--base-url", server.url
    )
    assert code == 3 and stderr.startswith(f"embedframe: {status}") and "Traceback" not in stderr
    assert len(server.requests) == 1 and not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize(("fault", "resume"), [("401", False), ("404", False), ("500", True)])
def test_only_errors_a_rerun_can_get_past_advise_running_again(
    tmp_path: Path,
    csv_input: Path,
    server: FakeServer,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    resume: bool,
) -> None:
    """A wrong key or model does not end with "run the same command again" (it would fail the same
    way); a server that kept failing does."""
    server.inject(*[Fault(fault, retry_after="0")] * 7)  # a 500 every try, without waiting
    code, _, stderr = cli(
        capsys, "embed", csv_input, "-c", "text", "-o", tmp_path / "o.parquet",
        "--base-url", server.url, "--api-key", API_KEY,
    )  # fmt: skip
    assert code == 3 and f"HTTP {fault}" in stderr
    assert ("run the same command again" in stderr) is resume, stderr


def test_a_wrong_key_exits_3_without_printing_it(
    tmp_path: Path, csv_input: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key the server refuses gives exit 3, and the key given with --api-key is not in the output."""
    wrong = "sk-wrong-KEY-fedcba9876543210"
    code, stdout, stderr = cli(
        capsys,
        "embed",
        csv_input,
        "-c",
        "text",
        "-o",
        tmp_path / "o.parquet",
        "--base-url",
        server.url,
        "--api-key",
        wrong,
    )
    assert code == 3 and "HTTP 401" in stderr
    assert wrong not in stdout + stderr and wrong[8:] not in stdout + stderr


def test_a_retry_after_beyond_max_retry_wait_exits_4(
    tmp_path: Path, csv_input: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 429 asking to wait an hour stops the job at once with exit 4 and says when to run again."""
    server.inject(Fault("429", retry_after="3600"))
    started = time.monotonic()
    code, _, stderr = cli(
        capsys,
        "embed",
        csv_input,
        "-c",
        "text",
        "-o",
        tmp_path / "o.parquet",
        "--base-url",
        server.url,
        "--api-key",
        API_KEY,
    )
    assert code == 4 and time.monotonic() - started < 10
    assert "3600 s" in stderr and "run again after" in stderr and "run the same command again" in stderr


def test_ctrl_c_exits_130_and_the_same_command_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGINT mid-run exits 130 with a resume hint; the same command then finishes, paying only for what was not received."""
    src = tmp_path / "in.parquet"
    texts = [f"interrupted text {i}" for i in range(200)]
    pd.DataFrame({"text": texts}).to_parquet(src)
    out = tmp_path / "out.parquet"
    argv = [
        "embed",
        src,
        "-c",
        "text",
        "-o",
        out,
        "--max-inputs-per-request",
        2,
        "--concurrency",
        2,
        "--no-progress",
    ]
    with FakeServer(dim=DIM, latency_s=0.05, api_key=API_KEY) as server:
        proc = command(*argv, "--base-url", server.url, env={"OPENAI_API_KEY": API_KEY})
        deadline = time.monotonic() + 60
        while sum(r.status == 200 for r in list(server.requests)) < 10:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert (
            "interrupted" in stderr and "run the same command again" in stderr and "Traceback" not in stderr
        )
        assert API_KEY not in stdout + stderr and not out.exists()
        server.latency_s = 0.0
        before = len(server.requests)
        code, _, stderr = cli(capsys, *argv, "--base-url", server.url, "--api-key", API_KEY)
        assert code == 0 and out.exists()
        resent = len(server.requests) - before
        inputs = [t for r in server.requests if r.status == 200 for t in r.inputs]
    assert sorted(set(inputs)) == sorted(texts) and len(inputs) - len(set(inputs)) <= 2 * 2
    assert f" {resent} requests, " in stderr and resent <= 100 - 10 + 2
    assert np.array_equal(to_numpy(read_parquet(out)["text_embedding"]), embedframe_vectors(texts))


def embedframe_vectors(texts: list[str]) -> np.ndarray:
    return np.stack([vector_for_text(t, DIM) for t in texts])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version."""
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and embedframe.__version__ in capsys.readouterr().out


# ------------------------------------------------------------------------------------ reruns


@pytest.mark.parametrize("output", ["out.parquet", "out"], ids=["one-file", "folder"])
def test_rerunning_a_finished_job_exits_0_and_sends_nothing(
    tmp_path: Path, csv_input: Path, server: FakeServer, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    """The same embed command after it finished (as a scheduler reruns it): exit 0, 0 requests, the output untouched."""
    out = tmp_path / output
    argv = ["embed", csv_input, "-c", "text", "-o", out, "--base-url", server.url, "--api-key", API_KEY]
    assert cli(capsys, *argv, "--batch-rows", 2)[0] == 0
    files = sorted(out.rglob("*")) if out.is_dir() else [out]
    before = [(f.read_bytes(), f.stat().st_mtime_ns) for f in files]
    server.reset()
    code, stdout, stderr = cli(capsys, *argv, "--batch-rows", 2)
    assert code == 0 and stdout == "" and server.requests == []
    assert f"{out} already holds this job, finished (5 rows embedded with text-embedding-3-small)" in stderr
    assert [(f.read_bytes(), f.stat().st_mtime_ns) for f in files] == before
    code, _, stderr = cli(capsys, *argv, "--batch-rows", 2, "--dimensions", 8)
    assert code == 2 and "different job (changed: dimensions)" in stderr and "--overwrite" in stderr
    assert "overwrite=True" not in stderr and server.requests == []


def test_a_resume_under_another_model_is_refused(
    tmp_path: Path, server: FakeServer, config: embedframe.EmbedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Parts written with one model are never completed with another: exit 2 naming the change, nothing sent."""
    src = tmp_path / "in.parquet"
    pd.DataFrame({"text": [f"text {i}" for i in range(6)]}).to_parquet(src)
    out = tmp_path / "out.parquet"

    def stop(number: int, rows: int) -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        embedframe.embed_file(src, out, column="text", batch_rows=2, on_part=stop, config=config)
    server.reset()
    argv = [
        "embed",
        src,
        "-c",
        "text",
        "-o",
        out,
        "--batch-rows",
        2,
        "--base-url",
        server.url,
        "--api-key",
        API_KEY,
    ]
    code, _, stderr = cli(capsys, *argv, "--model", "text-embedding-3-large")
    assert code == 2
    assert (
        re.search(r"holds parts of a different job \(changed: [^)]*\bmodel\b", stderr)
        and "--overwrite" in stderr
    )
    assert server.requests == [] and (tmp_path / "out.parquet.parts" / "part-00000.parquet").exists()
    code, _, stderr = cli(capsys, *argv)  # the same job as the parts: it resumes
    assert code == 0 and "1 part already done" in stderr and len(server.requests) == 2  # parts 1 and 2


def test_a_local_model_job_resumed_with_a_server_in_the_environment_is_refused(
    tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job started with no key (the local model) and rerun with OPENAI_BASE_URL/OPENAI_API_KEY set is another job: refused, never mixed."""
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": [f"local text {i}" for i in range(6)]}).to_csv(src, index=False)
    out = tmp_path / "out.parquet"

    def stop(number: int, rows: int) -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        embedframe.embed_file(src, out, column="text", batch_rows=2, on_part=stop, progress=False)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    argv = ["embed", src, "-c", "text", "-o", out, "--batch-rows", 2, "--no-progress"]
    code, _, stderr = cli(capsys, *argv)
    assert code == 2 and re.search(r"different job \(changed: [^)]*\bmodel\b[^)]*\bserver\b", stderr)
    assert server.requests == []
    code, _, stderr = cli(capsys, *argv, "--overwrite")  # starting over is the way on: all from the server
    assert code == 0 and "0 parts already done" in stderr
    assert read_provenance(out)["model"] == "text-embedding-3-small" and len(server.ok_inputs()) == 6


# ------------------------------------------------------------------------------- input files


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "latin1.csv",
            "id,text\n1,café\n".encode("latin-1"),
            r"not valid utf-8 text at line 2 .*--encoding latin-1",
        ),
        ("fields.csv", b"id,text\n1,a\n2,b,c\n", r"line 3 has 3 fields where the header has 2"),
        ("broken.jsonl", b'{"text": "a"}\n{"text": \n', r"line 2 is not valid JSON"),
        ("zero.csv", b"", r"is empty \(0 bytes\)"),
        ("semi.csv", b"id;text\n1;a\n", r"no column 'text'.*';'-separated: pass --delimiter ';'"),
    ],
)
@pytest.mark.parametrize("command_name", ["embed", "estimate"])
def test_a_bad_input_file_exits_2_with_one_line_naming_the_file_line_and_fix(
    tmp_path: Path,
    server: FakeServer,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes,
    message: str,
    command_name: str,
) -> None:
    """Latin-1, too many fields, a broken JSON line, a zero-byte file, a ';' file: exit 2, one line, the file named, nothing left behind."""
    src = tmp_path / name
    src.write_bytes(content)
    extra = ["-o", tmp_path / "out.parquet"] if command_name == "embed" else []
    code, stdout, stderr = cli(capsys, command_name, src, "-c", "text", *extra, "--base-url", server.url)
    assert code == 2 and stdout == "" and "Traceback" not in stderr
    assert stderr.startswith("embedframe: ") and stderr.count("\n") == 1 and name in stderr
    assert re.search(message, stderr), stderr
    assert server.requests == [] and [p.name for p in tmp_path.iterdir() if p.name != "vector-cache"] == [
        name
    ]


def test_encoding_delimiter_and_dtype_options(
    tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """--encoding, --delimiter and --dtype read a Latin-1, ';'-separated file with a typed column; zips keep their zeros."""
    src = tmp_path / "in.csv"
    src.write_bytes("zip;stars;text\n01234;5;café\n00042;;thé\n".encode("latin-1"))
    out = tmp_path / "out.parquet"
    argv = ["--base-url", server.url, "--api-key", API_KEY, "--encoding", "latin-1", "--delimiter", ";"]
    code, _, stderr = cli(capsys, "embed", src, "-c", "text", "-o", out, *argv, "--dtype", "stars=Int64")
    assert code == 0, stderr
    back = pd.read_parquet(out)
    assert back["zip"].tolist() == ["01234", "00042"] and back["text"].tolist() == ["café", "thé"]
    assert back["stars"].tolist()[0] == 5 and pd.isna(back["stars"].tolist()[1])
    code, stdout, _ = cli(capsys, "estimate", src, "-c", "text", *argv, "--json")
    assert code == 0 and json.loads(stdout)["rows"] == 2


@pytest.mark.parametrize("output", ["out.parquet", "out"], ids=["one-file", "folder"])
def test_a_header_only_csv_writes_an_empty_output_and_exits_0(
    tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    """A header-only CSV (an empty daily extract) gives an empty output with every column and the vector column; exit 0."""
    src = tmp_path / "in.csv"
    src.write_text("id,text\n")
    out = tmp_path / output
    argv = ["--base-url", server.url, "--api-key", API_KEY, "--dimensions", DIM]
    code, _, stderr = cli(capsys, "embed", src, "-c", "text", "-o", out, *argv)
    assert code == 0 and "embedded 0 rows" in stderr and server.requests == []
    back = pd.read_parquet(out)
    assert len(back) == 0 and list(back.columns) == ["id", "text", "text_embedding"]


def test_inspect_reads_the_folder_embed_writes(
    tmp_path: Path, csv_input: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """inspect on a folder output: rows, files, row groups and nulls summed over the parts, the provenance shown."""
    out = tmp_path / "parts"
    base = ["--base-url", server.url, "--api-key", API_KEY, "--batch-rows", 2]
    assert cli(capsys, "embed", csv_input, "-c", "text", "-o", out, *base)[0] == 0
    code, stdout, _ = cli(capsys, "inspect", out)
    assert code == 0 and f"{out}: 5 rows in 3 file(s) in 3 row group(s)" in stdout
    assert f"vector column text_embedding: dimension {DIM}, 1 null(s)" in stdout
    assert "  model: text-embedding-3-small" in stdout
    code, stdout, _ = cli(capsys, "inspect", out, "--json")
    info = json.loads(stdout)
    assert (info["rows"], info["files"]) == (5, 3) and info["vector_columns"]["text_embedding"]["nulls"] == 1


# ---------------------------------------------------------------------------------- messages


def test_messages_speak_the_interface_in_use(
    tmp_path: Path,
    csv_input: Path,
    server: FakeServer,
    config: embedframe.EmbedConfig,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same refusal says overwrite=True to Python and --overwrite on the command line, never the other's words."""
    out = tmp_path / "out.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(out)
    with pytest.raises(embedframe.InputError) as err:
        embedframe.embed_file(csv_input, out, column="text", config=config)
    assert "overwrite=True" in str(err.value) and "--" not in str(err.value)
    code, _, stderr = cli(capsys, "embed", csv_input, "-c", "text", "-o", out, "--base-url", server.url)
    assert code == 2 and "pass --overwrite to replace it" in stderr and "overwrite=True" not in stderr


def test_for_cli_turns_python_options_into_flags() -> None:
    """Python option advice becomes the command's flags, quoted for a shell; other text is left alone."""
    from embedframe.cli import for_cli

    assert for_cli("pass overwrite=True to replace it") == "pass --overwrite to replace it"
    assert for_cli("pass delimiter=';'") == "pass --delimiter ';'"
    assert for_cli("pass delimiter='\\t'") == "pass --delimiter tab"
    assert for_cli("pass file_encoding='latin-1'") == "pass --encoding latin-1"
    assert for_cli("e.g. dtype={'code': 'str'}") == "e.g. --dtype code=str"
    assert for_cli("pass dimensions=... to get") == "pass --dimensions ... to get"
    assert for_cli("pass cache='s3://b/v'") == "pass --cache-dir s3://b/v"
    assert for_cli("or cache=False") == "or --no-cache"
    assert for_cli("the server said x=1 and model_x=2") == "the server said x=1 and model_x=2"


def test_estimate_json_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path, csv_input: Path) -> None:
    """`embedframe estimate ... --json | head` where the reader has gone: no BrokenPipeError traceback, the SIGPIPE status."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written: every write fails
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedframe.cli", "estimate", str(csv_input), "-c", "text", "--json"],
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": API_KEY},
    )
    os.close(write)
    _, stderr = proc.communicate(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr and "Exception ignored" not in stderr
    assert proc.returncode == 141, stderr


def test_serve_on_a_port_in_use_fails_at_once_before_loading_the_model() -> None:
    """`embedframe serve --port P` with P taken: exit 2 naming the port and --port, without loading the model."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = command("serve", "--port", port)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr
    assert f"cannot listen on 127.0.0.1:{port}" in stderr and "--port" in stderr and "port=" not in stderr
    assert "loading" not in stderr and "Traceback" not in stderr
