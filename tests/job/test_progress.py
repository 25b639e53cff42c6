"""The progress bar: only for real work, one final line with the final counts."""

from __future__ import annotations

import pandas as pd
import pytest

from embedframe import EmbedConfig
from embedframe._job.progress import Progress
from tests.support.fakeserver import FakeServer


def _eager(bar: Progress) -> Progress:
    """``bar`` drawing every update (tqdm skips draws within 0.1 s of the last one)."""
    bar._bar.mininterval = 0
    bar._bar.miniters = 0
    return bar


def _lines(err: str) -> list[str]:
    """Every state the bar drew (tqdm redraws with a carriage return)."""
    return [line for line in err.replace("\r", "\n").splitlines() if line.strip()]


def test_bar_ends_with_one_final_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The finished bar is drawn once, with the final tokens (not twice, the first with the previous count)."""
    bar = _eager(Progress(total_rows=3, enabled=True))
    for i in range(3):
        bar.advance(1, 100 * (i + 1))
    bar.close()
    lines = _lines(capsys.readouterr().err)
    finished = [line for line in lines if "100%" in line]
    assert len(finished) == 1 and "tokens=300" in finished[0], lines
    assert all("tokens=" not in line or "0/3" not in line for line in lines)


def test_each_line_shows_the_tokens_of_its_own_count(capsys: pytest.CaptureFixture[str]) -> None:
    """The tokens shown next to 1/2 are those used for that row, not the count before it."""
    bar = _eager(Progress(total_rows=2, enabled=True))
    bar.advance(1, 7)
    bar.advance(1, 19)
    bar.close()
    lines = _lines(capsys.readouterr().err)
    assert any("1/2" in line and "tokens=7" in line for line in lines), lines
    assert [line for line in lines if "2/2" in line][-1].endswith("tokens=19]")


def test_a_short_job_shows_no_bar(
    server: FakeServer, config: EmbedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """With progress=None a job that ends before the bar's delay prints nothing."""
    pd.DataFrame({"text": ["a", "b"]}).embed("text", config=config.replace(progress=None))
    assert _lines(capsys.readouterr().err) == []


def test_one_request_shows_no_bar_however_long_it_takes(
    server: FakeServer,
    config: EmbedConfig,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With progress=None a job of one request (a query, a model load) shows no bar even past the
    bar's delay; a job of several requests does."""
    from embedframe._job import progress

    monkeypatch.setattr(progress, "_DELAY_S", 0.0)
    auto = config.replace(progress=None)
    pd.DataFrame({"text": ["a", "b"]}).embed("text", config=auto)
    assert _lines(capsys.readouterr().err) == []
    pd.DataFrame({"text": ["c", "d"]}).embed("text", config=auto, max_inputs_per_request=1)
    assert any("2/2" in line for line in _lines(capsys.readouterr().err))
