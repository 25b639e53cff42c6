"""`embedframe batch submit|status|collect|cancel` against the fake Batch API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embedframe import read_parquet, read_provenance, to_numpy
from embedframe.batch_cli import EXIT_NOT_DONE
from embedframe.cli import main
from tests.support import API_KEY, DIM
from tests.support.fakebatch import FakeBatchAPI, batch_api
from tests.support.fakeserver import FakeServer, vector_for_text

TEXTS = [f"line {i} of the input file" for i in range(12)] + ["line 0 of the input file", None]


@pytest.fixture
def fake(server: FakeServer) -> Iterator[FakeBatchAPI]:
    api = batch_api(server)
    api.reset()
    api.queue_limit, api.queue_limit_at_create, api.refuse, api.run_s = None, False, {}, 0.15
    yield api
    api.reset()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.parquet"
    pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS}).to_parquet(path)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_submit_status_collect(
    capsys: pytest.CaptureFixture[str], server: FakeServer, fake: FakeBatchAPI, source: Path, tmp_path: Path
) -> None:
    """submit prints the id and exits 0; collect exits 5 while batches run, then writes the
    Parquet file with the right vectors and batch provenance; status prints counts and cost."""
    target = tmp_path / "out.parquet"
    wire = ("--base-url", server.url, "--api-key", API_KEY)
    code, out, err = run(
        capsys,
        "batch",
        "submit",
        str(source),
        "-c",
        "text",
        "-o",
        str(target),
        *wire,
        "--max-inputs-per-request",
        "3",
    )
    assert code == 0, err
    job_id = out.strip()
    assert job_id.startswith("ejob_") and "\n" not in job_id
    assert API_KEY not in out + err
    code, out, err = run(capsys, "batch", "collect", job_id, *wire)
    assert code == EXIT_NOT_DONE and "still" in err and not target.exists()
    code, out, err = run(capsys, "batch", "collect", job_id, *wire, "--wait", "--poll", "0.02")
    assert code == 0, err
    frame = read_parquet(target)
    vectors = to_numpy(frame["text_embedding"])
    for i, text in enumerate(TEXTS):
        if text is None:
            assert frame["text_embedding"].isna().iloc[i]
        else:
            assert np.allclose(vectors[i], vector_for_text(text, DIM), atol=1e-6)
    provenance = read_provenance(target)
    assert provenance["api"] == "batch" and provenance["batch_job"] == job_id
    code, out, err = run(capsys, "batch", "status", job_id, *wire, "--json")
    status = json.loads(out)
    assert code == 0 and status["state"] == "completed" and status["requests_done"] == status["requests"]
    assert status["usd"] == pytest.approx(status["online_usd"] / 2)
    assert fake.batch_files() == []


def test_cancel(
    capsys: pytest.CaptureFixture[str], server: FakeServer, fake: FakeBatchAPI, source: Path, tmp_path: Path
) -> None:
    """cancel stops the job; collect then fails with a message that names what was lost."""
    fake.run_s = 5.0
    wire = ("--base-url", server.url, "--api-key", API_KEY)
    code, out, _ = run(
        capsys, "batch", "submit", str(source), "-c", "text", "-o", str(tmp_path / "o.parquet"), *wire
    )
    job_id = out.strip()
    code, out, err = run(capsys, "batch", "cancel", job_id, *wire)
    assert code == 0 and ("cancelling" in out or "cancelled" in out)
    code, out, err = run(capsys, "batch", "collect", job_id, *wire, "--wait", "--poll", "0.02")
    assert code == 3 and "cancelled" in err and "details" in err


def test_unknown_job(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    """A job id that is not there: exit 2 with a message that says which cache was searched."""
    code, _, err = run(
        capsys, "batch", "status", "ejob_nothere", "--base-url", server.url, "--api-key", API_KEY
    )
    assert code == 2 and "no batch job 'ejob_nothere'" in err
