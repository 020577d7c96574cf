"""Progress on stderr for the calls that take more than a few seconds, with one convention for ``progress``:
``True`` always shows a bar, ``None`` on a terminal only (a script's log stays clean), ``False`` never."""

from __future__ import annotations

import sys


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


__all__ = ["bar", "Steps"]
