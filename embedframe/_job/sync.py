"""Run the async implementation from sync code, also where a loop already runs (Jupyter).

Stopping the caller stops the job in every mode: with no running loop ``asyncio.run``
turns Ctrl-C into a cancellation of the job; on the helper thread any exception that
reaches the waiting caller (Ctrl-C, a kernel interrupt, a signal handler's error) cancels
the job's task before it is raised. A cancelled job sends nothing new; the requests
already on the wire finish into the cache (see ``Sending.run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .._warn import calling_line

__all__ = ["run_sync"]

T = TypeVar("T")

_POLL_S = 0.1
"""How often a caller waiting inside a running loop looks whether its own task was cancelled."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion and return its result.

    With no running loop this is ``asyncio.run``. Inside a running loop (a Jupyter cell),
    the coroutine runs on a fresh loop in a helper thread while this thread waits, so
    the caller's loop is neither blocked re-entrantly nor patched.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop here: not inside the except block, so errors are not chained to this one
    else:
        with calling_line():  # the helper thread's stack never reaches the caller's line
            job = _Job(coro)
        result: T = _run_in_thread(job)
        return result
    with calling_line():  # for warnings from the job's executor threads
        return asyncio.run(coro)


class _Job:
    """The coroutine's task on the helper thread's loop, and what it ended with."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.context = contextvars.copy_context()
        self.started = threading.Event()
        self.done = threading.Event()
        """Set when the job's loop is closed (never ``Thread.join``: an exception that breaks
        a join can leave the thread marked as ended while it still runs, bpo-45274)."""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.value: Any = None
        self.error: BaseException | None = None

    async def _main(self) -> Any:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.started.set()
        return await self.coro

    def run(self) -> None:
        try:
            with asyncio.Runner() as runner:
                self.value = runner.run(self._main(), context=self.context)
        except BaseException as exc:  # handed to the caller's thread
            self.error = exc
        finally:
            self.started.set()
            self.done.set()

    def cancel(self) -> None:
        """Cancel the job's task from the caller's thread (a no-op once it has ended)."""
        self.started.wait()
        loop, task = self.loop, self.task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed: nothing runs
                loop.call_soon_threadsafe(task.cancel)


def _run_in_thread(job: _Job) -> Any:
    """Run ``job`` on a fresh loop in a helper thread and wait for it.

    If the wait is broken by an exception (Ctrl-C, an interrupted kernel), the job is
    cancelled and waited for (only the requests on the wire finish) before the exception
    goes on; a second interrupt while waiting stops waiting at once.
    """
    caller = asyncio.current_task()
    cancels = caller.cancelling() if caller is not None else 0
    thread = threading.Thread(target=job.run, name="embedframe-sync", daemon=True)
    thread.start()
    try:
        while not job.done.wait(_POLL_S):
            if caller is not None and caller.cancelling() > cancels:
                # asyncio.run's Ctrl-C handler cancels the caller's task, which cannot see it
                # while it waits here: stop the job and end the caller as cancelled.
                raise asyncio.CancelledError
    except BaseException:
        job.cancel()
        try:
            job.done.wait()
        except BaseException:
            job.cancel()  # cut the requests on the wire short too; nothing new is sent either way
            raise
        raise
    if job.error is not None:
        raise job.error
    return job.value
