"""Progress on stderr for the calls that take more than a few seconds, with one convention for ``progress``:
``True`` always shows a bar, ``None`` on a terminal only (a script's log stays clean), ``False`` never."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager


def bar(total: int, desc: str, unit: str, progress: bool | None):
    """A tqdm bar on stderr of ``total`` ``unit``s, shown as ``progress`` says (see the module)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr,
                disable=True if progress is False else (None if progress is None else False))


class Steps:
    """A bar over the steps of one long call: ``steps("fitting")`` finishes the step before and names the one
    that starts; ``steps.close()`` finishes the last and fills the bar (steps that did not apply are skipped).

    ``Steps(4, "report", progress)``: at most 4 steps, shown as ``progress`` says (see the module).
    """

    def __init__(self, total: int, desc: str, progress: bool | None):
        self._bar = bar(total, desc, "step", progress)
        self._started = False

    def __call__(self, name: str) -> None:
        if self._started:
            self._bar.update(1)
        self._started = True
        self._bar.set_postfix_str(name)

    def close(self) -> None:
        self._bar.set_postfix_str("done")
        self._bar.update(self._bar.total - self._bar.n)
        self._bar.close()


@contextmanager
def ticking(desc: str, progress: bool | None, every: float = 0.5):
    """A line on stderr that shows the seconds spent inside the ``with`` block, refreshed every ``every`` seconds
    by a daemon thread, for one long call that cannot report its own steps (one compiled fit: a cold compile, or a
    curve law's schedule sums). Shown as ``progress`` says (see the module); the thread ends with the block."""
    from tqdm.auto import tqdm

    line = tqdm(desc=desc, file=sys.stderr, bar_format="{desc}: {elapsed}",
                disable=True if progress is False else (None if progress is None else False))
    done = threading.Event()

    def tick():
        while not done.wait(every):
            line.refresh()

    ticker = None if line.disable else threading.Thread(target=tick, name="scalelab-ticking", daemon=True)
    if ticker is not None:
        ticker.start()
    try:
        yield line
    finally:
        done.set()
        if ticker is not None:
            ticker.join()
        line.close()


__all__ = ["bar", "Steps", "ticking"]
