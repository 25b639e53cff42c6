"""Batch mode: the Batch API flow against the fake Files/Batches endpoints, durability under
SIGKILL at every step, expired, failed and cancelled batches, error lines, the queue limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import BatchError, BatchOptions, ConfigError, EmbedConfig, to_numpy
from embedframe._core.batchfile import parse_custom_id
from tests.support import API_KEY, DIM
from tests.support.fakebatch import FakeBatchAPI, batch_api
from tests.support.fakeserver import FakeServer, vector_for_text

ROOT = Path(__file__).resolve().parents[2]
FAST = BatchOptions(poll_interval=0.02, max_poll_interval=0.05)


@pytest.fixture
def fake(server: FakeServer) -> Iterator[FakeBatchAPI]:
    """The session server's batch endpoints, fresh for this test."""
    api = batch_api(server)
    api.reset()
    api.queue_limit, api.queue_limit_at_create, api.refuse = None, False, {}
    api.run_s = 0.15
    yield api
    api.reset()


def frame(n: int = 40) -> pd.DataFrame:
    texts: list[str | None] = [f"review number {i} of the shop" for i in range(n)]
    texts += [texts[0], texts[1], None, ""]  # duplicates, a null and an empty string
    return pd.DataFrame({"text": texts, "id": range(len(texts))}, index=[f"r{i}" for i in range(len(texts))])


def distinct(df: pd.DataFrame) -> set[str]:
    return {t for t in df["text"] if isinstance(t, str) and t}


def check_vectors(out: pd.DataFrame, df: pd.DataFrame, column: str = "text_embedding") -> None:
    vectors = to_numpy(out[column])
    for i, text in enumerate(df["text"]):
        if isinstance(text, str) and text:
            assert np.allclose(vectors[i], vector_for_text(text, DIM), atol=1e-6), f"row {i}"
        else:
            assert out[column].isna().iloc[i]


def opts(config: EmbedConfig, **changes: object) -> dict[str, object]:
    """The config's options for submit (plus changes): small requests, so a job has many lines."""
    base: dict[str, object] = {"base_url": config.base_url, "api_key": API_KEY, "progress": False}
    base["max_inputs_per_request"] = 4
    base.update(changes)
    return base


def test_full_flow(server: FakeServer, fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """Submit, wait, result: right vectors in the right rows, each distinct text submitted once,
    files within the per-batch limit, uploaded files deleted, provenance says batch."""
    df = frame()
    job = df.embed.submit("text", batch=BatchOptions(poll_interval=0.02, max_batch_inputs=12), **opts(config))
    assert job.id.startswith("ejob_")
    status = job.wait()
    assert status.state == "completed" and status.requests_done == status.requests
    out = job.result()
    check_vectors(out, df)
    assert out.index.equals(df.index) and list(out["id"]) == list(df["id"])
    assert fake.submitted == Counter(dict.fromkeys(distinct(df), 1))
    assert len(fake.created) == len(status.batches) >= 4  # 40 inputs, at most 12 a batch
    assert all(b["inputs"] <= 12 for b in status.batches)
    assert fake.batch_files() == []  # inputs, outputs and error files cleaned up
    assert server.ok_inputs() == []  # nothing went online
    record = out.attrs["embedframe_provenance"]["text_embedding"]
    assert record["api"] == "batch" and record["batch_job"] == job.id and record["online_requests"] == 0
    assert status.usd is not None and status.online_usd is not None
    assert status.usd == pytest.approx(status.online_usd / 2)
    summary = out.attrs["embedframe"]["batch"]
    assert (
        summary["job_id"] == job.id
        and summary["inputs"] == len(distinct(df))
        and summary["state"] == "completed"
    )


def test_custom_id_carries_the_content_keys(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """Every line's custom_id names the job, the request and a digest of its inputs' cache keys."""
    df = frame(10)
    job = embedframe.submit(df, "text", batch=FAST, **opts(config))
    files = [f for f in fake.files.values() if f.purpose == "batch"]
    lines = [json.loads(line) for f in files for line in f.content.splitlines()]
    assert lines and all(line["url"] == "/v1/embeddings" and line["method"] == "POST" for line in lines)
    ids = [parse_custom_id(line["custom_id"]) for line in lines]
    assert {c.job_id for c in ids} == {job.id}
    assert sorted(c.request for c in ids) == list(range(len(lines)))
    assert all(line["body"]["encoding_format"] == "base64" for line in lines)
    assert sum(len(line["body"]["input"]) for line in lines) == len(distinct(df))
    job.wait()


def test_cached_texts_and_duplicates_are_not_submitted(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """Texts already in the cache are left out; a text on many rows is sent once."""
    df = frame(12)
    embedframe.embed_column(df.iloc[:5], "text", config=config)  # online: rows 0-4 cached
    job = embedframe.submit(df, "text", batch=FAST, **opts(config))
    job.wait()
    assert set(fake.submitted) == distinct(df) - set(df["text"].iloc[:5])
    assert all(n == 1 for n in fake.submitted.values())
    assert job.status().cached == 5
    check_vectors(job.result(), df)


def test_submitting_the_same_frame_again_resumes(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """The same frame submitted twice is one job: no second batch, no second payment."""
    df = frame(10)
    first = embedframe.submit(df, "text", batch=FAST, **opts(config))
    created = list(fake.created)
    second = embedframe.submit(df, "text", batch=FAST, **opts(config))
    assert second.id == first.id and fake.created == created
    second.wait()
    assert all(n == 1 for n in fake.submitted.values())


def test_blocking_accessor(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """df.embed('text', batch=...) submits, waits and returns the frame with its vectors."""
    df = frame(8)
    out = df.embed("text", batch=FAST, **opts(config))
    check_vectors(out, df)


def test_expired_batch_sends_its_unfinished_lines_again(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """An expired batch's finished lines are kept and only its unfinished ones go in a new batch."""
    df = frame(24)
    fake.script(expire_after=0.5)
    job = embedframe.submit(df, "text", batch=FAST, **opts(config))
    status = job.wait()
    assert status.state == "completed"
    assert len(fake.created) == 2
    assert fake.embedded == Counter(dict.fromkeys(distinct(df), 1))  # nothing run twice
    check_vectors(job.result(), df)
    assert fake.batch_files() == []


def test_expiring_too_often_is_reported(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """Lines still unfinished after max_resubmits expiries are reported, per row with details."""
    df = frame(8)
    fake.script(expire_after=0.5)
    fake.script(expire_after=0.0)
    job = embedframe.submit(
        df, "text", details=True, batch=BatchOptions(poll_interval=0.02, max_resubmits=1), **opts(config)
    )
    status = job.wait()
    assert status.state == "failed"
    out = job.result()
    lost = out["text_status"].str.startswith("error: not embedded: the batch expired")
    assert 0 < lost.sum() < len(df) and out["text_embedding"][lost].isna().all()
    check_vectors(out[~lost], df[~lost])


def test_failed_batch_reports_the_servers_errors(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """A batch failed in validation: status and result say the server's error; nothing is online."""
    df = frame(6)
    fake.script(fail="The model in line 1 is not available for batch.")
    job = embedframe.submit(df, "text", batch=FAST, **opts(config))
    status = job.wait()
    assert status.state == "failed"
    assert any("not available for batch" in e for e in status.errors)
    with pytest.raises(BatchError, match="not available for batch"):
        job.result()


def test_failed_batch_with_details_gives_null_rows(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """With details=True the rows of a failed batch are null with the reason in <column>_status."""
    df = frame(6)
    fake.script(fail="Quota for batch exhausted.")
    job = embedframe.submit(df, "text", details=True, batch=FAST, **opts(config))
    job.wait()
    out = job.result()
    has_text = df["text"].map(lambda t: isinstance(t, str) and bool(t))
    assert out["text_embedding"].isna().all()
    assert out["text_status"][has_text].str.contains("Quota for batch exhausted").all()
    assert list(out["text"]) == list(df["text"])


def test_error_lines_are_retried_online(server: FakeServer, fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """A line in the error file is sent online at result time, and only that line's inputs."""
    df = frame(12)
    bad = df["text"].iloc[3]
    fake.refuse = {bad: "Transient failure while embedding."}
    job = embedframe.submit(
        df,
        "text",
        batch=FAST,
        max_inputs_per_request=1,
        **{k: v for k, v in opts(config).items() if k != "max_inputs_per_request"},
    )
    status = job.wait()
    assert status.state == "completed_with_errors" and status.requests_failed == 1
    assert any("Transient failure" in e for e in status.errors)
    out = job.result()
    check_vectors(out, df)
    assert server.ok_inputs() == [bad]
    assert out.attrs["embedframe_provenance"]["text_embedding"]["online_requests"] == 1


def test_error_lines_refused_online_too_are_reported_with_details(
    server: FakeServer, fake: FakeBatchAPI, config: EmbedConfig
) -> None:
    """A line refused by the batch and again online is a null row with the server's message."""
    df = frame(6)
    bad = df["text"].iloc[2]
    fake.refuse = {bad: "Invalid input."}
    job = embedframe.submit(
        df, "text", details=True, batch=FAST, **{**opts(config), "max_inputs_per_request": 1}
    )
    job.wait()
    server.inject("400")
    out = job.result()
    row = int(np.flatnonzero(df["text"] == bad)[0])
    assert out["text_status"].iloc[row].startswith("error: refused by the server")
    assert out["text_embedding"].isna().iloc[row]
    keep = out["text_status"] == "ok"
    check_vectors(out[keep], df[keep])


def test_cancel(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """cancel() stops the batches and submits nothing more; result() says so, details gives what ran."""
    fake.run_s = 5.0
    df = frame(20)
    job = embedframe.submit(
        df, "text", details=True, batch=BatchOptions(poll_interval=0.02, max_batch_inputs=8), **opts(config)
    )
    created = len(fake.created)
    time.sleep(0.3)
    job.status()
    status = job.cancel()
    assert status.state in ("cancelling", "cancelled")
    status = job.wait()
    assert status.state == "cancelled" and len(fake.created) == created
    assert all(fake.batches[b].status == "cancelled" for b in fake.created)
    out = job.result()
    lost = out["text_status"].str.contains("cancelled")
    assert lost.any()
    ran = ~lost & (out["text_status"] == "ok")
    check_vectors(out[ran], df[ran])
    assert fake.batch_files() == []
    # a new submit of the same frame is a new job that sends only what is missing
    again = embedframe.submit(df, "text", details=True, batch=FAST, **opts(config))
    assert again.id != job.id


def test_queue_limit_failures_submit_fewer_batches(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """Batches failed for the enqueued-token limit are made again when running ones finish."""
    df = frame(30)
    fake.queue_limit = 160  # about two of the 12-input batches at once
    job = embedframe.submit(
        df, "text", batch=BatchOptions(poll_interval=0.02, max_batch_inputs=12), **opts(config)
    )
    status = job.wait(timeout=60)
    assert status.state == "completed"
    assert fake.submitted == Counter(dict.fromkeys(distinct(df), 1))
    refused = [
        b for b in fake.batches.values() if b.error_data and b.error_data[0]["code"] == "token_limit_exceeded"
    ]
    assert refused  # the limit was hit, and handled
    check_vectors(job.result(), df)


def test_queue_limit_refused_at_create(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """A token_limit_exceeded error at create queues the rest; a batch alone over the limit is split."""
    df = frame(30)
    fake.queue_limit, fake.queue_limit_at_create = 100, True
    job = embedframe.submit(
        df, "text", batch=BatchOptions(poll_interval=0.02, max_batch_inputs=30), **opts(config)
    )
    status = job.wait(timeout=60)
    assert status.state == "completed" and fake.refused_at_create >= 1
    assert len(status.batches) > 1  # split to fit the queue
    assert fake.submitted == Counter(dict.fromkeys(distinct(df), 1))
    check_vectors(job.result(), df)


def test_unsupported_setups_say_so(tmp_path: Path) -> None:
    """Azure, no server (local model), no cache and a URL cache: a clear ConfigError each."""
    df = frame(2)
    with pytest.raises(ConfigError, match="Azure OpenAI"):
        embedframe.submit(
            df, "text", base_url="https://x.openai.azure.com/openai/deployments/d", api_key="k" * 10
        )
    with pytest.raises(ConfigError, match="Batch API"):
        embedframe.submit(df, "text")
    with pytest.raises(ConfigError, match="vector cache"):
        embedframe.submit(df, "text", api_key="k" * 10, cache=False)
    with pytest.raises(ConfigError, match="local"):
        embedframe.submit(df, "text", api_key="k" * 10, cache="memory://somewhere")
    with pytest.raises(ConfigError, match="no batch job"):
        embedframe.batch_job("ejob_missing", api_key="k" * 10)


def test_result_before_the_end_is_refused(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """result() on a running job raises BatchError saying to wait; wait(timeout) raises TimeoutError."""
    fake.run_s = 5.0
    job = embedframe.submit(frame(4), "text", **opts(config))
    with pytest.raises(BatchError, match="wait"):
        job.result()
    with pytest.raises(TimeoutError, match="still in_progress"):
        job.wait(timeout=0.1)
    job.cancel()


def test_state_holds_no_secret(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """Neither the job's state nor its files hold the API key."""
    job = embedframe.submit(frame(4), "text", batch=FAST, **opts(config))
    job.wait()
    folder = Path(os.environ["EMBEDFRAME_CACHE_DIR"]) / "batches" / job.id
    for path in folder.iterdir():
        assert API_KEY.encode() not in path.read_bytes(), path.name
    assert API_KEY not in repr(job) and API_KEY not in str(job.status())


def test_estimate_shows_the_batch_price(config: EmbedConfig) -> None:
    """estimate() gives the batch price, half the online one, beside it."""
    est = embedframe.estimate(["some text", "more text"], api_key=API_KEY, base_url=config.base_url)
    assert est.usd is not None and est.batch_usd == pytest.approx(est.usd / 2)
    assert "batch" in str(est)


# --------------------------------------------------------------------------- crashes

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import pandas as pd
    import embedframe
    from embedframe import BatchOptions
    from embedframe._wire.batchapi import BatchAPI
    from embedframe.cache import VectorCache

    url, step, key, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def wrap(name, before=False, after=False, nth=1):
        original = getattr(BatchAPI, name)
        calls = [0]

        async def patched(self, *args, **kwargs):
            calls[0] += 1
            if before and calls[0] >= nth:
                die()
            result = await original(self, *args, **kwargs)
            if after and calls[0] >= nth:
                die()
            return result

        setattr(BatchAPI, name, patched)

    if step == "before_upload":
        wrap("upload", before=True)
    elif step == "after_upload":
        wrap("upload", after=True, nth=2)
    elif step == "after_create":
        wrap("create", after=True, nth=2)
    elif step == "polling":
        wrap("get", before=True)
    elif step == "mid_download":
        original_put = VectorCache.put
        puts = [0]

        def put(self, keys, vectors):
            puts[0] += 1
            if puts[0] == 2:
                die()
            return original_put(self, keys, vectors)

        VectorCache.put = put
    elif step == "before_cleanup":
        wrap("delete_file", before=True)
    elif step == "cancel":
        wrap("cancel", before=True)
    elif step != "none":
        raise SystemExit(f"unknown step {step}")

    texts = [f"review number {i} of the shop" for i in range(n)] + ["review number 0 of the shop", None]
    df = pd.DataFrame({"text": texts})
    options = BatchOptions(poll_interval=0.02, max_poll_interval=0.05, max_batch_inputs=8)
    if step == "cancel":  # cancel a job by id (killed before the first batch is cancelled)
        embedframe.batch_job(sys.argv[5], base_url=url, api_key=key, batch=options).cancel()
        raise SystemExit(0)
    if step == "none" and len(sys.argv) > 5:  # collect a job by id, write the result
        job = embedframe.batch_job(sys.argv[5], base_url=url, api_key=key, batch=options)
        job.wait()
        job.result().embed.to_parquet(sys.argv[6])
        raise SystemExit(0)
    job = embedframe.submit(df, "text", base_url=url, api_key=key, batch=options, progress=False,
                            max_inputs_per_request=3)
    print(job.id, flush=True)
    job.wait()
    print("done", flush=True)
    """
)


def run_child(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


STEPS = ["before_upload", "after_upload", "after_create", "polling", "mid_download", "before_cleanup"]


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_then_resume_by_id(fake: FakeBatchAPI, config: EmbedConfig, step: str) -> None:
    """A process killed at any step resumes by id: no text submitted twice, no batch made twice,
    every vector right, every file cleaned up."""
    n = 20
    child = run_child(config.base_url, step, API_KEY, n)
    assert child.returncode == -9, child.stderr[-2000:]
    jobs = list((Path(os.environ["EMBEDFRAME_CACHE_DIR"]) / "batches").iterdir())
    assert len(jobs) == 1
    made = list(fake.created)
    job = embedframe.batch_job(
        jobs[0].name, base_url=config.base_url, api_key=API_KEY, batch=FAST, progress=False
    )
    status = job.wait(timeout=60)
    assert status.state == "completed"
    texts = {f"review number {i} of the shop" for i in range(n)}
    assert fake.submitted == Counter(dict.fromkeys(texts, 1))
    assert fake.embedded == Counter(dict.fromkeys(texts, 1))
    assert len(fake.created) == len(status.batches)  # no batch made twice
    assert set(made) <= set(fake.created)
    out = job.result()
    vectors = to_numpy(out["text_embedding"])
    for i, text in enumerate(out["text"]):
        if isinstance(text, str):
            assert np.allclose(vectors[i], vector_for_text(text, DIM), atol=1e-6)
    assert fake.batch_files() == []


def test_two_processes_collecting_the_same_job(
    fake: FakeBatchAPI, config: EmbedConfig, tmp_path: Path
) -> None:
    """Two processes waiting on and collecting one job at once take turns: each output file is
    downloaded once and both write the same result."""
    df = pd.DataFrame(
        {
            "text": [f"review number {i} of the shop" for i in range(20)]
            + ["review number 0 of the shop", None]
        }
    )
    options = BatchOptions(poll_interval=0.02, max_poll_interval=0.05, max_batch_inputs=8)
    job = embedframe.submit(df, "text", batch=options, **{**opts(config), "max_inputs_per_request": 3})
    time.sleep(0.4)  # let the fake finish the batches: both children find them ready to collect
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outs = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(config.base_url), "none", API_KEY, "20", job.id, str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outs
    ]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
    a, b = (embedframe.read_parquet(p) for p in outs)
    assert np.array_equal(to_numpy(a["text_embedding"]), to_numpy(b["text_embedding"]), equal_nan=True)
    outputs = [fake.batches[i].output_file_id for i in fake.created]
    assert all(fake.downloads[o] == 1 for o in outputs)
    assert fake.submitted == Counter(dict.fromkeys(distinct(df), 1))


def test_a_job_with_everything_cached_sends_nothing(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """When the cache holds every text, the job has no batch and its result is there at once."""
    df = frame(6)
    embedframe.embed_column(df, "text", config=config)
    job = embedframe.submit(df, "text", batch=FAST, **opts(config))
    status = job.status()
    assert status.state == "completed" and status.batches == () and status.cached == len(distinct(df))
    assert fake.created == [] and fake.uploads == 0
    check_vectors(job.result(), df)


def test_a_line_that_does_not_match_its_inputs_is_refused(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """An output line whose custom_id names other inputs than the ones on record is refused:
    a ResponseError, and none of its vectors reach the cache under the wrong text."""
    df = frame(8)
    job = embedframe.submit(df, "text", batch=FAST, **opts(config))
    (batch,) = (fake.batches[b] for b in fake.created)
    deadline = time.monotonic() + 10
    while fake.route("GET", f"/v1/batches/{batch.id}", {}, b"", "")[1]["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    output = fake.files[str(batch.output_file_id)]
    lines = [json.loads(line) for line in output.content.splitlines()]
    first, second = lines[0]["custom_id"], lines[1]["custom_id"]
    job_id, request, _ = first.split(":")
    lines[0]["custom_id"] = f"{job_id}:{request}:{second.split(':')[2]}"  # another request's digest
    output.content = b"\n".join(json.dumps(line).encode() for line in lines) + b"\n"
    with pytest.raises(embedframe.ResponseError, match="does not match the inputs"):
        job.status()


def test_batch_limits_below_the_request_limits_make_smaller_requests(
    fake: FakeBatchAPI, config: EmbedConfig
) -> None:
    """max_batch_inputs below the per-request limit makes requests that fit a batch; a token cap
    below one input's limit is refused before anything is sent."""
    df = frame(10)
    job = embedframe.submit(
        df,
        "text",
        batch=BatchOptions(poll_interval=0.02, max_batch_inputs=3),
        **{**opts(config), "max_inputs_per_request": 2048},
    )
    status = job.wait()
    assert status.state == "completed" and all(b["inputs"] <= 3 for b in status.batches)
    check_vectors(job.result(), df)
    with pytest.raises(ConfigError, match="max_batch_tokens=100"):
        embedframe.submit(df, "text", batch=BatchOptions(max_batch_tokens=100), **opts(config))
    assert len(fake.created) == len(status.batches)


def test_remove(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """remove() deletes a finished job's folder (not a running one's); its vectors stay cached."""
    fake.run_s = 5.0
    df = frame(4)
    job = embedframe.submit(df, "text", batch=FAST, **opts(config))
    with pytest.raises(BatchError, match="still running"):
        job.remove()
    fake.run_s = 0.0
    job.wait()
    folder = Path(os.environ["EMBEDFRAME_CACHE_DIR"]) / "batches" / job.id
    assert folder.is_dir()
    job.remove()
    assert not folder.exists()
    with pytest.raises(ConfigError, match="no batch job"):
        embedframe.batch_job(job.id, **opts(config))
    check_vectors(embedframe.embed_column(df, "text", **opts(config)), df)  # from the cache


def test_sigkill_while_cancelling_then_resume(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """A process killed after recording a cancel but before telling the server: the next
    status() cancels the batches, and nothing more is submitted."""
    fake.run_s = 5.0
    df = frame(20)
    job = embedframe.submit(
        df, "text", batch=BatchOptions(poll_interval=0.02, max_batch_inputs=8), **opts(config)
    )
    created = list(fake.created)
    child = run_child(config.base_url, "cancel", API_KEY, 0, job.id)
    assert child.returncode == -9, child.stderr[-2000:]
    assert all(fake.batches[b].status != "cancelling" for b in created)  # the server heard nothing
    status = job.wait(timeout=30)
    assert status.state == "cancelled" and fake.created == created
    assert all(fake.batches[b].status == "cancelled" for b in created)


def test_a_broken_answer_line_is_sent_again_online(
    server: FakeServer, fake: FakeBatchAPI, config: EmbedConfig
) -> None:
    """An output line whose body breaks the contract (a vector missing) is not stored: its
    inputs are sent online by result(), and every row gets its own vector."""
    df = frame(8)
    job = embedframe.submit(df, "text", batch=FAST, **opts(config))
    (batch,) = (fake.batches[b] for b in fake.created)
    deadline = time.monotonic() + 10
    while fake.route("GET", f"/v1/batches/{batch.id}", {}, b"", "")[1]["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    output = fake.files[str(batch.output_file_id)]
    lines = [json.loads(line) for line in output.content.splitlines()]
    broken = lines[0]["response"]["body"]["data"].pop()
    output.content = b"\n".join(json.dumps(line).encode() for line in lines) + b"\n"
    status = job.wait()
    assert status.state == "completed_with_errors" and any("broken answer" in e for e in status.errors)
    check_vectors(job.result(), df)
    assert len(server.ok_inputs()) == len(lines[0]["response"]["body"]["data"]) + 1  # that line only
    assert broken["object"] == "embedding"


def test_a_failure_at_submit_names_the_job_to_resume(
    server: FakeServer, fake: FakeBatchAPI, config: EmbedConfig
) -> None:
    """An error while submitting says which job is recorded; submitting again goes on from there."""
    df = frame(6)
    with pytest.raises(embedframe.AuthenticationError) as caught:
        embedframe.submit(df, "text", batch=FAST, **{**opts(config), "api_key": "sk-wrong-key-000000"})
    job_id = caught.value.__notes__[0].split()[2]
    assert job_id.startswith("ejob_") and fake.uploads == 0
    job = embedframe.submit(df, "text", batch=FAST, **opts(config))
    assert job.id == job_id and job.wait().state == "completed"


def test_chunked_texts_and_bad_rows_as_online(
    fake: FakeBatchAPI, config: EmbedConfig, tmp_path: Path
) -> None:
    """Long texts are chunked and put back together, and bad rows reported, exactly as online."""
    long = " ".join(f"word{i}" for i in range(200))
    df = pd.DataFrame({"text": ["short one", long, 42, None, "short one"]})
    batch = embedframe.submit(
        df, "text", details=True, batch=FAST, **{**opts(config), "max_input_tokens": 64}
    )
    batch.wait()
    got = batch.result()
    online = embedframe.embed_column(
        df, "text", details=True, config=config.replace(max_input_tokens=64, cache=str(tmp_path / "online"))
    )
    assert got["text_chunks"].tolist() == online["text_chunks"].tolist() and got["text_chunks"][1] > 1
    assert got["text_status"].tolist() == online["text_status"].tolist()
    assert np.allclose(
        to_numpy(got["text_embedding"]), to_numpy(online["text_embedding"]), atol=1e-6, equal_nan=True
    )


def test_lines_embedded_meanwhile_are_not_sent_again(fake: FakeBatchAPI, config: EmbedConfig) -> None:
    """Unfinished lines of an expired batch whose texts reached the cache meanwhile (online, say)
    are not sent again."""
    df = frame(24)
    fake.script(expire_after=0.5)  # requests 0-2 of 6 run: texts 0-11
    job = embedframe.submit(df, "text", batch=FAST, **opts(config))
    embedframe.embed_column(df.iloc[12:24], "text", config=config)
    status = job.wait()
    assert status.state == "completed" and len(fake.created) == 1
    check_vectors(job.result(), df)
