"""Images per second: BigEarthNet GeoTIFF/JSON reading vs the packed, memory-mapped arrays.

Both paths produce the same training batch (uint8 RGB at 128 px, multi-hot labels, lat, lon,
day of year); the test suite checks that they are identical. Timed, in one run, with the same
random batches of ``--batch`` indices:

* ``geotiff``  what a loader without packing does per sample: open B04/B03/B02 (rasterio), scale
  radiometrically, resize 120 -> 128, quantise; parse the JSON, convert the UTM box centre to WGS84;
* ``packed``   ``MetaDataset.raw_batch`` on the output of ``python -m stssl prepare-data``.

Without ``--root``, the data are the six real BigEarthNet-S2 patches shipped in
``bigearthnet-common``, copied under new names until there are ``--patches`` of them (real
GeoTIFF encoding and JSON, synthetic count). Every file is read once before timing, so both paths
run from the page cache: the ratio is decoding cost, not disk speed (on a cold disk the GeoTIFF
path, with four files per patch, falls further behind). The packed path cycles through the same
batches 50 times, because one batch takes well under a millisecond.

    python benchmarks/data_speed.py                      # 600 patches from the shipped examples
    python benchmarks/data_speed.py --root DATA/bigearthnet --patches 5000
"""

from __future__ import annotations

import argparse
import importlib.resources
import platform
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from stssl.data.bigearthnet import BigEarthNetSource, find_patches, patch_root
from stssl.data.packed import open_packed, pack


def example_root(tmp: Path, n: int) -> Path:
    """``n`` patch folders made of copies of the six shipped example patches."""
    res = importlib.resources.files("bigearthnet_common") / "BigEarthNet-S2-Example.tar.bz2"
    with importlib.resources.as_file(res) as path, tarfile.open(path) as tar:
        tar.extractall(tmp / "src", filter="data")
    examples = sorted((tmp / "src" / "BigEarthNet-S2-Example").iterdir())
    root = tmp / "BigEarthNet-v1.0"
    for i in range(n):
        ex = examples[i % len(examples)]
        name = f"{ex.name}_copy{i:05d}"
        (root / name).mkdir(parents=True)
        for f in ex.iterdir():
            shutil.copyfile(f, root / name / f.name.replace(ex.name, name))
    return tmp


def time_batches(read_batch, batches: list[np.ndarray]) -> float:
    """Images per second over all ``batches`` (after one warm-up batch)."""
    read_batch(batches[0])
    start = time.perf_counter()
    for b in batches:
        read_batch(b)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="a BigEarthNet root (default: copies of the shipped example patches)")
    parser.add_argument("--patches", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one loader process either way
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = Path(args.root) if args.root else example_root(tmp, args.patches)
        ids = find_patches(root)[: args.patches]
        source = BigEarthNetSource(patch_root(root), ids)
        for i in range(len(ids)):  # fill the page cache for both paths alike
            for f in (source.root / ids[i]).iterdir():
                f.read_bytes()
        start = time.perf_counter()
        ds = open_packed(pack(source, tmp / "packed", chunk=256))
        pack_s = time.perf_counter() - start
        rng = np.random.default_rng(0)
        batches = [rng.choice(len(ids), args.batch, replace=False) for _ in range(args.batches)]
        geotiff = time_batches(lambda b: [source.read(int(i)) for i in b], batches)
        packed = time_batches(ds.raw_batch, batches * 50)  # each batch takes well under a millisecond
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread, "
        f"python {platform.python_version()}"
    )
    print(
        f"{len(ids)} patches ({'from ' + str(root) if args.root else 'copies of the 6 shipped examples'}), "
        f"{args.batches} random batches of {args.batch}"
    )
    print(f"prepare-data (pack) took {pack_s:.1f} s = {len(ids) / pack_s:.0f} patches/s")
    print(f"geotiff: {geotiff:10.0f} images/s")
    print(f"packed:  {packed:10.0f} images/s")
    print(f"ratio packed/geotiff: {packed / geotiff:.0f}x")


if __name__ == "__main__":
    main()
