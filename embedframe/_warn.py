"""Warnings that point at the user's line, not at embedframe's internals.

A fixed ``stacklevel`` is wrong as soon as a call path changes (``EmbedConfig(...)``,
``config.replace``, an option of ``df.embed``, a worker task, ``asyncio.to_thread``), and
useless on the helper thread of the sync API (Jupyter), whose stack holds no user frame at
all. :func:`warn` walks out of embedframe, asyncio, threading, concurrent.futures and
dataclasses to the first other frame; where there is none, it uses the line that called
the sync API (recorded by :func:`calling_line`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import dataclasses
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from types import FrameType

__all__ = ["calling_line", "warn"]

_INTERNAL = (
    *(
        os.path.dirname(os.path.abspath(p)) + os.sep
        for p in (__file__, asyncio.__file__, concurrent.futures.__file__)
    ),
    os.path.abspath(threading.__file__),
    os.path.abspath(contextlib.__file__),
    os.path.abspath(dataclasses.__file__),
)
"""Where frames are not the user's: embedframe, and the machinery its jobs run on."""

_CALLER: contextvars.ContextVar[FrameType | None] = contextvars.ContextVar("embedframe_caller", default=None)


def _internal(frame: FrameType) -> bool:
    module = str(frame.f_globals.get("__name__", ""))
    if module == "embedframe" or module.startswith("embedframe."):  # also generated code (dataclasses)
        return True
    name = frame.f_code.co_filename
    return name.startswith(_INTERNAL) or name.startswith("<frozen ")


def _user_frame() -> FrameType | None:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and _internal(frame):
        frame = frame.f_back
    return frame


@contextlib.contextmanager
def calling_line() -> Iterator[None]:
    """Record the user's frame for warnings raised where the stack does not reach it (the
    sync API's helper thread copies the context made inside this block)."""
    token = _CALLER.set(_user_frame() or _CALLER.get())
    try:
        yield
    finally:
        _CALLER.reset(token)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` attributed to the user's line."""
    frame = _user_frame() or _CALLER.get()
    if frame is None:
        warnings.warn(message, category, stacklevel=2)
        return
    module_globals = frame.f_globals
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=module_globals.get("__name__", "<unknown>"),
        registry=module_globals.setdefault("__warningregistry__", {}),
        module_globals=module_globals,
    )
