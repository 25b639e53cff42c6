"""Registering ``.embed`` on Dask DataFrames and Series without importing Dask.

``import embedframe`` must cost nothing where Dask is not installed, and must not import
Dask where it is (a second or more). So the accessors are registered at once if
``dask.dataframe`` is already imported, else by a meta-path finder that wraps its loader
and registers them right after it runs.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
import warnings
from collections.abc import Sequence

__all__ = ["register", "register_lazily"]

_registered = False
_register_lock = threading.Lock()


def register() -> None:
    """Register ``.embed`` on Dask DataFrames and Series (imports ``dask.dataframe``; idempotent)."""
    global _registered
    with _register_lock:
        if _registered:
            return
        from dask.dataframe.extensions import register_dataframe_accessor, register_series_accessor

        from .accessor import DaskEmbedAccessor, DaskSeriesEmbedAccessor

        register_dataframe_accessor("embed")(DaskEmbedAccessor)  # type: ignore[no-untyped-call]
        register_series_accessor("embed")(DaskSeriesEmbedAccessor)  # type: ignore[no-untyped-call]
        _registered = True


class _RegisteringLoader(importlib.abc.Loader):
    """Runs ``dask.dataframe``'s own loader, then registers the accessors."""

    def __init__(self, inner: importlib.abc.Loader, finder: _RegisterOnImport) -> None:
        self._inner = inner
        self._finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self._inner  # the module sees its real loader (resources, reload)
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        self._finder.remove()
        try:
            register()
        except Exception as exc:  # never break the user's import of Dask
            warnings.warn(f"embedframe: could not register ddf.embed ({exc!r})", RuntimeWarning, stacklevel=2)


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Wraps the loader of ``dask.dataframe`` so the accessors appear when it is imported."""

    target = "dask.dataframe"

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.target:
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _RegisteringLoader(spec.loader, self)
            return spec
        return None

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)


def register_lazily() -> None:
    """Register now if ``dask.dataframe`` is loaded, else when it is; nothing without Dask."""
    if "dask.dataframe" in sys.modules:
        register()
        return
    try:
        if importlib.util.find_spec("dask") is None:
            return
    except (ImportError, ValueError):
        return
    if not any(type(f).__name__ == _RegisterOnImport.__name__ for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())
