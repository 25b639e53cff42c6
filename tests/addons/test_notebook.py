"""notebooks/quickstart.ipynb: committed without outputs, and runs top to bottom with the local model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from embedframe import local

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


def _text(cell: Any) -> str:
    """Everything a code cell showed as text: streams and text/plain results."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def _cell(nb: Any, snippet: str) -> Any:
    """The one code cell whose source contains ``snippet``."""
    found = [c for c in nb.cells if c.cell_type == "code" and snippet in c.source]
    assert len(found) == 1, f"{len(found)} code cells contain {snippet!r}"
    return found[0]


def test_notebook_is_committed_without_outputs() -> None:
    """Every code cell of the committed notebook has no outputs and no execution count."""
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.skipif(not local.is_available(), reason="embedframe[local] is not installed")
@pytest.mark.timeout(1200)
def test_notebook_runs_with_the_local_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebook executes without errors and shows search hits, a plot, the round trip and chunks."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    pytest.importorskip("matplotlib")

    # A "python3" kernelspec for this interpreter (the venv's), found before any other one.
    kernelspec.install(prefix=str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter" / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # let the kernel use its inline backend
    out_dir = tmp_path / "out"
    monkeypatch.setenv("EMBEDFRAME_NOTEBOOK_OUT", str(out_dir))  # not the repository's out/

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError if a cell fails

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # No progress bar anywhere: the jobs pass progress=False, and a search's one query shows none.
    shown = "".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "embedding:" not in shown and "row/s" not in shown and "s/row" not in shown

    embedded = _text(_cell(nb, 'df.embed.column("text"'))
    assert "backend:   local model all-MiniLM-L6-v2" in embedded
    assert "matrix:    (2447, 384) float32" in embedded

    table = _text(_cell(nb, 'hits = out.embed.search("stopped working after a week"'))
    assert "score" in table and len(table.strip().splitlines()) >= 6
    loop = _text(_cell(nb, "for query in"))
    assert loop.count("score 0.") == 9 and "search: 'great gift for kids'" in loop

    plot = _cell(nb, "plt.show()")
    assert any("image/png" in o.get("data", {}) for o in plot.outputs)

    round_trip = _text(_cell(nb, "out.embed.to_parquet(path)"))
    assert "vectors identical after the round trip: True" in round_trip
    assert "'model': 'all-MiniLM-L6-v2'" in round_trip
    assert (out_dir / "reviews_embedded.parquet").is_file()

    chunked = _text(_cell(nb, 'docs.embed.chunks("text"'))
    assert "6 documents -> " in chunked and int(chunked.split("-> ")[1].split()[0]) > 60
    best = _text(_cell(nb, "chunks.embed.search("))
    assert "AeroClean" in best  # the filter question is answered from the vacuum manual
