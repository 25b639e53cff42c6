"""Reading a response body into vectors, and refusing bodies that break the contract."""

from __future__ import annotations

import json

import numpy as np
import pybase64
import pytest

from embedframe._core.decode import decode_embeddings
from embedframe.errors import ResponseError

V = np.arange(6, dtype=np.float32).reshape(2, 3) / 10


def body(items: list[dict], usage: bool = True) -> bytes:
    doc: dict = {"object": "list", "data": items, "model": "m"}
    if usage:
        doc["usage"] = {"prompt_tokens": 7, "total_tokens": 7}
    return json.dumps(doc).encode()


def b64(v: np.ndarray) -> str:
    return pybase64.b64encode(v.astype("<f4").tobytes()).decode()


def test_base64_placed_by_index_not_position() -> None:
    """Vectors go where data[].index says, even when the list is out of order."""
    got = decode_embeddings(
        body([{"index": 1, "embedding": b64(V[1])}, {"index": 0, "embedding": b64(V[0])}]), 2
    )
    assert np.array_equal(got.vectors, V) and got.prompt_tokens == 7


def test_float_lists_are_accepted() -> None:
    """A server that ignores base64 and sends float lists gives the same vectors."""
    got = decode_embeddings(
        body([{"index": i, "embedding": V[i].tolist()} for i in range(2)], usage=False), 2
    )
    assert np.allclose(got.vectors, V) and got.prompt_tokens is None


@pytest.mark.parametrize(
    ("items", "n", "dims", "match"),
    [
        ([{"index": 0, "embedding": V[0].tolist()}], 2, None, "sent 2 inputs"),
        (
            [{"index": 0, "embedding": V[0].tolist()}, {"index": 0, "embedding": V[1].tolist()}],
            2,
            None,
            "twice",
        ),
        (
            [{"index": 0, "embedding": V[0].tolist()}, {"index": 5, "embedding": V[1].tolist()}],
            2,
            None,
            "index",
        ),
        ([{"index": 0, "embedding": V[0].tolist()}, {"embedding": V[1].tolist()}], 2, None, "index"),
        ([{"index": 0, "embedding": V[0].tolist()}, {"index": 1, "embedding": [1.0, 2.0]}], 2, None, "sizes"),
        ([{"index": 0, "embedding": [float("nan"), 0, 0]}], 1, None, "NaN"),
        ([{"index": 0, "embedding": b64(np.array([np.inf, 0, 0]))}], 1, None, "infinite"),
        ([{"index": 0, "embedding": V[0].tolist()}], 1, 4, "asked for 4"),
        ([{"index": 0, "embedding": "!!!"}], 1, None, "base64"),
        ([{"index": 0, "embedding": None}], 1, None, "expected base64"),
    ],
)
def test_contract_violations_raise(items: list[dict], n: int, dims: int | None, match: str) -> None:
    """Wrong count, duplicate or missing index, mixed sizes, non-finite values, bad base64 are refused."""
    with pytest.raises(ResponseError, match=match):
        decode_embeddings(body(items), n, dims)


def test_bad_json_is_a_response_error() -> None:
    """A truncated body is a ResponseError, not a JSON crash."""
    with pytest.raises(ResponseError, match="not valid JSON"):
        decode_embeddings(b'{"data": [', 1)


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("shuffled", [False, True])
def test_fast_path_equals_plain_json(indent: int | None, shuffled: bool) -> None:
    """The base64 fast path gives exactly what parsing the whole body does, in any layout."""
    from embedframe._core.decode import _decode_base64_fast, _decode_plain

    rng = np.random.default_rng(3)
    m = rng.standard_normal((50, 12)).astype(np.float32)
    order = rng.permutation(50) if shuffled else np.arange(50)
    items = [{"object": "embedding", "index": int(i), "embedding": b64(m[i])} for i in order]
    raw = json.dumps({"object": "list", "data": items, "model": "m"}, indent=indent).encode()
    fast = _decode_base64_fast(raw, 50, None)
    assert fast is not None, "this plain layout takes the fast path"
    assert np.array_equal(fast.vectors, _decode_plain(raw, 50, None).vectors)
    assert np.array_equal(fast.vectors, m)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("shuffled", [False, True])
def test_fast_path_names_the_input_of_a_non_finite_vector(bad: float, shuffled: bool) -> None:
    """A NaN or infinity in one of 700 base64 vectors (two decoding blocks) is refused, naming its index."""
    from embedframe._core.decode import _decode_base64_fast

    rng = np.random.default_rng(5)
    m = rng.standard_normal((700, 1536)).astype(np.float32)
    m[613, 1000] = bad
    order = rng.permutation(700) if shuffled else np.arange(700)
    items = [{"object": "embedding", "index": int(i), "embedding": b64(m[i])} for i in order]
    raw = json.dumps({"object": "list", "data": items, "model": "m"}, separators=(",", ":")).encode()
    with pytest.raises(ResponseError, match=r"NaN or infinite values \(input\(s\) \[613\]\)"):
        _decode_base64_fast(raw, 700, None)
    m[613, 1000] = 0.5
    items = [{"object": "embedding", "index": int(i), "embedding": b64(m[i])} for i in order]
    raw = json.dumps({"object": "list", "data": items, "model": "m"}, separators=(",", ":")).encode()
    got = _decode_base64_fast(raw, 700, None)
    assert got is not None and np.array_equal(got.vectors, m)


def test_escaped_slashes_fall_back_to_json() -> None:
    """A server escaping '/' as '\\/' in base64 still decodes correctly (through plain JSON)."""
    v = np.array([-1.5226130485534668, 1.0, 2.0], dtype=np.float32)
    assert "/" in b64(v)
    text = b64(v).replace("/", "\\/")
    raw = ('{"data":[{"index":0,"embedding":"' + text + '"}]}').encode()
    assert np.array_equal(decode_embeddings(raw, 1).vectors[0], v)


def _response(
    m: np.ndarray, order: np.ndarray, separators: tuple[str, str] | None, indent: int | None
) -> bytes:
    items = [{"object": "embedding", "index": int(i), "embedding": b64(m[i])} for i in order]
    doc = {"object": "list", "data": items, "model": "m", "usage": {"prompt_tokens": 3, "total_tokens": 3}}
    return json.dumps(doc, separators=separators, indent=indent).encode()


@pytest.mark.parametrize("dim", [1, 5, 12, 256, 1536])
@pytest.mark.parametrize("layout", ["compact", "spaced", "indented"])
@pytest.mark.parametrize("shuffled", [False, True])
def test_fast_path_over_sizes_layouts_and_orders(dim: int, layout: str, shuffled: bool) -> None:
    """Any size (base64 with and without '=' padding), layout and order decodes exactly, on the fast path."""
    from embedframe._core.decode import _decode_base64_fast

    rng = np.random.default_rng(dim)
    n = 1100  # indexes of 1 to 4 digits: evenly spaced runs change where a digit is gained
    m = rng.standard_normal((n, dim)).astype(np.float32)
    order = rng.permutation(n) if shuffled else np.arange(n)
    separators = {"compact": (",", ":"), "spaced": (", ", ": "), "indented": None}[layout]
    raw = _response(m, order, separators, 2 if layout == "indented" else None)
    fast = _decode_base64_fast(raw, n, None)
    assert fast is not None, "this layout takes the fast path"
    assert np.array_equal(fast.vectors, m) and fast.prompt_tokens == 3


def test_decodes_into_the_array_given() -> None:
    """With out= of the right shape the vectors land in it (no new array); a wrong shape is left alone."""
    m = np.random.default_rng(1).standard_normal((40, 24)).astype(np.float32)
    raw = _response(m, np.arange(40), (",", ":"), None)
    out = np.zeros((40, 24), dtype=np.float32)
    got = decode_embeddings(raw, 40, out=out)
    assert got.vectors is out and np.array_equal(out, m)
    other = np.zeros((40, 25), dtype=np.float32)
    got = decode_embeddings(raw, 40, out=other)
    assert got.vectors is not other and not other.any() and np.array_equal(got.vectors, m)


def test_a_bad_value_in_a_fast_body_is_named() -> None:
    """A corrupt base64 value (a character outside the alphabet) is refused with a ResponseError, never decoded."""
    m = np.ones((3, 8), dtype=np.float32)
    raw = bytearray(_response(m, np.arange(3), (",", ":"), None))
    k = raw.index(b'"embedding":"', raw.index(b'"index":1')) + 14
    raw[k] = ord("!")
    with pytest.raises(ResponseError):
        decode_embeddings(bytes(raw), 3)
