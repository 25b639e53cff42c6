"""The fake Files and Batches endpoints themselves: what the batch tests rely on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import API_KEY
from tests.support.fakebatch import FakeBatchAPI, batch_api
from tests.support.fakeserver import FakeServer


@pytest.fixture
def fake(server: FakeServer) -> Iterator[FakeBatchAPI]:
    api = batch_api(server)
    api.reset()
    api.queue_limit, api.queue_limit_at_create, api.refuse, api.run_s = None, False, {}, 0.15
    yield api
    api.reset()


@pytest.fixture
def client(server: FakeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {API_KEY}"}) as c:
        yield c


def jsonl(*inputs: list[str], model: str = "text-embedding-3-small") -> bytes:
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": model, "input": x},
        }
        for i, x in enumerate(inputs)
    ]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def upload(client: httpx.Client, content: bytes) -> str:
    r = client.post("/files", data={"purpose": "batch"}, files={"file": ("in.jsonl", content)})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def create(client: httpx.Client, file_id: str) -> dict[str, Any]:
    r = client.post(
        "/batches", json={"input_file_id": file_id, "endpoint": "/v1/embeddings", "completion_window": "24h"}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def follow(client: httpx.Client, batch_id: str, timeout: float = 10) -> list[str]:
    """Every status seen while polling, until a final one."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/batches/{batch_id}").json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("completed", "failed", "expired", "cancelled"):
            return seen
        time.sleep(0.005)
    raise AssertionError(f"batch {batch_id} did not end: {seen}")


def lines(client: httpx.Client, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    r = client.get(f"/files/{file_id}/content")
    return [json.loads(line) for line in r.content.splitlines() if line.strip()]


def test_a_batch_goes_through_its_states(client: httpx.Client, fake: FakeBatchAPI) -> None:
    """validating -> in_progress -> finalizing -> completed; output lines are 200s by custom_id,
    in random order, and the inputs are counted as submitted once."""
    inputs = [[f"text {i}"] for i in range(30)]
    batch = create(client, upload(client, jsonl(*inputs)))
    assert follow(client, batch["id"]) == ["validating", "in_progress", "finalizing", "completed"]
    done = client.get(f"/batches/{batch['id']}").json()
    assert done["request_counts"] == {"total": 30, "completed": 30, "failed": 0}
    out = lines(client, done["output_file_id"])
    assert sorted(line["custom_id"] for line in out) == sorted(f"r{i}" for i in range(30))
    assert [line["custom_id"] for line in out] != [f"r{i}" for i in range(30)]  # random order
    assert all(line["response"]["status_code"] == 200 for line in out)
    assert fake.submitted == {f"text {i}": 1 for i in range(30)}


def test_refused_lines_go_to_the_error_file(client: httpx.Client, fake: FakeBatchAPI) -> None:
    """A refused input's line is in the error file with its status and message."""
    fake.refuse = {"bad": "Invalid input."}
    batch = create(client, upload(client, jsonl(["good"], ["bad"])))
    follow(client, batch["id"])
    done = client.get(f"/batches/{batch['id']}").json()
    assert done["request_counts"]["failed"] == 1
    (error,) = lines(client, done["error_file_id"])
    assert error["custom_id"] == "r1" and error["response"]["status_code"] == 400
    assert error["response"]["body"]["error"]["message"] == "Invalid input."


def test_expired_and_failed(client: httpx.Client, fake: FakeBatchAPI) -> None:
    """A scripted expiry leaves batch_expired lines; a scripted failure gives the batch errors."""
    fake.script(expire_after=0.5)
    batch = create(client, upload(client, jsonl(*[[f"t{i}"] for i in range(10)])))
    assert follow(client, batch["id"])[-1] == "expired"
    done = client.get(f"/batches/{batch['id']}").json()
    assert len(lines(client, done["output_file_id"])) == 5
    assert {e["error"]["code"] for e in lines(client, done["error_file_id"])} == {"batch_expired"}
    fake.script(fail="Bad file.")
    batch = create(client, upload(client, jsonl(["x"])))
    assert follow(client, batch["id"]) == ["validating", "failed"]
    assert client.get(f"/batches/{batch['id']}").json()["errors"]["data"][0]["message"] == "Bad file."


def test_cancel(client: httpx.Client, fake: FakeBatchAPI) -> None:
    """cancel: cancelling -> cancelled; lines that ran are in the output file."""
    fake.run_s = 1.0
    batch = create(client, upload(client, jsonl(*[[f"t{i}"] for i in range(10)])))
    deadline = time.monotonic() + 5
    while client.get(f"/batches/{batch['id']}").json()["status"] != "in_progress":
        assert time.monotonic() < deadline
    time.sleep(0.3)
    assert client.post(f"/batches/{batch['id']}/cancel").json()["status"] == "cancelling"
    assert follow(client, batch["id"]) == ["cancelling", "cancelled"]
    done = client.get(f"/batches/{batch['id']}").json()
    assert 0 < done["request_counts"]["completed"] < 10


def test_enqueued_token_limit(client: httpx.Client, fake: FakeBatchAPI) -> None:
    """A batch that would pass the model's enqueued tokens fails with token_limit_exceeded
    (or is refused at create), and is not counted as submitted."""
    fake.run_s = 1.0
    fake.queue_limit = 8
    first = create(client, upload(client, jsonl(["one two three"], ["four five six"])))
    deadline = time.monotonic() + 5
    while client.get(f"/batches/{first['id']}").json()["status"] != "in_progress":
        assert time.monotonic() < deadline
    second = create(client, upload(client, jsonl(["seven eight nine ten"])))
    assert follow(client, second["id"]) == ["validating", "failed"]
    assert (
        client.get(f"/batches/{second['id']}").json()["errors"]["data"][0]["code"] == "token_limit_exceeded"
    )
    fake.queue_limit_at_create = True
    r = client.post(
        "/batches",
        json={
            "input_file_id": upload(client, jsonl(["a b c d e"])),
            "endpoint": "/v1/embeddings",
            "completion_window": "24h",
        },
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "token_limit_exceeded"
    assert "seven eight nine ten" not in fake.submitted


def test_files_list_delete_and_batches_list(client: httpx.Client, fake: FakeBatchAPI) -> None:
    """Files are listed by purpose and deleted (404 after); batches list newest first, paged."""
    ids = [create(client, upload(client, jsonl([f"x{i}"])))["id"] for i in range(3)]
    page = client.get("/batches", params={"limit": 2}).json()
    assert [b["id"] for b in page["data"]] == ids[::-1][:2] and page["has_more"]
    rest = client.get("/batches", params={"limit": 2, "after": page["data"][-1]["id"]}).json()
    assert [b["id"] for b in rest["data"]] == [ids[0]] and not rest["has_more"]
    files = client.get("/files", params={"purpose": "batch"}).json()["data"]
    assert len(files) == 3 and all(f["filename"] == "in.jsonl" for f in files)
    assert client.delete(f"/files/{files[0]['id']}").json()["deleted"] is True
    assert client.delete(f"/files/{files[0]['id']}").status_code == 404
    assert httpx.get(str(client.base_url).rstrip("/") + "/batches").status_code == 401  # the key is checked
