"""Stop means stop: an interrupt (or any exception in the caller) cancels the job in every mode.

Plain script (Ctrl-C), a running event loop (the sync API on its helper thread) and a real
Jupyter kernel (``interrupt_kernel``): once the caller is stopped nothing new is sent, and
the requests already on the wire finish into the vector cache, so a rerun pays for none
of them again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import embedframe
from tests.support import API_KEY, interruptible
from tests.support.fakeserver import RecordedRequest, _Plan
from tests.support.hookserver import Answer, Handler, HookedServer, resent_after_success

ROOT = Path(__file__).resolve().parents[2]
ROWS = 300
PER_REQUEST = 10
REQUESTS = ROWS // PER_REQUEST
LATENCY_S = 0.4


class Stop(Exception):
    """What the caller's own code raises in the middle of a job (here, from a signal handler)."""


def _texts() -> list[str]:
    return [f"review number {i}: the kettle stopped working after {i % 17} days" for i in range(ROWS)]


def _options(server: HookedServer) -> dict[str, Any]:
    return {
        "base_url": server.url,
        "api_key": API_KEY,
        "max_inputs_per_request": PER_REQUEST,
        "concurrency": 2,
        "progress": False,
    }


class _SignalAt(Handler):
    """Sends ``signum`` to the test's main thread when request number ``self.server.fake.at`` arrives."""

    def answer(self, plan: _Plan, rec: RecordedRequest) -> Answer:
        fake = self.server.fake  # type: ignore[attr-defined]
        if self.number == fake.at:
            signal.pthread_kill(threading.main_thread().ident or 0, fake.signum)
        return None


@pytest.fixture
def slow_server() -> Iterator[HookedServer]:
    with HookedServer(_SignalAt, dim=16, api_key=API_KEY, latency_s=LATENCY_S) as srv:
        srv.at = 0  # type: ignore[attr-defined]
        srv.signum = signal.SIGUSR1  # type: ignore[attr-defined]
        yield srv


def _settled_count(server: HookedServer, wait_s: float = 3 * LATENCY_S + 0.5) -> tuple[int, int]:
    """The server's request count now, and after ``wait_s`` more seconds."""
    before = len(server.requests)
    time.sleep(wait_s)
    return before, len(server.requests)


def _rerun_pays_nothing_twice(server: HookedServer) -> None:
    """A rerun with the same cache completes, and sends no input the server already answered."""
    out = embedframe.embed(_texts(), **{**_options(server), "concurrency": 16})
    assert out.notna().all() and len(out) == ROWS
    assert resent_after_success(server) == []
    assert sum(len(r.inputs) for r in server.requests if r.status == 200) == ROWS


def test_exception_in_a_caller_with_a_running_loop_stops_the_job(
    slow_server: HookedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync API inside a running loop (its helper thread): an exception raised in the waiting
    caller stops the job; only requests on the wire finish, into the cache."""

    def raise_stop(signum: int, frame: Any) -> None:
        raise Stop("the caller gave up")

    monkeypatch.setattr(slow_server, "at", 4)
    previous = signal.signal(signal.SIGUSR1, raise_stop)

    async def caller() -> None:
        embedframe.embed(_texts(), **_options(slow_server))

    try:
        with pytest.raises(Stop):
            asyncio.run(caller())
    finally:
        signal.signal(signal.SIGUSR1, previous)
    at_return, later = _settled_count(slow_server)
    assert at_return == later, f"{later - at_return} requests were sent after the caller stopped"
    assert at_return <= 4 + 2
    _rerun_pays_nothing_twice(slow_server)


def test_keyboard_interrupt_with_a_running_loop_stops_the_job(
    slow_server: HookedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the sync API waits on its helper thread (as in Jupyter) raises KeyboardInterrupt
    in the caller and sends nothing more."""
    monkeypatch.setattr(slow_server, "at", 3)
    monkeypatch.setattr(slow_server, "signum", signal.SIGINT)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    async def caller() -> None:
        embedframe.embed(_texts(), **_options(slow_server))

    try:
        with pytest.raises(KeyboardInterrupt):
            asyncio.run(caller())
    finally:
        signal.signal(signal.SIGINT, previous)
    at_return, later = _settled_count(slow_server)
    assert at_return == later and at_return <= 3 + 2
    _rerun_pays_nothing_twice(slow_server)


def test_cancelled_async_job_lets_requests_on_the_wire_finish_into_the_cache(
    slow_server: HookedServer,
) -> None:
    """Cancelling ``aembed`` (asyncio.run's Ctrl-C, a timeout) sends nothing new, and the answers
    already on their way are cached, not thrown away."""

    async def caller() -> None:
        job = asyncio.create_task(embedframe.aembed(_texts(), **_options(slow_server)))
        while len(slow_server.requests) < 3:
            await asyncio.sleep(0.01)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(caller())
    at_return, later = _settled_count(slow_server)
    assert at_return == later and at_return < REQUESTS
    # Every request sent was waited for: each one's answer is in the cache.
    _rerun_pays_nothing_twice(slow_server)


_SCRIPT = """
import sys
import embedframe
texts = [f"review number {i}: the kettle stopped working after {i % 17} days" for i in range(ROWS)]
print("ready", flush=True)
embedframe.embed(texts, base_url=sys.argv[1], api_key=API_KEY, max_inputs_per_request=PER_REQUEST,
                 concurrency=2, progress=False)
print("finished", flush=True)
"""


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_ctrl_c_in_a_plain_script_stops_the_job(slow_server: HookedServer) -> None:
    """SIGINT to a script blocked in ``embed``: it exits with KeyboardInterrupt, sends nothing more,
    and the answers that were on the wire are in the cache."""
    script = (
        _SCRIPT.replace("ROWS", str(ROWS))
        .replace("PER_REQUEST", str(PER_REQUEST))
        .replace("API_KEY", repr(API_KEY))
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, slow_server.url],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        _wait_for(lambda: len(slow_server.requests) >= 3, 60, "the script's first requests")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "finished" not in out
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    at_exit, later = _settled_count(slow_server)
    assert at_exit == later and at_exit < REQUESTS
    _rerun_pays_nothing_twice(slow_server)


@pytest.mark.timeout(240)
def test_interrupting_a_jupyter_kernel_stops_the_job(
    slow_server: HookedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``interrupt_kernel()`` during ``df.embed(...)`` in a real kernel: the cell fails with
    KeyboardInterrupt and the server counts no request after it."""
    manager_module = pytest.importorskip("jupyter_client.manager")
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    kernelspec.install(prefix=str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter" / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))

    km = manager_module.KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(ROOT))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)

        def run(code: str, timeout: float = 120, interrupt_after: int | None = None) -> dict[str, Any]:
            msg_id = kc.execute(code)
            if interrupt_after is not None:
                _wait_for(lambda: len(slow_server.requests) >= interrupt_after, 60, "the cell's requests")
                km.interrupt_kernel()
            while True:
                reply = kc.get_shell_msg(timeout=timeout)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return dict(reply["content"])

        setup = run(
            textwrap.dedent(
                f"""
                import pandas as pd
                import embedframe
                df = pd.DataFrame({{"text": {_texts()!r}}})
                options = dict(base_url={slow_server.url!r}, api_key={API_KEY!r},
                               max_inputs_per_request={PER_REQUEST}, concurrency=2)
                """
            )
        )
        assert setup["status"] == "ok", setup
        reply = run('out = df.embed("text", **options)', interrupt_after=3)
        assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
        at_return, later = _settled_count(slow_server)
        assert at_return == later, f"{later - at_return} requests were sent after the interrupt"
        assert at_return < REQUESTS

        again = run('out = df.embed("text", **{**options, "concurrency": 16})')
        assert again["status"] == "ok", again
        assert resent_after_success(slow_server) == []
        assert sum(len(r.inputs) for r in slow_server.requests if r.status == 200) == ROWS
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
