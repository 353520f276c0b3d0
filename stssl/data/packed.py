"""The fast path: a data set read once from its GeoTIFFs, then memory-mapped.

Decoding three GeoTIFFs per BigEarthNet patch costs milliseconds; a packed array costs a memory
copy. :func:`pack` writes RGB (uint8, N x S x S x 3), labels and metadata into ``.npy`` files
that :func:`open_packed` maps without reading them. Packing is

* resumable: rows are written in chunks, and ``progress.json`` records how many are done;
* atomic: everything is written under ``<out>.partial/`` and renamed to ``<out>`` only after the
  counts have been verified, so a half-written directory is never mistaken for a finished one.

A :class:`Source` (one per data set format) lists the samples and reads one of them; the same
sources also feed in-memory loading (:func:`read_all`) when nothing is packed.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from stssl.core.files import partial_path, publish_folder, write_text_atomic
from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.geo import DataError

FORMAT_VERSION = 1
ARRAYS = ("pixels", "labels", "lat", "lon", "doy")


@dataclass
class Record:
    """One sample as read from disk."""

    pixels: np.ndarray  # uint8 S x S x 3
    label: np.ndarray | int  # multi-hot float32 vector, or class index
    lat: float
    lon: float
    doy: float  # NaN when unknown


class Source(Protocol):
    """A data set in its original layout: sample ids in a fixed order, and a reader for one."""

    ids: list[str]
    task: TaskInfo
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def read(self, i: int) -> Record: ...

    def describe(self) -> dict:
        """What determines the packed content besides the ids (name, size, classes, scaling)."""
        ...


def _signature(source: Source) -> dict:
    ids_hash = hashlib.sha1("\n".join(source.ids).encode()).hexdigest()
    return {"format": FORMAT_VERSION, **source.describe(), "n": len(source.ids), "ids_sha1": ids_hash}


def _empty(source: Source, n: int, alloc) -> dict[str, np.ndarray]:
    s, multilabel = source.image_size, source.task.multilabel
    return {
        "pixels": alloc("pixels", (n, s, s, 3), np.uint8),
        "labels": alloc(
            "labels", (n, source.task.num_classes) if multilabel else (n,), np.float32 if multilabel else np.int64
        ),
        "lat": alloc("lat", (n,), np.float32),
        "lon": alloc("lon", (n,), np.float32),
        "doy": alloc("doy", (n,), np.float32),
    }


def _read_range(source: Source, start: int, stop: int) -> list[Record]:
    return [source.read(i) for i in range(start, stop)]


_worker_source: Source | None = None


def _start_worker(source: Source) -> None:
    """Each reader process gets the source once (not with every task) and one torch thread."""
    import torch

    global _worker_source
    _worker_source = source
    torch.set_num_threads(1)


def _read_in_worker(bounds: tuple[int, int]) -> list[Record]:
    return _read_range(_worker_source, *bounds)


def _chunks(source: Source, start: int, chunk: int, workers: int) -> Iterator[tuple[int, list[Record]]]:
    """(first index, records) per chunk from ``start`` on, in order; ``workers`` > 0 reads in parallel.

    Reader processes are spawned, not forked: a fork of a process whose torch/OpenMP thread pool
    has run can deadlock in the child.
    """
    bounds = [(a, min(a + chunk, len(source.ids))) for a in range(start, len(source.ids), chunk)]
    if workers <= 0:
        for a, b in bounds:
            yield a, _read_range(source, a, b)
        return
    step = max(1, chunk // workers)  # sub-chunks, so that every worker has work
    with ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=(source,)
    ) as pool:
        for a, b in bounds:
            parts = pool.map(_read_in_worker, [(s, min(s + step, b)) for s in range(a, b, step)])
            yield a, [r for part in parts for r in part]


def _store(arrays: dict[str, np.ndarray], start: int, records: list[Record]) -> None:
    stop = start + len(records)
    arrays["pixels"][start:stop] = np.stack([r.pixels for r in records])
    arrays["labels"][start:stop] = np.stack([np.asarray(r.label) for r in records])
    for name in ("lat", "lon", "doy"):
        arrays[name][start:stop] = [getattr(r, name) for r in records]


def read_all(source: Source, workers: int = 0, chunk: int = 256) -> dict[str, np.ndarray]:
    """Every sample of ``source`` into memory (the slow path), with a progress bar."""
    arrays = _empty(source, len(source.ids), lambda _, shape, dtype: np.empty(shape, dtype))
    with tqdm(total=len(source.ids), desc=f"reading {source.describe()['dataset']}", unit="img") as bar:
        for start, records in _chunks(source, 0, chunk, workers):
            _store(arrays, start, records)
            bar.update(len(records))
    return arrays


def _write_json(path: Path, obj: dict) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1))


def pack(source: Source, out: Path | str, workers: int = 0, chunk: int = 1024) -> Path:
    """Pack ``source`` into ``out`` (resuming an interrupted run), verify it, and return ``out``."""
    out = Path(out)
    sig = _signature(source)
    if (out / "manifest.json").exists():
        done = json.loads((out / "manifest.json").read_text())
        if done.get("signature") == sig:
            return out
        raise DataError(
            f"{out} already holds a different packed data set ({done.get('signature')}); "
            "choose another --out or delete it"
        )
    if out.exists():
        raise DataError(f"{out} exists and is not a packed data set; choose another --out")
    partial = partial_path(out)
    progress = partial / "progress.json"
    state = json.loads(progress.read_text()) if progress.exists() else {}
    if state.get("signature") != sig:  # nothing to resume, or another data set: start afresh
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (partial / "ids.txt").write_text("\n".join(source.ids) + "\n")
        state = {"signature": sig, "done": 0}
        arrays = _empty(
            source,
            len(source.ids),
            lambda name, shape, dtype: np.lib.format.open_memmap(partial / f"{name}.npy", "w+", dtype, shape),
        )
        for arr in arrays.values():
            arr.flush()
        _write_json(progress, state)
    arrays = {name: np.load(partial / f"{name}.npy", mmap_mode="r+") for name in ARRAYS}
    with tqdm(total=len(source.ids), initial=state["done"], desc=f"packing {sig['dataset']}", unit="img") as bar:
        for start, records in _chunks(source, state["done"], chunk, workers):
            _store(arrays, start, records)
            for arr in arrays.values():
                arr.flush()
            state["done"] = start + len(records)
            _write_json(progress, state)
            bar.update(len(records))
    del arrays
    manifest = _verify(partial, source, sig, state["done"])
    _write_json(partial / "manifest.json", manifest)
    progress.unlink()
    publish_folder(partial, out)
    return out


def _verify(partial: Path, source: Source, sig: dict, done: int) -> dict:
    """Check that every row was written and is plausible; return the manifest."""
    n = len(source.ids)
    ids = (partial / "ids.txt").read_text().splitlines()
    arrays = {name: np.load(partial / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
    problems = []
    if done != n or len(ids) != n:
        problems.append(f"{done} of {n} rows written, {len(ids)} ids")
    problems += [f"{name} has {len(a)} rows" for name, a in arrays.items() if len(a) != n]
    if not (np.isfinite(arrays["lat"]).all() and np.isfinite(arrays["lon"]).all()):
        problems.append("some locations are not finite")
    if problems:
        raise DataError(f"packing {partial} failed verification: {'; '.join(problems)}")
    labels = np.asarray(arrays["labels"])
    per_class = labels.sum(0) if source.task.multilabel else np.bincount(labels, minlength=source.task.num_classes)
    return {
        "signature": sig,
        "class_names": list(source.task.class_names),
        "multilabel": source.task.multilabel,
        "mean": list(source.mean),
        "std": list(source.std),
        "count": n,
        "per_class": dict(zip(source.task.class_names, per_class.astype(int).tolist())),
    }


def is_packed(path: Path | str) -> bool:
    return (Path(path) / "manifest.json").is_file()


def packed_dir(root: Path | str, image_size: int) -> Path:
    """Where ``prepare-data`` packs by default, and where the loaders look."""
    return Path(root) / f"stssl-packed-{image_size}"


def find_packed(root: Path | str, dataset: str, image_size: int) -> MetaDataset | None:
    """The packed form of ``dataset`` at ``root`` itself or in :func:`packed_dir`, if either exists."""
    for cand in (Path(root), packed_dir(root, image_size)):
        if is_packed(cand):
            return open_packed(cand, {"dataset": dataset, "image_size": image_size})
    return None


def open_packed(path: Path | str, expect: dict | None = None) -> MetaDataset:
    """The packed data set at ``path`` as a :class:`MetaDataset` whose pixels are memory-mapped.

    ``expect`` (e.g. ``{"dataset": "bigearthnet", "image_size": 128}``) must match the packed
    signature, so a data set packed at another size or with other classes is never used by mistake.
    """
    path = Path(path)
    manifest = json.loads((path / "manifest.json").read_text())
    sig = manifest["signature"]
    wrong = {k: (sig.get(k), v) for k, v in (expect or {}).items() if sig.get(k) != v}
    if wrong:
        details = ", ".join(f"{k}: packed {a!r}, wanted {b!r}" for k, (a, b) in wrong.items())
        raise DataError(
            f"{path} was packed with other settings ({details}); run `python -m stssl prepare-data` "
            "again with matching options and another --out"
        )
    arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
    ids = np.array((path / "ids.txt").read_text().splitlines())
    task = TaskInfo(tuple(manifest["class_names"]), manifest["multilabel"])
    return MetaDataset(
        arrays["pixels"],
        np.asarray(arrays["labels"]),
        arrays["lat"],
        arrays["lon"],
        arrays["doy"],
        ids,
        task,
        tuple(manifest["mean"]),
        tuple(manifest["std"]),
    )


def to_dataset(source: Source, arrays: dict[str, np.ndarray]) -> MetaDataset:
    """In-memory arrays from :func:`read_all` as a :class:`MetaDataset`."""
    return MetaDataset(
        arrays["pixels"],
        arrays["labels"],
        arrays["lat"],
        arrays["lon"],
        arrays["doy"],
        np.array(source.ids),
        source.task,
        source.mean,
        source.std,
    )
