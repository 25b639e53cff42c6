"""The progress bar: rows done and tokens used, through ``tqdm.auto`` (a widget in Jupyter)."""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():
    # Jupyter without ipywidgets: tqdm.auto warns and falls back to the text bar, which is fine.
    warnings.simplefilter("ignore")
    from tqdm.auto import tqdm

__all__ = ["Progress"]

_DELAY_S = 2.0
"""With ``progress=None`` the bar appears only once a job has run this long."""


class Progress:
    """Counts rows and tokens; shows a bar when ``enabled`` (``None``: only for jobs of more
    than one request that take a while).

    Rows of a chunked text complete a fraction at a time; the bar shows whole rows.
    """

    def __init__(
        self, *, total_rows: int, done_rows: float = 0.0, enabled: bool | None = None, requests: int = 2
    ) -> None:
        self._bar: Any = None
        self._done = done_rows
        if enabled is None and requests <= 1:
            enabled = False  # one request (a query, a handful of rows) is no work to follow
        if enabled is not False:
            self._bar = tqdm(
                total=total_rows,
                initial=round(done_rows),
                unit="row",
                desc="embedding",
                delay=0.0 if enabled else _DELAY_S,
                dynamic_ncols=True,
            )

    def advance(self, rows: float, tokens: int) -> None:
        """``rows`` more rows done; ``tokens`` used so far (shown with the count it belongs to)."""
        self._done += rows
        bar = self._bar
        if bar is None:
            return
        bar.set_postfix(tokens=f"{tokens:,}", refresh=False)
        done = round(self._done)
        if done >= bar.total:
            bar.n = done  # the last step is drawn once, by close(): one final line, not two
        else:
            bar.update(done - bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
