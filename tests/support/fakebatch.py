"""OpenAI's Files and Batches endpoints for the fake server, with accelerated time.

Served by :class:`tests.support.fakeserver.FakeServer` on the same port (routes
``/v1/files`` and ``/v1/batches``); get the state of a server's batch API with
:func:`batch_api`::

    with FakeServer(dim=8) as server:
        fake = batch_api(server)
        fake.queue_limit = 500            # enqueued tokens per model
        fake.script(expire_after=0.5)     # the next batch expires with half its lines run
        ...
        assert fake.submitted == Counter({...})   # texts in batches accepted (billed)

A batch goes ``validating`` -> ``in_progress`` -> ``finalizing`` -> ``completed`` over
``validate_s + run_s + finalize_s`` real seconds (the 24 h window is ``window_s`` real
seconds), its lines run progressively while ``in_progress``; or ``failed`` (the file breaks
a rule, or the model's enqueued-token limit is reached), ``expired`` (a script), or
``cancelling`` -> ``cancelled``. Each line is answered by the fake server's own embeddings
code, so vectors are :func:`~tests.support.fakeserver.vector_for_text`'s. Output files
list lines in random order; lines the server refuses go to the error file; an expired
batch's unfinished lines are ``batch_expired`` lines of its error file; a cancelled batch's
unfinished lines are in neither file.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeBatchAPI", "Script", "batch_api", "handle"]

MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1000 * 1000
MAX_INPUTS = 50_000
DAY = 86_400


@dataclass
class Script:
    """What the next batch created does instead of completing."""

    expire_after: float | None = None
    """Expire once this fraction of its lines ran."""
    fail: str | None = None
    """Fail in validation with this message."""


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
        }


@dataclass
class _Line:
    custom_id: str
    body: bytes
    inputs: list[str]
    tokens: int
    model: str | None


@dataclass
class _Batch:
    id: str
    input_file_id: str
    metadata: dict[str, Any]
    created: float  # monotonic
    created_at: int
    script: Script
    status: str = "validating"
    lines: list[_Line] = field(default_factory=list)
    model: str | None = None
    tokens: int = 0
    started: float | None = None
    ran: int = 0
    results: list[bytes] = field(default_factory=list)
    errors: list[bytes] = field(default_factory=list)
    error_data: list[dict[str, Any]] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    cancel_asked: float | None = None
    times: dict[str, int] = field(default_factory=dict)
    failed_lines: int = 0


class FakeBatchAPI:
    """The Files and Batches state of one fake server (see the module docstring)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.lock = threading.RLock()
        self.validate_s = 0.03
        self.run_s = 0.15
        self.finalize_s = 0.03
        self.cancel_s = 0.03
        self.window_s = 120.0
        self.queue_limit: int | None = None
        """Enqueued tokens allowed per model (``None``: no limit)."""
        self.queue_limit_at_create = False
        """Refuse a batch over the queue limit at create (HTTP 400) instead of failing it."""
        self.refuse: dict[str, str] = {}
        """Texts whose lines the server refuses (error file, 400), with the message."""
        self.seed = 0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.files: dict[str, _File] = {}
            self.batches: dict[str, _Batch] = {}
            self.scripts: deque[Script] = deque()
            self.submitted: Counter[str] = Counter()
            """Inputs of every batch accepted (billed when run), text -> times."""
            self.embedded: Counter[str] = Counter()
            """Inputs of every line that ran and was answered 200."""
            self.downloads: Counter[str] = Counter()
            self.created: list[str] = []
            self.refused_at_create = 0
            self.uploads = 0
            self.t0 = time.monotonic()
            self.epoch = int(time.time())

    def script(self, *, expire_after: float | None = None, fail: str | None = None) -> None:
        """The next batch created expires (or fails) instead of completing."""
        with self.lock:
            self.scripts.append(Script(expire_after=expire_after, fail=fail))

    def now(self) -> int:
        """The server's clock, in accelerated seconds since the epoch."""
        return self.epoch + int((time.monotonic() - self.t0) * DAY / self.window_s)

    def batch_files(self) -> list[_File]:
        with self.lock:
            return [f for f in self.files.values() if f.purpose in ("batch", "batch_output")]

    # ------------------------------------------------------------------ state

    def _tick(self, b: _Batch) -> None:
        """Move ``b`` on to where it is by now."""
        t = time.monotonic()
        if b.status == "validating" and t >= b.created + self.validate_s:
            self._validate(b)
            if b.status == "in_progress":
                b.started = t
        if b.status == "in_progress":
            assert b.started is not None
            due = (
                len(b.lines)
                if self.run_s <= 0
                else int(len(b.lines) * min(1.0, (t - b.started) / self.run_s))
            )
            if b.script.expire_after is not None:
                stop = int(len(b.lines) * b.script.expire_after)
                if due >= stop:
                    self._run(b, stop)
                    self._end(b, "expired")
                    return
            self._run(b, due)
            if b.ran == len(b.lines):
                b.status = "finalizing"
                b.times["finalizing_at"] = self.now()
                b.started = t
        if b.status == "finalizing" and b.started is not None and t >= b.started + self.finalize_s:
            self._end(b, "completed")
        if b.status == "cancelling" and b.cancel_asked is not None and t >= b.cancel_asked + self.cancel_s:
            self._end(b, "cancelled")

    def _validate(self, b: _Batch) -> None:
        if not self._check(b):
            return
        if self._over_queue(b):
            self._fail(b, "token_limit_exceeded", self._queue_message(b))
            return
        b.status = "in_progress"
        b.times["in_progress_at"] = self.now()
        for ln in b.lines:
            self.submitted.update(ln.inputs)

    def _check(self, b: _Batch) -> bool:
        """Read and check the batch's input file; ``False`` (and the batch failed) if it breaks a rule."""
        if b.script.fail is not None:
            self._fail(b, "invalid_request", b.script.fail)
            return False
        file = self.files.get(b.input_file_id)
        if file is None:
            self._fail(b, "invalid_file", "The input file was deleted.")
            return False
        lines = [ln for ln in file.content.split(b"\n") if ln.strip()]
        if len(lines) > MAX_REQUESTS:
            self._fail(
                b, "too_many_requests", f"The file has {len(lines)} requests; the limit is {MAX_REQUESTS}."
            )
            return False
        if len(file.content) > MAX_BYTES:
            self._fail(b, "file_too_large", "The file is over 200 MB.")
            return False
        seen: set[str] = set()
        for n, raw in enumerate(lines, 1):
            try:
                doc = json.loads(raw)
                cid, url, method, body = doc["custom_id"], doc["url"], doc["method"], doc["body"]
            except (ValueError, KeyError, TypeError):
                self._fail(b, "invalid_json_line", "This line is not parseable as valid JSON.", line=n)
                return False
            if url != "/v1/embeddings" or method != "POST":
                self._fail(b, "invalid_url", f"The URL {url!r} does not match the batch's endpoint.", line=n)
                return False
            if cid in seen:
                self._fail(b, "duplicate_custom_id", f"The custom_id {cid!r} is not unique.", line=n)
                return False
            seen.add(cid)
            raw_body = json.dumps(body).encode()
            plan = self.server._parse(raw_body)
            model = body.get("model") if isinstance(body, dict) else None
            if b.model is None:
                b.model = model
            elif model != b.model:
                self._fail(b, "mismatched_model", "All lines of a batch must use the same model.", line=n)
                return False
            texts = [x for x in plan.inputs if isinstance(x, str)]
            b.lines.append(_Line(cid, raw_body, texts, sum(e.ntok for e in plan.entries), model))
        if sum(len(ln.inputs) for ln in b.lines) > MAX_INPUTS:
            self._fail(b, "too_many_inputs", f"A batch of embeddings may hold at most {MAX_INPUTS} inputs.")
            return False
        b.tokens = sum(ln.tokens for ln in b.lines)
        return True

    def _over_queue(self, b: _Batch) -> bool:
        if self.queue_limit is None:
            return False
        queued = sum(
            o.tokens
            for o in self.batches.values()
            if o is not b and o.model == b.model and o.status in ("in_progress", "finalizing", "cancelling")
        )
        return queued + b.tokens > self.queue_limit

    def _queue_message(self, b: _Batch) -> str:
        return (
            f"Enqueued token limit reached for {b.model} in organization org-fake. Limit: "
            f"{self.queue_limit:,} enqueued tokens. Please try again once some in_progress batches have "
            "been completed."
        )

    def _fail(self, b: _Batch, code: str, message: str, line: int | None = None) -> None:
        b.error_data = [{"code": code, "message": message, "param": None, "line": line}]
        b.status = "failed"
        b.times["failed_at"] = self.now()

    def _run(self, b: _Batch, upto: int) -> None:
        while b.ran < upto:
            line = b.lines[b.ran]
            b.ran += 1
            rid = f"req_{uuid.uuid4().hex[:16]}"
            refused = next((self.refuse[t] for t in line.inputs if t in self.refuse), None)
            plan = self.server._parse(line.body)
            if refused is None and plan.error is None:
                body = self.server._success_body(plan, None, b.ran)
                self.embedded.update(line.inputs)
                b.results.append(self._result(line.custom_id, 200, rid, body))
            else:
                message = refused if refused is not None else plan.error.body["error"]["message"]
                error = {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                }
                status = 400 if refused is not None else plan.error.status
                b.errors.append(self._result(line.custom_id, status, rid, json.dumps(error).encode()))
                b.failed_lines += 1

    @staticmethod
    def _result(cid: str, status: int, rid: str, body: bytes) -> bytes:
        return (
            b'{"id":"batch_req_%s","custom_id":%s,"response":{"status_code":%d,"request_id":"%s","body":'
            % (uuid.uuid4().hex[:24].encode(), json.dumps(cid).encode(), status, rid.encode())
            + body
            + b'},"error":null}'
        )

    def _end(self, b: _Batch, status: str) -> None:
        if status == "expired":
            for line in b.lines[b.ran :]:
                b.errors.append(
                    json.dumps(
                        {
                            "id": f"batch_req_{uuid.uuid4().hex[:24]}",
                            "custom_id": line.custom_id,
                            "response": None,
                            "error": {
                                "code": "batch_expired",
                                "message": "This request could not be executed before the completion window expired.",
                            },
                        }
                    ).encode()
                )
        rng = random.Random(f"{self.seed}-{b.id}")
        rng.shuffle(b.results)
        rng.shuffle(b.errors)
        if b.results:
            b.output_file_id = self._store_file(
                f"{b.id}_output.jsonl", "batch_output", b"\n".join(b.results) + b"\n"
            )
        if b.errors:
            b.error_file_id = self._store_file(
                f"{b.id}_error.jsonl", "batch_output", b"\n".join(b.errors) + b"\n"
            )
        b.status = status
        b.times[f"{status}_at"] = self.now()

    def _store_file(self, name: str, purpose: str, content: bytes) -> str:
        fid = f"file-{uuid.uuid4().hex[:24]}"
        self.files[fid] = _File(fid, name, purpose, content, self.now())
        return fid

    def _doc(self, b: _Batch) -> dict[str, Any]:
        self._tick(b)
        done = b.ran - b.failed_lines
        return {
            "id": b.id,
            "object": "batch",
            "endpoint": "/v1/embeddings",
            "errors": {"object": "list", "data": b.error_data} if b.error_data else None,
            "input_file_id": b.input_file_id,
            "completion_window": "24h",
            "status": b.status,
            "output_file_id": b.output_file_id,
            "error_file_id": b.error_file_id,
            "created_at": b.created_at,
            "expires_at": b.created_at + DAY,
            "request_counts": {"total": len(b.lines), "completed": done, "failed": b.failed_lines},
            "metadata": b.metadata,
            **b.times,
        }

    # ------------------------------------------------------------------ routes

    def route(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes, ctype: str
    ) -> tuple[int, Any]:
        """(status, JSON document or bytes) for one request."""
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        with self.lock:
            if parts == ["files"] and method == "POST":
                return self._upload(raw, ctype)
            if parts == ["files"] and method == "GET":
                purpose = query.get("purpose", [None])[0]
                data = [f.doc() for f in self.files.values() if purpose is None or f.purpose == purpose]
                return 200, {"object": "list", "data": data, "has_more": False}
            if len(parts) >= 2 and parts[0] == "files":
                file = self.files.get(parts[1])
                if file is None:
                    return _error(404, f"No such File object: {parts[1]}", "invalid_request_error")
                if len(parts) == 3 and parts[2] == "content" and method == "GET":
                    self.downloads[file.id] += 1
                    return 200, file.content
                if len(parts) == 2 and method == "DELETE":
                    del self.files[file.id]
                    return 200, {"id": file.id, "object": "file", "deleted": True}
                if len(parts) == 2 and method == "GET":
                    return 200, file.doc()
            if parts == ["batches"] and method == "POST":
                return self._create(raw)
            if parts == ["batches"] and method == "GET":
                return self._list(query)
            if len(parts) >= 2 and parts[0] == "batches":
                b = self.batches.get(parts[1])
                if b is None:
                    return _error(404, f"No batch found with id '{parts[1]}'.", "invalid_request_error")
                if len(parts) == 2 and method == "GET":
                    return 200, self._doc(b)
                if len(parts) == 3 and parts[2] == "cancel" and method == "POST":
                    self._tick(b)
                    if b.status in ("validating", "in_progress", "finalizing"):
                        b.status, b.cancel_asked = "cancelling", time.monotonic()
                        b.times["cancelling_at"] = self.now()
                    return 200, self._doc(b)
        return _error(404, f"Invalid URL ({method} {path})", "invalid_request_error")

    def _upload(self, raw: bytes, ctype: str) -> tuple[int, Any]:
        message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        if message.is_multipart():
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
        if "file" not in fields or "purpose" not in fields:
            return _error(400, "Missing required parameter: 'file' and 'purpose'.", "invalid_request_error")
        purpose = fields["purpose"][1].decode()
        filename, content = fields["file"]
        if purpose != "batch":
            return _error(400, f"Invalid purpose {purpose!r} for a batch file.", "invalid_request_error")
        if len(content) > MAX_BYTES:
            return _error(400, "File is over 200 MB.", "invalid_request_error")
        self.uploads += 1
        fid = self._store_file(filename or "upload.jsonl", purpose, content)
        return 200, self.files[fid].doc()

    def _create(self, raw: bytes) -> tuple[int, Any]:
        try:
            doc = json.loads(raw)
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        fid = doc.get("input_file_id")
        if fid not in self.files or self.files[fid].purpose != "batch":
            return _error(400, f"Invalid input_file_id {fid!r}.", "invalid_request_error")
        if doc.get("endpoint") != "/v1/embeddings" or doc.get("completion_window") != "24h":
            return _error(
                400, "endpoint must be /v1/embeddings and completion_window 24h.", "invalid_request_error"
            )
        b = _Batch(
            id=f"batch_{uuid.uuid4().hex[:24]}",
            input_file_id=fid,
            metadata=dict(doc.get("metadata") or {}),
            created=time.monotonic(),
            created_at=self.now(),
            script=self.scripts.popleft() if self.scripts else Script(),
        )
        if self.queue_limit_at_create:
            probe = _Batch(b.id, fid, {}, 0.0, 0, Script())
            if self._check(probe) and self._over_queue(probe):
                self.refused_at_create += 1
                return _error(
                    400, self._queue_message(probe), "invalid_request_error", code="token_limit_exceeded"
                )
        self.batches[b.id] = b
        self.created.append(b.id)
        return 200, self._doc(b)

    def _list(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        limit = int(query.get("limit", ["20"])[0])
        after = query.get("after", [None])[0]
        ordered = sorted(self.batches.values(), key=lambda b: b.created, reverse=True)
        if after is not None:
            ids = [b.id for b in ordered]
            ordered = ordered[ids.index(after) + 1 :] if after in ids else []
        page = ordered[:limit]
        data = [self._doc(b) for b in page]
        return 200, {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(ordered) > limit,
        }


def _error(status: int, message: str, type_: str, code: str | None = None) -> tuple[int, Any]:
    return status, {"error": {"message": message, "type": type_, "param": None, "code": code}}


_registry_lock = threading.Lock()


def batch_api(server: Any) -> FakeBatchAPI:
    """The batch API state of ``server`` (made on first use)."""
    with _registry_lock:
        api = server.__dict__.get("_batch_api")
        if api is None:
            api = server.__dict__["_batch_api"] = FakeBatchAPI(server)
        return api  # type: ignore[no-any-return]


def handle(handler: Any, method: str, raw: bytes) -> None:
    """Answer one Files/Batches request on the fake server's ``handler``."""
    fake = handler.server.fake
    if not handler._authorized():
        err = handler._unauthorized()
        handler._send_json(err.status, err.body)
        return
    split = urlsplit(handler.path)
    status, doc = batch_api(fake).route(
        method, split.path.rstrip("/"), parse_qs(split.query), raw, handler.headers.get("Content-Type", "")
    )
    if isinstance(doc, bytes):
        handler._send(status, doc, content_type="application/octet-stream")
    else:
        handler._send_json(status, doc)
