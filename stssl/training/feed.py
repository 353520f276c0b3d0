"""The data feed of a run: the raw batches of every step, read ahead.

A batch is a function of its
step alone (:class:`IndexStream`: consecutive random permutations addressable by step), so a
resumed run reads exactly the batches it would have read, and reading ahead in a background
thread (:func:`prefetched`) changes nothing but the time.
"""

from __future__ import annotations

import atexit
import queue
import threading
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset

from stssl.config import RunConfig
from stssl.data import DataSplits
from stssl.meta import run_meta


class IndexStream:
    """Batches of indices drawn as consecutive random permutations (epochs), addressable by step."""

    def __init__(self, indices: np.ndarray, batch: int, seed: int, stream: int):
        self.indices, self.batch, self.seed, self.stream = np.asarray(indices), batch, seed, stream
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, self.stream, epoch])
            self._epoch, self._perm = epoch, rng.permutation(len(self.indices))
        return self._perm

    def at(self, step: int) -> np.ndarray:
        n = len(self.indices)
        pos = step * self.batch + np.arange(self.batch)
        out = np.empty(self.batch, dtype=np.int64)
        for epoch in np.unique(pos // n):
            sel = pos // n == epoch
            out[sel] = self._permutation(int(epoch))[pos[sel] % n]
        return self.indices[out]


PREFETCH = 2  # raw batches read ahead in a background thread; 0 reads them in the training loop
READER_JOIN_SECONDS = 60.0  # how long a stop waits for a read in progress (a hung file system must not hang the exit)


def prefetched(batches: Iterator, depth: int, pin: bool = False) -> Iterator:
    """``batches`` in order, read ``depth`` ahead by a background thread (pinned for a
    non-blocking copy to the GPU when ``pin``), so that reading overlaps the step. An error in
    the thread is raised here; closing the generator stops the thread and waits for it.

    The thread is also stopped and joined at interpreter exit: a daemon thread still inside
    torch's C++ code when Python finalises is killed by a forced unwind, which aborts the whole
    process ("terminate called without an active exception", exit 134) after a run that
    succeeded, in about one run in three here."""
    if depth <= 0:
        yield from batches
        return
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        """False once the consumer has gone."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if pin:
                    batch = {k: {n: t.pin_memory() for n, t in part.items()} for k, part in batch.items()}
                if not put(batch):
                    return
        except BaseException as err:  # handed to the training loop
            put(err)

    thread = threading.Thread(target=produce, name="stssl-prefetch", daemon=True)

    def finish() -> None:
        stop.set()
        thread.join(READER_JOIN_SECONDS)

    atexit.register(finish)
    thread.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        finish()
        atexit.unregister(finish)


class StepBatches(IterableDataset):
    """Raw (un-augmented, uint8) batches for steps ``start(), start()+1, ...``, with the
    teacher's metadata input ``meta`` encoded here, on the host: its range checks would make a
    GPU wait if they ran on the device. Read ahead by :func:`prefetched`: every batch is a
    function of its step alone, so reading ahead changes nothing, and a resumed run starts
    its reader at the step it resumes from.

    What the teacher is told can be made to say less: with ``permute_metadata`` each training
    sample's metadata are another's (a fixed permutation of the training split: the metadata keep
    their distribution and lose their information about the image, the control of what the
    metadata bring); with ``meta_dropout`` each sample's place, and independently its date, is
    hidden with that probability (a function of the seed and the step); ``hide_place`` and
    ``hide_date`` are the shares of the training images whose place or date is missing for good (a
    fixed subset, drawn from the seed: an archive that lost them)."""

    def __init__(self, data: DataSplits, cfg: RunConfig, uses_unlabelled: bool, start, pin: bool = False):
        self.data, self.start, self.uses_unlabelled, self.pin = data, start, uses_unlabelled, pin
        self.meta = run_meta(cfg)
        self.seed, self.dropout = cfg.seed, cfg.meta_dropout
        self.lb = IndexStream(data.labelled, cfg.batch_lb, cfg.seed, 0)
        self.ulb = IndexStream(data.unlabelled, cfg.batch_ulb, cfg.seed, 1)
        rng = np.random.default_rng([cfg.seed, 6])
        draws = rng.random((2, len(data.dataset)))
        self.no_place, self.no_date = (
            torch.from_numpy(d < share) for d, share in zip(draws, (cfg.hide_place, cfg.hide_date))
        )
        self.donor = None
        if cfg.permute_metadata:
            self.donor = np.arange(len(data.dataset))
            self.donor[data.train] = np.random.default_rng([cfg.seed, 2]).permutation(data.train)

    def _raw(self, indices: np.ndarray, step: int, stream: int) -> dict[str, torch.Tensor]:
        ds = self.data.dataset
        raw = ds.raw_batch(indices)
        told = (
            raw
            if self.donor is None
            else {k: torch.from_numpy(getattr(ds, k)[self.donor[indices]]) for k in ("lat", "lon", "doy")}
        )
        no_place, no_date = self.no_place[indices], self.no_date[indices]
        if self.dropout > 0:
            rng = np.random.default_rng([self.seed, 3 + stream, step])
            dropped = torch.from_numpy(rng.random((2, len(indices))) < self.dropout)
            no_place, no_date = no_place | dropped[0], no_date | dropped[1]
        if no_place.any() or no_date.any():
            told = {
                "lat": told["lat"].masked_fill(no_place, torch.nan),
                "lon": told["lon"].masked_fill(no_place, torch.nan),
                "doy": told["doy"].masked_fill(no_date, torch.nan),
            }
        raw["meta"] = self.meta(told)
        return raw

    def _batches(self):
        step = self.start()
        while True:
            batch = {"lb": self._raw(self.lb.at(step), step, 0)}
            if self.uses_unlabelled:
                batch["ulb"] = self._raw(self.ulb.at(step), step, 1)
            yield batch
            step += 1

    def __iter__(self):
        return prefetched(self._batches(), PREFETCH, self.pin)
