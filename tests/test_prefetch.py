"""Raw batches read ahead in a background thread: the same numbers as reading them in the loop,
an exact resume, errors raised in the training loop, and no reader left behind."""

import gc
import itertools
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest

import stssl.training.feed
from stssl.config import resolve
from stssl.data import load_data
from stssl.training import train
from stssl.training.feed import prefetched

CFG = resolve("smoke", algo="fixmatch", st=True, steps=8, eval_every=4)


def _readers_alive(timeout: float = 2.0) -> bool:
    """Whether a reader thread still runs after ``timeout`` seconds (it notices a stop within 0.1 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gc.collect()
        if not any(t.name == "stssl-prefetch" for t in threading.enumerate()):
            return False
        time.sleep(0.05)
    return True


def test_prefetched_keeps_the_order_raises_the_readers_error_and_stops():
    assert list(itertools.islice(prefetched(iter(range(1000)), 3), 1000)) == list(range(1000))

    def unreadable():
        yield 1
        raise OSError("unreadable file")

    batches = prefetched(unreadable(), 2)
    assert next(batches) == 1
    with pytest.raises(OSError, match="unreadable file"):
        next(batches)
    endless = prefetched(itertools.count(), 2)
    next(endless)
    endless.close()
    assert not _readers_alive()


def test_a_reader_stuck_in_a_read_does_not_hold_the_stop_forever(monkeypatch):
    monkeypatch.setattr(stssl.training.feed, "READER_JOIN_SECONDS", 0.3)
    never = threading.Event()

    def hung_file_system():
        yield 0
        never.wait()  # a read that never returns
        yield 1

    batches = prefetched(hung_file_system(), 1)
    assert next(batches) == 0
    closing = threading.Thread(target=batches.close, daemon=True)  # so that a regression fails, not hangs
    closing.start()
    closing.join(5)
    stuck = closing.is_alive()
    never.set()
    assert not stuck
    assert not _readers_alive()


def test_a_reader_busy_in_torch_when_python_exits_does_not_abort_the_process():
    # the reader is inside a matrix product when the interpreter finalises; a daemon thread
    # killed there aborts a run that has finished ("terminate called without an active exception")
    script = textwrap.dedent("""
        import torch
        from stssl.training.feed import prefetched
        torch.set_num_threads(1)
        def products():
            a = torch.randn(1200, 1200)
            while True:
                yield (a @ a @ a).sum()
        batches = prefetched(products(), 1)
        next(batches)  # and exit without closing the reader
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def smoke_data():
    return load_data(CFG.dataset, None, CFG.dataset_params, CFG.label_fraction, CFG.seed)


def test_training_reads_ahead_without_changing_a_number_and_resumes_exactly(
    smoke_data, tmp_path, monkeypatch, crash_after_evaluation
):
    assert stssl.training.feed.PREFETCH > 0
    ahead = pd.DataFrame(train(CFG, progress=False, data=smoke_data).history)
    monkeypatch.setattr(stssl.training.feed, "PREFETCH", 0)
    in_loop = pd.DataFrame(train(CFG, progress=False, data=smoke_data).history)
    pd.testing.assert_frame_equal(ahead, in_loop)

    monkeypatch.undo()
    crash_after_evaluation(4)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(CFG, tmp_path, progress=False, data=smoke_data)
    crash_after_evaluation.disarm()
    pd.testing.assert_frame_equal(pd.DataFrame(train(CFG, tmp_path, progress=False, data=smoke_data).history), ahead)
    assert not _readers_alive()
