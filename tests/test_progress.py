"""`scalelab.progress.ticking`: the seconds of one long call, on stderr, from a thread that ends with the call."""

import threading
import time

import pytest

from scalelab.progress import ticking


def _tickers():
    return [t for t in threading.enumerate() if t.name == "scalelab-ticking"]


def test_ticking_refreshes_while_the_block_runs_and_its_thread_ends_with_it(capsys):
    with ticking("fitting", True, every=0.01):
        assert len(_tickers()) == 1
        time.sleep(0.2)
    shown = capsys.readouterr().err
    assert shown.count("fitting: 00:00") >= 3  # the first line, the thread's refreshes, the last
    assert not _tickers()


def test_ticking_off_shows_nothing_and_starts_no_thread(capsys):
    with ticking("fitting", False, every=0.01):
        assert not _tickers()
        time.sleep(0.05)
    assert capsys.readouterr().err == ""


def test_ticking_stops_when_the_call_fails(capsys):
    with pytest.raises(ValueError, match="no fit"):
        with ticking("fitting", True, every=0.01):
            raise ValueError("no fit")
    assert not _tickers()
    assert "fitting" in capsys.readouterr().err
