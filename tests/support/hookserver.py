"""FakeServer with a request handler of the test's own, for servers that speak other dialects.

A test subclasses :class:`Handler` (FakeServer's own handler) and overrides what it needs:
``answer`` to refuse or rewrite a request before FakeServer answers it, ``extra_headers`` to
add or replace response headers. :class:`HookedServer` numbers and time-stamps every
embeddings request on arrival (``arrivals``, ``number(rec)``) and can fault the request that
arrives as number N (``fault_at``), on top of FakeServer's own ``inject`` and ``inject_random``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Any, Self

from .fakeserver import FakeServer, Fault, RecordedRequest, _Handler, _Plan

__all__ = ["Answer", "Handler", "HookedServer", "json_error", "resent_after_success"]

Answer = tuple[int, bytes, str] | bool | None


class Handler(_Handler):
    """FakeServer's handler with hooks; ``self.server.fake`` is the :class:`HookedServer`."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        """``(status, body, content type)`` to answer instead of FakeServer, ``True`` when this
        method wrote the answer itself, or ``None`` to let FakeServer answer."""
        return None

    def extra_headers(self, status: int) -> list[tuple[str, str]]:
        """Headers to add to (or, for the same name, replace in) every embeddings response;
        ``self.rec`` is the request being answered, ``self.number`` its arrival number."""
        return []

    rec: RecordedRequest | None = None
    number = 0

    # ----------------------------------------------------------------- plumbing

    def _embeddings(self, fake: Any, raw: bytes, rec: RecordedRequest, seq: int, fault: Fault | None) -> None:
        fake.arrivals.append((time.monotonic(), rec))
        self.rec, self.number = rec, fake.number(rec)
        plan = fake._parse(raw)
        if fault is None:
            rec.inputs = plan.inputs
            rec.token_counts = [e.ntok for e in plan.entries]
            rec.total_tokens = sum(rec.token_counts)
            rec.model = plan.model or ""
            custom = self.answer(plan, rec)
            if custom is True:
                return
            if custom is not None and custom is not False:
                status, body, content_type = custom
                rec.status = status
                self._send(status, body, content_type=content_type)
                return
        super()._embeddings(fake, raw, rec, seq, fault)

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        extra = self.extra_headers(status)
        names = {name.lower() for name, _ in extra}
        merged = [(n, v) for n, v in headers if n.lower() not in names] + extra
        super()._send(status, body, content_type=content_type, headers=merged)


class HookedServer(FakeServer):
    """A :class:`FakeServer` answering through ``handler`` (a :class:`Handler` subclass)."""

    def __init__(self, handler: type[Handler] = Handler, **options: Any) -> None:
        super().__init__(**options)
        self.handler = handler
        self.arrivals: list[tuple[float, RecordedRequest]] = []
        self.planned: dict[int, Fault] = {}
        """Faults by arrival number (1 for the first request after start or reset)."""
        self._arrived = 0
        self._numbers: dict[int, int] = {}
        self._count_lock = threading.Lock()

    def fault_at(self, *numbers: int, fault: str | Fault) -> None:
        """Fault the requests that arrive as these numbers (1-based, counted from start or reset)."""
        for n in numbers:
            self.planned[n] = fault if isinstance(fault, Fault) else Fault(fault)

    def _arrive(self, rec: RecordedRequest) -> tuple[int, Fault | None]:
        seq, fault = super()._arrive(rec)
        with self._count_lock:
            self._arrived += 1
            planned = self.planned.pop(self._arrived, None)
            self._numbers[id(rec)] = self._arrived
        return seq, planned if planned is not None else fault

    def number(self, rec: RecordedRequest) -> int:
        """The arrival number of ``rec`` (1 for the first request after start or reset)."""
        with self._count_lock:
            return self._numbers[id(rec)]

    def start(self) -> Self:
        super().start()
        assert self._httpd is not None
        self._httpd.RequestHandlerClass = self.handler
        return self

    def reset(self) -> None:
        super().reset()
        with self._count_lock:
            self.arrivals.clear()
            self.planned.clear()
            self._numbers.clear()
            self._arrived = 0


def json_error(obj: Any) -> bytes:
    """An error body, as JSON bytes."""
    return json.dumps(obj).encode()


def resent_after_success(server: FakeServer) -> list[str | list[int]]:
    """Inputs that arrived again in a request after one the server answered correctly with them
    (in arrival order, so an input sent twice at once counts too); a shuffled answer is correct."""
    answered: set[Any] = set()
    again: list[Any] = []
    for rec in list(server.requests):
        for item in rec.inputs:
            key = item if isinstance(item, str) else tuple(item)
            if key in answered:
                again.append(item)
        if rec.status == 200 and rec.fault in (None, "shuffle"):
            answered.update(i if isinstance(i, str) else tuple(i) for i in rec.inputs)
    return again
