"""Progress of long loops: a tqdm bar that moves every second, or, with bars off, a periodic log line.

tqdm's defaults adapt how often the bar is checked to the first iterations' speed, which on a slow
first iteration (data loading, validation) left a bar at "0/60" for dozens of iterations; every bar
here checks the clock at every iteration (``miniters=1``) and redraws at most once a second.
Batch jobs (``progress=False``: CLI ``--no-progress``, notebooks run by Snakemake) get one log line
every ``interval_s`` seconds instead, with the rate, the time left and the bar's postfix.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Iterator

from tqdm.auto import tqdm

log = logging.getLogger(__name__)
#: seconds between two redraws of a bar
BAR_INTERVAL_S = 1.0
#: seconds between two log lines when bars are off
LOG_INTERVAL_S = 30.0


def progress_bar(iterable: Iterable[Any], *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """``tqdm(iterable)`` that redraws at most every :data:`BAR_INTERVAL_S` s, checking at every iteration."""
    return tqdm(iterable, disable=not enabled, mininterval=BAR_INTERVAL_S, miniters=1, dynamic_ncols=True,
                **kwargs)


class LoopProgress:
    """Iterations ``start .. stop - 1`` of a loop of ``total``: a bar (:func:`progress_bar`) when ``enabled``,
    else a log line (``desc: it/total, rate, time left, postfix``) after the first iteration, then at most
    every ``interval_s`` seconds, and after the last one. Used as ``for it in LoopProgress(...)``."""

    def __init__(self, start: int, stop: int, total: int, *, enabled: bool = True, desc: str = "",
                 interval_s: float = LOG_INTERVAL_S) -> None:
        self.start, self.stop, self.total, self.desc, self.interval_s = start, stop, total, desc, interval_s
        self.postfix: dict[str, Any] = {}
        self.bar = progress_bar(range(start, stop), initial=start, total=total, desc=desc) if enabled else None

    def __iter__(self) -> Iterator[int]:
        if self.bar is not None:
            yield from self.bar
            return
        t0 = last = time.monotonic()
        for it in range(self.start, self.stop):
            yield it
            now = time.monotonic()
            if it == self.start or it == self.stop - 1 or now - last >= self.interval_s:
                self.log_line(it + 1, now - t0)
                last = now

    def log_line(self, done: int, elapsed_s: float) -> None:
        """Log ``done`` of :attr:`total` iterations, ``elapsed_s`` seconds after :attr:`start`."""
        n = done - self.start
        rate = elapsed_s / n if n else float("nan")
        left = rate * (self.total - done) / 60 if n else float("nan")
        post = "".join(f", {k}={v}" for k, v in self.postfix.items())
        log.info("%s: %d/%d (%.0f%%), %.2f s/it, %.1f min left%s", self.desc, done, self.total,
                 100.0 * done / max(self.total, 1), rate, left, post)

    def set_postfix(self, **values: Any) -> None:
        """Values shown after the bar (or at the end of the log line)."""
        self.postfix = values
        if self.bar is not None:
            self.bar.set_postfix(**values)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
