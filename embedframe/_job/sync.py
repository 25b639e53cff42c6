"""Run the async implementation from sync code, also where a loop already runs (Jupyter)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


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
        return _run_in_thread(coro)
    return asyncio.run(coro)


def _run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh loop in a helper thread and wait for it."""
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(asyncio.run, coro)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="embedframe-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
