"""A batch job's durable state, in a folder beside the vector cache.

``<cache>/batches/<job id>/`` holds:

- ``job.json``: the job and its batches (what each holds, its file and batch ids, how far
  it got). Every change is written to a temporary file, fsynced and renamed over the old
  one, so a process killed at any point leaves the last state it saved, whole.
- ``input.pkl``: the frame and column submitted, to put the vectors back in its rows later.
- ``requests.jsonl`` with ``requests.idx.npy``: every request line, and where each starts.
- ``keys.bin`` with ``keys.idx.npy``: the content keys of each request's inputs, in order.
- ``.lock``: an ``flock`` taken by whoever advances the job, so two processes polling or
  collecting the same job take turns instead of writing over each other.

The state is saved *before* each step that costs something (``creating`` before a batch is
created), so a process that dies mid-step finds out on resume whether the step happened
(the batch is looked up by its input file) instead of doing it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import pickle
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError

__all__ = ["JobFiles", "JobState", "Part", "job_lock"]

_FORMAT = 1
ACTIVE = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
"""Server statuses of a batch still in the queue."""
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass
class Part:
    """One batch: which requests it holds and how far it got.

    ``stage`` is ``ready`` (lines on disk), ``uploading`` (upload asked for), ``uploaded``
    (input file id known), ``creating`` (batch asked for), ``submitted`` (batch id known),
    ``collected`` (results in the cache), ``replaced`` (split into smaller parts) or
    ``dropped`` (cancelled before it was created).
    """

    n: int
    requests: list[int]
    inputs: int
    tokens: int
    bytes: int
    attempt: int = 0
    """0 for a first submission; one more each time unfinished lines are sent again."""
    stage: str = "ready"
    input_file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    """The server's status of the batch."""
    counts: dict[str, int] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    asked_at: float | None = None
    """When the batch was asked for (the lookup after a crash searches from there)."""
    outcome: str | None = None
    """How it ended: ``completed``, ``expired``, ``cancelled`` or ``failed``."""
    errors: list[str] = field(default_factory=list)
    """The server's errors for a failed batch."""
    line_errors: dict[str, str] = field(default_factory=dict)
    """Request number (as a string) -> the server's error for that line."""
    unfinished: list[int] = field(default_factory=list)
    """Requests that never ran (expired, cancelled or failed batch) and were not sent again."""
    reason: str | None = None
    """Why ``unfinished`` were not run."""
    cleaned: bool = False
    """Whether its files on the server were deleted."""
    old_batches: list[str] = field(default_factory=list)
    """Batches made for this part that failed on the queue limit (free) and were made again."""

    @property
    def filename(self) -> str:
        return f"part-{self.n:04d}.jsonl"

    @property
    def active(self) -> bool:
        return self.stage == "submitted" and self.status not in TERMINAL

    @property
    def done(self) -> bool:
        return self.stage in ("collected", "replaced", "dropped")


@dataclass
class JobState:
    id: str
    created_at: float
    column: str
    """The source column, as text (the label itself is in ``input.pkl``)."""
    output: str
    details: bool
    config: dict[str, Any]
    """The config's planning fields (never a key, a header or a query string)."""
    model: str
    rows: int
    pieces: int
    cached: int
    """Pieces already in the cache when the job was submitted (not sent)."""
    requests: int
    inputs: int
    tokens: int
    parts: list[Part] = field(default_factory=list)
    cancelled: bool = False
    queue_limit: int | None = None
    """Tokens the model's batch queue was found to take at once (learnt from refusals)."""
    max_batch_tokens: int | None = None
    max_resubmits: int = 3
    extra: dict[str, Any] = field(default_factory=dict)
    """Caller's notes (the command line keeps its output path here)."""
    format: int = _FORMAT

    @property
    def finished(self) -> bool:
        return all(p.done for p in self.parts)

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True).encode("utf-8")

    @staticmethod
    def from_json(raw: bytes) -> JobState:
        doc = json.loads(raw)
        if doc.get("format") != _FORMAT:
            raise ConfigError(
                f"batch job state of format {doc.get('format')!r}; this embedframe reads {_FORMAT}"
            )
        doc["parts"] = [Part(**p) for p in doc["parts"]]
        return JobState(**doc)

    def next_part_number(self) -> int:
        return max((p.n for p in self.parts), default=-1) + 1


class JobFiles:
    """The files of one job's folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.state_path = directory / "job.json"
        self._key_idx: npt.NDArray[np.int64] | None = None
        self._line_idx: npt.NDArray[np.int64] | None = None
        self._keys: bytes | None = None

    def exists(self) -> bool:
        return self.state_path.is_file()

    def load(self) -> JobState:
        return JobState.from_json(self.state_path.read_bytes())

    def save(self, state: JobState) -> None:
        write_atomic(self.state_path, state.to_json())

    # what the job sends

    def write_requests(
        self, lines: list[bytes], keys: list[list[bytes]], tokens: npt.NDArray[np.int64]
    ) -> None:
        """Every request line, the keys of each request's inputs and its tokens (before ``job.json``)."""
        line_idx = np.zeros(len(lines) + 1, dtype=np.int64)
        line_idx[1:] = np.cumsum([len(line) for line in lines])
        key_idx = np.zeros(len(keys) + 1, dtype=np.int64)
        key_idx[1:] = np.cumsum([len(k) for k in keys])
        write_atomic(self.directory / "requests.jsonl", b"".join(lines))
        write_atomic(self.directory / "requests.idx.npy", _npy(line_idx))
        write_atomic(self.directory / "keys.bin", b"".join(k for ks in keys for k in ks))
        write_atomic(self.directory / "keys.idx.npy", _npy(key_idx))
        write_atomic(self.directory / "tokens.npy", _npy(np.asarray(tokens, dtype=np.int64)))

    def request_sizes(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Per request: its inputs, its line's bytes and its tokens."""
        spans = self.line_spans()
        if self._key_idx is None:
            self._key_idx = np.load(self.directory / "keys.idx.npy")
        tokens = np.load(self.directory / "tokens.npy")
        return np.diff(self._key_idx), np.diff(spans), tokens

    def write_input(self, payload: dict[str, Any]) -> None:
        write_atomic(self.directory / "input.pkl", pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))

    def read_input(self) -> dict[str, Any]:
        with open(self.directory / "input.pkl", "rb") as f:
            payload: dict[str, Any] = pickle.load(f)
        return payload

    def request_keys(self, request: int) -> list[bytes]:
        """The content keys of request ``request``'s inputs, in order."""
        if self._keys is None or self._key_idx is None:
            self._keys = (self.directory / "keys.bin").read_bytes()
            self._key_idx = np.load(self.directory / "keys.idx.npy")
        lo, hi = int(self._key_idx[request]), int(self._key_idx[request + 1])
        return [self._keys[i * 32 : (i + 1) * 32] for i in range(lo, hi)]

    def line_spans(self) -> npt.NDArray[np.int64]:
        if self._line_idx is None:
            self._line_idx = np.load(self.directory / "requests.idx.npy")
        return self._line_idx

    def part_size(self, requests: list[int]) -> int:
        idx = self.line_spans()
        r = np.asarray(requests, dtype=np.int64)
        return int((idx[r + 1] - idx[r]).sum())

    def part_chunks(self, requests: list[int]) -> Iterator[bytes]:
        """The bytes of a part's input file: its requests' lines, read from the job's file."""
        idx = self.line_spans()
        with open(self.directory / "requests.jsonl", "rb") as f:
            for r in requests:
                f.seek(int(idx[r]))
                yield f.read(int(idx[r + 1] - idx[r]))


def _npy(array: npt.NDArray[Any]) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader (or a crash) sees the old content or the new, whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.asynccontextmanager
async def job_lock(directory: Path) -> AsyncIterator[None]:
    """Hold the job's lock (waiting for another process that holds it): ``flock`` on POSIX,
    ``msvcrt.locking`` on Windows; the lock goes with the process, even a killed one."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while not _try_lock(fd):
            await asyncio.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def now() -> float:
    return time.time()
