"""`make gpu-check`: the paper's training path measured in minutes on one GPU; a CPU miniature otherwise.

Nothing is downloaded: a packed BigEarthNet-format data set (43 classes, RGB textures whose labels
depend on a European location and a date) is made on the spot, then

a. one training step (forward, loss, backward, AdamW, EMA) of ST-FixMatch, FixMatch and the
   supervised baseline at the paper batch (64 + 448, ViT-S/16 at 128 px) in fp32, bf16 and bf16 +
   compile: seconds, images/s, peak memory, and the model FLOP utilisation from the analytic FLOP
   count printed first; the same for EuroSAT's step (ViT-S/2 at 32 px, 8 + 8);
b. the data pipeline alone: the packed reader on the host, then both views on the device;
c. a real ``paper``-profile ST-FixMatch run on that data (bf16 + compile), timed by a callback
   given to ``train()``: interrupted right after its first evaluation and checkpoint, resumed,
   then checked (finite, falling loss, evaluations);
d. projected wall times: one 64k-step BigEarthNet run with its 32 evaluations and the final test,
   EuroSAT's 204 800-step run, and every notebook's runs at paper scale.

On CUDA the report goes to ``benchmarks/RESULTS-gpu.md``; without a GPU the same stages run at
miniature sizes on the CPU (``--size mini``, under 3 minutes) and the report, marked as such, goes
to ``benchmarks/RESULTS-gpu-miniature.md``. A JSON file with every figure is written beside it. The
report is rewritten after every stage, and a failing stage is recorded and skipped, so a run cut
short still returns what it measured.

The script runs from the source tree without installing ``stssl`` (the repository root on
``PYTHONPATH``; the training step of a and e is ``benchmarks/harness.py``'s) and imports only
torch, timm, lightning, numpy, pandas, scikit-learn, pyyaml and tqdm (what the GPU machine has; the
views are the library's own batched operations, no kornia). On the device machine, from the
repository root:

    PYTHONUNBUFFERED=1 PYTHONPATH=. python3 benchmarks/gpu_check.py --out $OUT/RESULTS-gpu.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import lightning as L
import numpy as np
import torch

from benchmarks.harness import KINDS, Shape, library_timer, sync, timed
from stssl.algorithms.steps import Views
from stssl.cache import RunFolder
from stssl.config import resolve
from stssl.core.devices import cpu_has_bf16, resolve_device
from stssl.data import DataSplits, TaskInfo
from stssl.data.packed import Record, open_packed, pack
from stssl.data.splits import labelled_subset
from stssl.meta import batch_meta, encode_meta
from stssl.models import VIT_SIZES, build_model
from stssl.training import train
from stssl.training.feed import IndexStream
from stssl.training.fit import resolve_precision

HERE = Path(__file__).resolve().parent
PRECISIONS = ("fp32", "bf16", "bf16+compile")
# Dense peak rates (datasheets) for the MFU column; fp32 is the non-tensor-core rate, which
# PyTorch's default matmul precision ("highest": no TF32) uses.
PEAK_TFLOPS = {
    "H100": {"bf16": 989.0, "fp32": 67.0},
    "H200": {"bf16": 989.0, "fp32": 67.0},
    "A100": {"bf16": 312.0, "fp32": 19.5},
}
# The paper's scale (the authors' configs; BigEarthNet's official split sizes; EuroSAT's USB split).
PAPER = {
    "ben_steps": 64_000,
    "ben_eval_every": 2_000,
    "ben_val": 123_723,
    "ben_test": 125_866,
    "eurosat_steps": 204_800,
    "eurosat_eval_every": 2_048,
    "eurosat_val": 5_400,
    "eurosat_test": 5_400,
    "eurosat_eval_batch": 16,
}


@dataclass(frozen=True)
class Size:
    n_images: int
    bigearthnet: Shape
    eurosat: Shape
    warmup: int  # untimed steps per measurement (the first one also compiles)
    timed: int
    run_steps: int  # stage c
    eval_every: int
    eval_batch_size: int
    compile: bool = True
    numerics_steps: int = 50  # stage e


SIZES = {
    "gpu": Size(
        20_000,
        Shape("BigEarthNet", "vit_small_patch16", 128, 64, 7, 43, True),
        Shape("EuroSAT", "vit_small_patch2", 32, 8, 1, 10, False),
        warmup=3,
        timed=20,
        run_steps=300,
        eval_every=150,
        eval_batch_size=512,
    ),
    "mini": Size(
        1_200,
        Shape("BigEarthNet (miniature)", "vit_tiny_patch8", 32, 8, 3, 43, True),
        Shape("EuroSAT (miniature)", "vit_tiny_patch8", 32, 8, 1, 10, False),
        warmup=2,
        timed=4,
        run_steps=40,
        eval_every=20,
        eval_batch_size=256,
    ),
    "tiny": Size(
        300,
        Shape("BigEarthNet (miniature)", "vit_micro_patch8", 32, 4, 2, 43, True),
        Shape("EuroSAT (miniature)", "vit_micro_patch8", 32, 4, 1, 10, False),
        warmup=1,
        timed=2,
        run_steps=8,
        eval_every=4,
        eval_batch_size=128,
        compile=False,
        numerics_steps=4,
    ),
}


# ----------------------------------------------------------------------------- FLOP count
def forward_flops(model: str, image_size: int, classes: int, extra_token: bool) -> float:
    """One image through the network: the matrix products of patch embedding, blocks (QKV,
    attention scores and values, projection, MLP) and head, two FLOP per multiply-add. Norms,
    softmax, GELU and the metadata MLP are left out (under 1 % at ViT-S)."""
    size = VIT_SIZES[model]
    patches = (image_size // size.patch_size) ** 2
    n, d = 1 + patches + int(extra_token), size.embed_dim
    hidden = d * size.mlp_ratio
    block = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * d * hidden
    return 2 * patches * size.patch_size**2 * 3 * d + size.depth * block + 2 * d * classes


def step_flops(kind: str, shape: Shape) -> float:
    """One training step; a backward pass counts twice its forward. ST: teacher and student
    train on the B_l + B_u views with gradient, the teacher also forwards the B_u weak views
    without; plain: one network does both; supervised: B_l images with gradient."""
    train_images, weak = shape.batch_lb + shape.batch_ulb, shape.batch_ulb
    if kind == "supervised":
        return 3 * shape.batch_lb * forward_flops(shape.model, shape.image_size, shape.classes, False)
    if kind == "FixMatch":
        fwd = forward_flops(shape.model, shape.image_size, shape.classes, False)
        return (3 * train_images + weak) * fwd
    fwd = forward_flops(shape.model, shape.image_size, shape.classes, True)
    return (3 * train_images + weak) * fwd + 3 * train_images * fwd


def flop_summary(shape: Shape) -> list[str]:
    size = VIT_SIZES[shape.model]
    tokens = 1 + (shape.image_size // size.patch_size) ** 2 + 1
    fwd = forward_flops(shape.model, shape.image_size, shape.classes, True)
    lines = [
        f"{shape.name}: {shape.model} at {shape.image_size} px, {tokens} tokens with the extra token: "
        f"{fwd / 1e9:.4g} GFLOP per image forward, {3 * fwd / 1e9:.4g} forward + backward"
    ]
    for kind in KINDS:
        batch = f"{shape.batch_lb} labelled" if kind == "supervised" else f"{shape.batch_lb} + {shape.batch_ulb}"
        lines.append(f"  {kind} step at {batch}: {step_flops(kind, shape) / 1e12:.4g} TFLOP")
    return lines


# ----------------------------------------------------------------------------- the data set
class TextureSource:
    """A BigEarthNet-format data set made on the spot (``stssl.data.packed.Source``).

    43 classes, each an oriented colour grating; an image is the mean of its classes' gratings plus
    noise. Locations (Europe) and dates make some classes more likely, so metadata helps the
    teacher and the loss can fall within a few hundred steps. Images are made 512 at a time,
    vectorised, as ``pack`` reads them in order.
    """

    CHUNK = 512

    def __init__(self, n: int, image_size: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.ids = [f"texture_{i:06d}" for i in range(n)]
        self.task = TaskInfo(tuple(f"class {c:02d}" for c in range(43)), multilabel=True)
        self.image_size, self.mean, self.std = image_size, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
        self.lat, self.lon = rng.uniform(36, 70, n), rng.uniform(-10, 30, n)
        self.doy = rng.integers(1, 366, n).astype(np.float32)
        features = encode_meta(self.lat, self.lon, self.doy).numpy()
        logits = features @ rng.normal(0, 3, (4, 43)) + rng.normal(-2.5, 0.7, 43)
        probs = 1 / (1 + np.exp(-logits))
        labels = rng.random((n, 43)) < probs
        labels[np.arange(n), probs.argmax(1)] = True  # every image shows at least one class
        self.labels = labels.astype(np.float32)
        s = np.arange(image_size) / image_size
        yy, xx = np.meshgrid(s, s, indexing="ij")
        angle, freq = rng.uniform(0, np.pi, (2, 43, 1, 1)), rng.uniform(2, 12, (43, 1, 1))
        wave = np.sin(2 * np.pi * freq * (np.cos(angle[0]) * xx + np.sin(angle[0]) * yy) + angle[1])
        colour = rng.uniform(-1, 1, (43, 3))
        self.patterns = (wave[..., None] * colour[:, None, None, :]).reshape(43, -1).astype(np.float32)
        self._seed, self._chunk, self._pixels = seed, -1, None

    def read(self, i: int) -> Record:
        chunk = i // self.CHUNK
        if chunk != self._chunk:
            rows = slice(chunk * self.CHUNK, min((chunk + 1) * self.CHUNK, len(self.ids)))
            lab = self.labels[rows]
            mix = lab @ self.patterns / np.sqrt(lab.sum(1, keepdims=True))
            noise = np.random.default_rng([self._seed, chunk]).standard_normal(mix.shape, dtype=np.float32)
            pixels = np.clip(128 + 80 * mix + 16 * noise, 0, 255).astype(np.uint8)
            self._chunk, self._pixels = chunk, pixels.reshape(-1, self.image_size, self.image_size, 3)
        return Record(
            self._pixels[i - chunk * self.CHUNK],
            self.labels[i],
            float(self.lat[i]),
            float(self.lon[i]),
            float(self.doy[i]),
        )

    def describe(self) -> dict:
        return {"dataset": "bigearthnet", "image_size": self.image_size, "generator": "gpu_check textures 1"}


def make_data(size: Size, root: Path) -> tuple[Path, DataSplits, float]:
    """Pack the texture data set under ``root``; splits 80/10/10 and 1 % labelled (the paper's
    BigEarthNet budget). Returns the packed folder, the splits and the seconds it took."""
    start = time.perf_counter()
    source = TextureSource(size.n_images, size.bigearthnet.image_size)
    path = pack(source, root / "bigearthnet-packed", chunk=2048)
    ds = open_packed(path, {"dataset": "bigearthnet", "image_size": size.bigearthnet.image_size})
    order = np.random.default_rng(0).permutation(len(ds))
    n_val = len(ds) // 10
    val, test, train = np.sort(order[:n_val]), np.sort(order[n_val : 2 * n_val]), np.sort(order[2 * n_val :])
    labelled = train[labelled_subset(ds.label_matrix()[train], 0.01, 0)]
    return path, DataSplits(ds, train, val, test, labelled, train), time.perf_counter() - start


# ----------------------------------------------------------------------------- stage a
def peak_tflops(device: torch.device) -> dict[str, float] | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def time_step(kind: str, shape: Shape, precision: str, device: torch.device, size: Size) -> dict:
    """Seconds per step (mean of ``size.timed`` after ``size.warmup``), the first step's seconds
    (the compile, for bf16+compile), images/s (B_l + B_u per step), peak device memory, achieved
    TFLOP/s and MFU."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    timer = library_timer(kind, shape, device, bf16=precision != "fp32", compiled=precision.endswith("compile"))
    first = timed(timer.step, device)[1]
    for i in range(1, size.warmup):
        timer.step(i)
    sync(device)
    losses, seconds = timed(lambda: [timer.step(size.warmup + i).loss.detach() for i in range(size.timed)], device)
    seconds /= size.timed
    flops = step_flops(kind, shape)
    peak = peak_tflops(device)
    images = shape.batch_lb + (0 if kind == "supervised" else shape.batch_ulb)
    out = {
        "kind": kind,
        "shape": shape.name,
        "precision": precision,
        "seconds": seconds,
        "first_step_s": first,
        "steps_per_s": 1 / seconds,
        "images_per_s": images / seconds,
        "tflops": flops / seconds / 1e12,
        "mfu": flops / seconds / 1e12 / peak["fp32" if precision == "fp32" else "bf16"] if peak else None,
        "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "finite": bool(torch.isfinite(torch.stack(losses)).all()),
    }
    if device.type == "cuda" and precision == "bf16":
        out["syncs_per_step"], out["sync_sites"] = count_syncs(lambda: timer.step(0))
    return out


def count_syncs(fn, repeats: int = 2) -> tuple[float, list[str]]:
    """Host synchronisations per call of ``fn`` (``torch.cuda.set_sync_debug_mode``) and where."""
    sites: dict[str, int] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(repeats):
                fn()
            torch.cuda.synchronize()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    for w in caught:
        if "synchroniz" in str(w.message):
            site = f"{Path(w.filename).name}:{w.lineno}"
            sites[site] = sites.get(site, 0) + 1
    return sum(sites.values()) / repeats, [f"{k} ({v})" for k, v in sorted(sites.items())]


def time_eval_forward(shape: Shape, batch: int, device: torch.device, bf16: bool, n: int) -> float:
    """Images/s of one network in eval mode (no gradient) at ``batch`` images per call."""
    torch.manual_seed(0)
    net = build_model(shape.model, shape.image_size, shape.classes).to(device).eval()
    x = torch.randn(batch, 3, shape.image_size, shape.image_size, device=device)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        net(x)
        sync(device)
        start = time.perf_counter()
        for _ in range(n):
            net(x)
        sync(device)
    return n * batch / (time.perf_counter() - start)


# ----------------------------------------------------------------------------- stage e
def bf16_numerics(splits: DataSplits, shape: Shape, device: torch.device, steps: int) -> dict:
    """fp32 and bf16 autocast trained side by side from the same weights on the same batches and
    views (GeoSynth's fused views, re-seeded per step, as are the networks' stochastic depth):
    ST-FixMatch's losses and pseudo-label masks, ST-FreeMatch's running state (change from its
    start, bf16 against fp32), and how far the weights part, relative to how far they moved."""
    from stssl.data.augment import views as pipeline

    weak, strong = pipeline("fused")
    ds = splits.dataset
    lb = IndexStream(splits.labelled, shape.batch_lb, 0, 0)
    ulb = IndexStream(splits.unlabelled, shape.batch_ulb, 0, 1)

    def batch(step: int) -> Views:
        torch.manual_seed(step)
        raw_lb, raw_u = ds.raw_batch(lb.at(step)), ds.raw_batch(ulb.at(step))
        x_lb, x_u = (r["pixels"].to(device).float() / 255 for r in (raw_lb, raw_u))
        return Views(
            x_lb=ds.normalize(weak(x_lb)),
            y_lb=raw_lb["label"].to(device),
            meta_lb=batch_meta(raw_lb).to(device),
            x_w=ds.normalize(weak(x_u)),
            x_s=ds.normalize(strong(x_u)),
            meta_u=batch_meta(raw_u).to(device),
        )

    out = {"steps": steps}
    for algo in ("fixmatch", "freematch"):
        trace = {}
        for precision in ("fp32", "bf16"):
            timer = library_timer("ST-FixMatch", shape, device, bf16=precision == "bf16", algo=algo)
            start_params = torch.cat([p.detach().flatten().float() for p in timer.nets.parameters()])
            start_state = {k: v.clone() for k, v in timer.step_fn.algo.named_buffers()}
            losses, masks = [], []
            for step in range(steps):
                views = batch(step)
                torch.manual_seed(10_000 + step)  # the same stochastic depth in both runs
                result = timer.step(step, views)
                losses.append(result.loss.item())
                masks.append((result.pseudo.weights > 0).cpu())
            params = torch.cat([p.detach().flatten().float() for p in timer.nets.parameters()])
            trace[precision] = {
                "losses": np.array(losses),
                "masks": masks,
                "moved": params - start_params,
                "state": {k: v - start_state[k] for k, v in timer.step_fn.algo.named_buffers()},
            }
        f, b = trace["fp32"], trace["bf16"]
        rel = np.abs(b["losses"] - f["losses"]) / np.abs(f["losses"])
        agree = [float((mb == mf).float().mean()) for mb, mf in zip(b["masks"], f["masks"])]
        row = {
            "loss_rel_median": float(np.median(rel)),
            "loss_rel_max": float(rel.max()),
            "loss_rel_last10": float(rel[-10:].mean()),
            "mask_agreement_mean": float(np.mean(agree)),
            "mask_agreement_min": float(np.min(agree)),
            "weights_apart": float((b["moved"] - f["moved"]).norm() / f["moved"].norm()),
        }
        for name, change in f["state"].items():
            if change.is_floating_point() and change.norm() > 0:
                row[f"state_{name}"] = float((b["state"][name] - change).norm() / change.norm())
        out[algo] = row
    return out


# ----------------------------------------------------------------------------- stage b
def data_pipeline(splits: DataSplits, shape: Shape, device: torch.device, batches: int) -> dict:
    """Host: the packed reader (random batches of B_l and B_u, metadata encoded), pinned on CUDA.
    Device: both views of the unlabelled batch and the weak view of the labelled one, with the
    data set's own pipeline (the authors' operations, batched) and, for comparison, GeoSynth's fused views."""
    from stssl.data.augment import views

    ds, b_l, b_u = splits.dataset, shape.batch_lb, shape.batch_ulb
    lb, ulb = IndexStream(splits.labelled, b_l, 0, 0), IndexStream(splits.unlabelled, b_u, 0, 1)
    start = time.perf_counter()
    raws = []
    for step in range(batches):
        raw = {"lb": ds.raw_batch(lb.at(step)), "ulb": ds.raw_batch(ulb.at(step))}
        for part in raw.values():
            part["meta"] = batch_meta(part)
        raws.append(raw)
    read_s = (time.perf_counter() - start) / batches
    out = {"raw_images_per_s": (b_l + b_u) / read_s, "read_ms_per_step": 1e3 * read_s}
    if device.type == "cuda":
        start = time.perf_counter()
        for raw in raws:
            for part in raw.values():
                for v in part.values():
                    v.pin_memory().to(device, non_blocking=True)
        sync(device)
        out["pin_copy_ms_per_step"] = 1e3 * (time.perf_counter() - start) / batches
    pixels = [(r["lb"]["pixels"].to(device).float() / 255, r["ulb"]["pixels"].to(device).float() / 255) for r in raws]
    for name in ("randaugment", "fused"):
        weak, strong = views(name)
        weak(pixels[0][0]), strong(pixels[0][1])  # warm-up: the first call's allocations are not timed
        sync(device)
        start = time.perf_counter()
        for x_lb, x_u in pixels:
            weak(x_lb), weak(x_u)
        sync(device)
        middle = time.perf_counter()
        for _, x_u in pixels:
            strong(x_u)
        sync(device)
        seconds = (time.perf_counter() - start) / batches
        out[f"{name}_weak_ms_per_step"] = 1e3 * (middle - start) / batches
        out[f"{name}_views_ms_per_step"] = 1e3 * seconds
        out[f"{name}_views_per_s"] = (b_l + 2 * b_u) / seconds
        if device.type == "cuda":
            out[f"{name}_syncs_per_step"], out[f"{name}_sync_sites"] = count_syncs(
                lambda weak=weak, strong=strong: (weak(pixels[0][0]), weak(pixels[0][1]), strong(pixels[0][1]))
            )
    return out


def eurosat_views_ms(shape: Shape, device: torch.device, batches: int) -> float:
    """EuroSAT's views (USB RandAugment) of one step's images (B_l weak, B_u weak + strong)."""
    from stssl.data.augment import views

    weak, strong = views("usb")
    x_lb = torch.rand(shape.batch_lb, 3, shape.image_size, shape.image_size, device=device)
    x_u = torch.rand(shape.batch_ulb, 3, shape.image_size, shape.image_size, device=device)
    weak(x_lb), strong(x_u)
    sync(device)
    start = time.perf_counter()
    for _ in range(batches):
        weak(x_lb), weak(x_u), strong(x_u)
    sync(device)
    return 1e3 * (time.perf_counter() - start) / batches


# ----------------------------------------------------------------------------- stage c
RUN_FIELDS = "profile dataset algo st model image_size batch_lb uratio steps eval_every precision compile".split()


class _Interrupted(RuntimeError):
    """Stands for a killed process, right after the first evaluation wrote its checkpoint."""


class RunClock(L.Callback):
    """Stage c's clock, a callback of ``train()``: it runs after the run's EMA and evaluation, before
    the resume checkpoint (Lightning's ``ModelCheckpoint``). ``stamps``: (step, time) at a step's
    end (EMA and any evaluation done). ``waits``: from a step's end to the next one's start, where
    the loop takes the next raw batch from the reader thread (its own work included; after an
    evaluation, the checkpoint's writing too, which the median leaves out). ``evals``: from
    ``on_before_optimizer_step`` of an evaluation step to its end, the device synchronised at both
    (evaluation steps only, which the steady step leaves out): the evaluation plus that step's AdamW
    update and EMA (milliseconds). ``interrupt``: the step after the first evaluation raises
    :class:`_Interrupted` at its start, once that evaluation's checkpoint is written."""

    def __init__(self, device: torch.device, eval_every: int, steps: int):
        self.device, self.eval_every, self.steps = device, eval_every, steps
        self.stamps: list[tuple[int, float]] = []
        self.waits: list[float] = []  # seconds the training loop waited for each raw batch
        self.evals: list[float] = []
        self.interrupt, self._end, self._eval_start = True, None, None

    def on_train_start(self, trainer, module) -> None:
        self._end = None  # a resumed part's first batch waits for no step of its own

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if self._end is not None:
            self.waits.append(time.perf_counter() - self._end)
        if self.interrupt and module.history:
            raise _Interrupted(f"interrupted after the evaluation at step {module.history[-1]['step']}")

    def on_before_optimizer_step(self, trainer, module, optimizer) -> None:
        step = trainer.global_step + 1  # the step under way; the evaluation's rule (every eval_every, the last)
        if step % self.eval_every == 0 or step >= self.steps:
            sync(self.device)
            self._eval_start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self._eval_start is not None:
            sync(self.device)
            self.evals.append(time.perf_counter() - self._eval_start)
            self._eval_start = None
        self._end = time.perf_counter()
        self.stamps.append((trainer.global_step, self._end))


def paper_run(splits: DataSplits, root: Path, size: Size, device: torch.device) -> dict:
    """A ``paper``-profile ST-FixMatch run (its bf16, its views; + compile), interrupted after its
    first evaluation and checkpoint, then resumed to the end in the same process; timed by
    :class:`RunClock`."""
    shape = size.bigearthnet
    cfg = resolve(
        "paper",
        dataset="bigearthnet",
        data_root=str(root),
        algo="fixmatch",
        st=True,
        model=shape.model,
        image_size=shape.image_size,
        batch_lb=shape.batch_lb,
        uratio=shape.uratio,
        steps=size.run_steps,
        eval_every=size.eval_every,
        eval_batch_size=size.eval_batch_size,
        compile=size.compile,
        device=device.type,
    )
    folder, clock = RunFolder(root / "run"), RunClock(device, size.eval_every, size.run_steps)
    start = call = time.perf_counter()
    try:
        train(cfg, folder, progress=False, data=splits, callbacks=[clock])
        raise AssertionError("the run was not interrupted")
    except _Interrupted:
        pass
    first_part_s = time.perf_counter() - start
    checkpointed = folder.checkpoint.exists()
    clock.interrupt = False
    start = time.perf_counter()
    module = train(cfg, folder, progress=False, data=splits, callbacks=[clock])
    resumed_s = time.perf_counter() - start
    start = time.perf_counter()
    final = module.final_metrics()
    test_s = time.perf_counter() - start
    history = module.history
    losses = [row["train_loss"] for row in history]
    nets = 2 if cfg.eval_teacher else 1
    checks = {
        "checkpoint written at the interruption": checkpointed,
        "resumed from it (steps evaluated: " + ", ".join(str(r["step"]) for r in history) + ")": [
            r["step"] for r in history
        ]
        == list(range(size.eval_every, size.run_steps + 1, size.eval_every)),
        "every loss finite": all(math.isfinite(v) for v in losses),
        "training loss falls (" + " -> ".join(f"{v:.4f}" for v in losses) + ")": losses[-1] < losses[0],
        f"test mAP {final['test_mAP']:.3f}, teacher {final.get('teacher_test_mAP', float('nan')):.3f}": math.isfinite(
            final["test_mAP"]
        ),
    }
    return {
        "config": {k: v for k, v in asdict(cfg).items() if k in RUN_FIELDS},
        "precision_used": resolve_precision(cfg.precision, device.type),
        "checks": checks,
        "passed": all(checks.values()),
        "step_s": _steady_step_seconds(clock.stamps, size.eval_every, size.run_steps),
        "data_wait_ms": 1e3 * float(np.median(clock.waits)) if clock.waits else None,
        "first_part_s": first_part_s,
        "resumed_part_s": resumed_s,
        "first_step_s": clock.stamps[0][1] - call,
        "eval_s": clock.evals,
        "eval_images_per_s": len(splits.val) * nets / min(clock.evals),  # the first compiles
        "test_s": test_s,
        "history": history,
    }


def _steady_step_seconds(stamps: list[tuple[int, float]], eval_every: int, steps: int) -> float:
    """Mean seconds per step over the second half of each part's steps between evaluations,
    away from the compile and the evaluations (the host can run ahead of the device, but is
    held back at each periodic read, so a mean over many steps is the device's pace)."""
    rates = []
    for lo in range(0, steps, eval_every):
        seg = [(s, t) for s, t in stamps if lo + (eval_every // 2) <= s < lo + eval_every]
        if len(seg) >= 2:
            rates.append((seg[-1][1] - seg[0][1]) / (seg[-1][0] - seg[0][0]))
    return min(rates) if rates else float("nan")


# ----------------------------------------------------------------------------- stage d
def project(results: dict) -> dict:
    """Wall time of paper-scale runs from the measured steps, views and evaluations."""
    steps = {(r["shape"], r["kind"]): r["seconds"] for r in results.get("a", []) if r["precision"] == results["fast"]}
    c, b = results.get("c", {}), results.get("b", {})
    ben, eurosat = results["shapes"]["bigearthnet"], results["shapes"]["eurosat"]
    # what a real step adds to the compute step: reading, views, the loop (stage c against a)
    overhead = (
        max(0.0, c["step_s"] - steps[(ben, "ST-FixMatch")]) if "step_s" in c and (ben, "ST-FixMatch") in steps else None
    )
    out = {"bigearthnet_data_overhead_s": overhead}
    eval_rate = c.get("eval_images_per_s")
    for kind in KINDS:
        if (ben, kind) not in steps or overhead is None or not eval_rate:
            continue
        nets = 2 if kind == "ST-FixMatch" else 1
        evals = PAPER["ben_steps"] // PAPER["ben_eval_every"]
        train_s = PAPER["ben_steps"] * (steps[(ben, kind)] + overhead)
        eval_s = nets * (evals * PAPER["ben_val"] + PAPER["ben_test"]) / eval_rate
        out[f"bigearthnet {kind}"] = {"train_s": train_s, "eval_s": eval_s, "total_s": train_s + eval_s}
    eurosat_rate, views_ms = results.get("eurosat_eval_images_per_s"), b.get("eurosat_views_ms_per_step")
    for kind in KINDS:
        if (eurosat, kind) not in steps or not eurosat_rate or views_ms is None:
            continue
        nets = 2 if kind == "ST-FixMatch" else 1
        evals = PAPER["eurosat_steps"] // PAPER["eurosat_eval_every"]
        train_s = PAPER["eurosat_steps"] * (steps[(eurosat, kind)] + views_ms / 1e3)
        eval_s = nets * (evals * PAPER["eurosat_val"] + PAPER["eurosat_test"]) / eurosat_rate
        out[f"eurosat {kind}"] = {"train_s": train_s, "eval_s": eval_s, "total_s": train_s + eval_s}
    out["notebooks"] = notebook_projection(out)
    return out


def notebook_projection(runs: dict) -> list[dict] | str:
    """Every notebook's new runs at paper scale (one seed, in reading order) and their projected hours."""
    try:
        from stssl.experiments import PAGES, page_configs
    except Exception as err:  # the page table needs the book's modules (maps need cartopy)
        return f"not available here: {type(err).__name__}: {err}"
    seen, rows = set(), []
    for page in PAGES:
        if page.data == "export":  # its runs need the GeoSynth export written first (cpu profile, minutes)
            continue
        try:
            cfgs = page_configs(page, "paper", "/data/bigearthnet", "/data/eurosat", seeds=1)
        except Exception as err:
            return f"not available here: {type(err).__name__}: {err}"
        new = [c for c in cfgs if (c.dataset, c.key()) not in seen]
        seen.update((c.dataset, c.key()) for c in cfgs)
        if not cfgs or page.name == "summary":
            continue
        if cfgs[0].profile != "paper":  # GeoSynth's pages keep the cpu profile: minutes, not hours
            rows.append(
                {
                    "notebook": page.name,
                    "data": f"{cfgs[0].dataset} ({cfgs[0].profile} profile)",
                    "runs": len(cfgs),
                    "new": len(new),
                    "hours": None,
                }
            )
            continue
        hours = 0.0
        for cfg in new:
            kind = "supervised" if cfg.algo == "supervised" else ("ST-FixMatch" if cfg.st else "FixMatch")
            per_run = runs.get(f"{'eurosat' if cfg.dataset == 'eurosat' else 'bigearthnet'} {kind}")
            default_steps = PAPER["eurosat_steps" if cfg.dataset == "eurosat" else "ben_steps"]
            hours += per_run["total_s"] * cfg.steps / default_steps / 3600 if per_run else float("nan")
        rows.append(
            {"notebook": page.name, "data": cfgs[0].dataset, "runs": len(cfgs), "new": len(new), "hours": hours}
        )
    return rows


# ----------------------------------------------------------------------------- report
def machine() -> dict:
    flags = ""
    if Path("/proc/cpuinfo").exists():
        info = Path("/proc/cpuinfo").read_text()
        model = next(
            (line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?"
        )
        flags = next((line.split(":", 1)[1] for line in info.splitlines() if line.startswith("flags")), "")
    else:
        model = platform.processor()
    import lightning
    import timm

    out = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{model}, {os.cpu_count()} cores, flags: "
        + (
            ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags.split())
            or "none of avx2/avx512/bf16"
        ),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "lightning": lightning.__version__,
        "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out.update(
            gpu=f"{props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs",
            cuda=torch.version.cuda,
        )
    return out


def _fmt(v, spec: str = ".3g") -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan"
    return format(v, spec)


def _hours(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def write_report(results: dict, out: Path) -> None:
    miniature = results["device"] != "cuda"
    m = results["machine"]
    lines = [
        f"# `make gpu-check` {'— CPU MINIATURE (no GPU: tiny sizes, not the paper scale)' if miniature else 'on a GPU'}",
        "",
        f"Written by `benchmarks/gpu_check.py --size {results['size']}` on {m['date']} in "
        f"{results.get('elapsed_s', 0):.0f} s.",
        "",
    ]
    if miniature:
        lines += [
            "**This is a miniature.** The stages ran on the CPU with small models, images and batches, to",
            "check that the whole path works; its seconds say nothing about a GPU. On a GPU the same",
            "command measures the paper's sizes and writes `benchmarks/RESULTS-gpu.md`.",
            "",
        ]
    lines += ["## Machine", ""] + [f"* {k}: {v}" for k, v in m.items() if k != "date"] + [""]
    lines += ["## FLOP count (analytic, printed by the script)", "", "```"] + results["flops"] + ["```", ""]
    if "data_s" in results:
        lines += [
            f"Data: {results['n_images']} images at {results['shapes_px']} px packed in BigEarthNet's format "
            f"in {results['data_s']:.1f} s (made on the spot; 80/10/10 split, 1 % labelled).",
            "",
        ]
    lines += [
        "## a. One training step",
        "",
        "Forward (autocast for bf16, as Lightning's bf16-mixed), backward, AdamW (fused on CUDA), EMA; "
        "random inputs, no data loading. Images/s counts B_l + B_u per step. MFU against the dense "
        "peak (fp32: no TF32, PyTorch's default). First step: with bf16+compile, mostly the compile.",
        "",
        "| shape | step | precision | s/step | steps/s | images/s | TFLOP/s | MFU | peak GiB | first step s | finite |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results.get("a", []):
        lines.append(
            f"| {r['shape']} | {r['kind']} | {r['precision']} | {_fmt(r['seconds'], '.4f')} | "
            f"{_fmt(r['steps_per_s'], '.2f')} | {_fmt(r['images_per_s'], '.0f')} | {_fmt(r['tflops'], '.2f')} | "
            f"{_fmt(r['mfu'], '.1%')} | {_fmt(r['peak_gib'], '.2f')} | {_fmt(r['first_step_s'], '.1f')} | {r['finite']} |"
        )
    syncs = [r for r in results.get("a", []) if "syncs_per_step" in r]
    for r in syncs:
        lines.append(
            f"\nHost synchronisations per {r['kind']} step ({r['shape']}, bf16, "
            f"`torch.cuda.set_sync_debug_mode`): {r['syncs_per_step']:g}"
            + (f" at {', '.join(r['sync_sites'])}" if r["sync_sites"] else "")
        )
    if results.get("eurosat_eval_images_per_s"):
        lines.append(
            f"\nEvaluation forward, one network, EuroSAT shape at batch {PAPER['eurosat_eval_batch']} "
            f"(bf16): {results['eurosat_eval_images_per_s']:.0f} images/s."
        )
    b = results.get("b")
    if b:
        lines += [
            "",
            "## b. The data pipeline",
            "",
            f"* Packed reader on the host (random batches, metadata encoded): {b['raw_images_per_s']:.0f} raw "
            f"images/s ({b['read_ms_per_step']:.2f} ms per step's B_l + B_u).",
        ]
        if "pin_copy_ms_per_step" in b:
            lines.append(f"* Pinning and copying a step's raw batch to the device: {b['pin_copy_ms_per_step']:.2f} ms.")
        for name in ("randaugment", "fused"):
            lines.append(
                f"* Views on the device, {name} pipeline (B_l weak, B_u weak + strong): "
                f"{b[f'{name}_views_ms_per_step']:.1f} ms per step (the two weak views "
                f"{b[f'{name}_weak_ms_per_step']:.1f} ms), {b[f'{name}_views_per_s']:.0f} views/s"
                + (
                    f"; {b[f'{name}_syncs_per_step']:g} host synchronisations per step"
                    if f"{name}_syncs_per_step" in b
                    else ""
                )
                + "."
            )
        if "eurosat_views_ms_per_step" in b:
            lines.append(
                f"* EuroSAT's views (USB RandAugment) of one step's images: {b['eurosat_views_ms_per_step']:.1f} ms."
            )
    c = results.get("c")
    if c:
        lines += [
            "",
            "## c. A real `paper`-profile ST-FixMatch run",
            "",
            f"Config: {c['config']}; precision used: {c['precision_used']}. Interrupted after the first "
            "evaluation (its checkpoint written), then resumed in the same process.",
            "",
        ]
        lines += [f"* {'PASS' if ok else 'FAIL'}: {name}" for name, ok in c["checks"].items()]
        if c.get("data_wait_ms") is not None:
            lines.append(
                f"* The loop waited {c['data_wait_ms']:.2f} ms (median) between steps for each raw batch from the "
                f"reader thread, its own work included ({c['data_wait_ms'] / 1e3 / c['step_s']:.1%} of a steady step)."
            )
        lines += [
            f"* Steady real step (data, views, step, Lightning loop): {c['step_s']:.4f} s "
            f"({1 / c['step_s']:.1f} steps/s)"
            if c["step_s"] == c["step_s"]
            else "* Steady step: not measured",
            f"* Wall time: {c['first_part_s']:.1f} s to the interruption (data set-up, compile, "
            f"steps, one evaluation), {c['resumed_part_s']:.1f} s resumed to the end; final test {c['test_s']:.1f} s.",
            f"* Evaluations: {', '.join(f'{s:.1f} s' for s in c['eval_s'])} for {c['n_val']} images (with "
            f"compile, the first compiles the evaluation's graphs); {c['eval_images_per_s']:.0f} images/s per "
            "network (student and teacher) at the fastest.",
        ]
    d = results.get("d")
    if d:
        overhead = d.get("bigearthnet_data_overhead_s")
        if overhead is not None and c:
            lines += [
                "",
                f"Of a real step, {overhead / c['step_s']:.0%} ({overhead:.4f} s) is spent outside the "
                f"compute step of a ({results['fast']}): reading, views, the loop, waiting for data.",
            ]
        lines += [
            "",
            "## d. Projected wall time at paper scale",
            "",
            f"From the measured {results['fast']} steps (a), plus what a real step adds to them (c minus a: "
            f"{_fmt(overhead, '.4f')} s), the evaluation speed measured in c and, for "
            "EuroSAT, its views (b) and the evaluation at batch 16 (a). Early stopping would shorten runs."
            + (
                " Miniature: the miniature's steps on the paper's step counts, which estimates nothing."
                if miniature
                else ""
            ),
            "",
            "| run | training | evaluations + test | total |",
            "|---|---:|---:|---:|",
        ]
        for name, v in d.items():
            if isinstance(v, dict):
                lines.append(f"| {name} | {_hours(v['train_s'])} | {_hours(v['eval_s'])} | {_hours(v['total_s'])} |")
        nb = d.get("notebooks")
        if isinstance(nb, list):
            lines += [
                "",
                "Notebooks at paper scale, one seed, a run counted under the first page that needs it:",
                "",
                "| notebook | data | runs | new | projected |",
                "|---|---|---:|---:|---:|",
            ]
            lines += [
                f"| {r['notebook']} | {r['data']} | {r['runs']} | {r['new']} | "
                f"{_hours(3600 * r['hours']) if r['hours'] is not None else 'not projected'} |"
                for r in nb
            ]
            paper = [r for r in nb if r["hours"] is not None]
            lines.append(
                f"| all at paper scale | | | {sum(r['new'] for r in paper)} | "
                f"{_hours(3600 * sum(r['hours'] for r in paper))} |"
            )
        elif nb:
            lines += ["", f"Notebook projection: {nb}"]
    e = results.get("e")
    if e:
        lines += [
            "",
            "## e. bf16 autocast against fp32",
            "",
            f"Trained side by side for {e['steps']} steps from the same weights on the same batches and views "
            "(eager). Loss: relative difference per step; masks: fraction of pseudo-label entries that agree; "
            "weights: distance between the two runs' weights relative to how far fp32's moved; state: "
            "the algorithm's running statistics, difference of their change relative to fp32's change.",
            "",
            "| ST + | loss rel. diff. median / last 10 / max | mask agreement mean / min | weights apart | state |",
            "|---|---|---|---:|---|",
        ]
        for algo in ("fixmatch", "freematch"):
            r = e[algo]
            state = ", ".join(f"{k[6:]} {v:.2g}" for k, v in r.items() if k.startswith("state_")) or "none"
            lines.append(
                f"| {algo} | {r['loss_rel_median']:.2g} / {r['loss_rel_last10']:.2g} / {r['loss_rel_max']:.2g} | "
                f"{r['mask_agreement_mean']:.4f} / {r['mask_agreement_min']:.4f} | {r['weights_apart']:.3g} | {state} |"
            )
    if results.get("skipped"):
        lines += ["", f"Skipped, past the time budget ({results['budget_s']:.0f} s): {', '.join(results['skipped'])}."]
    if results.get("errors"):
        lines += ["", "## Stages that failed", ""] + [f"* {k}: `{v}`" for k, v in results["errors"].items()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--size",
        choices=SIZES,
        help="gpu (the paper's sizes; default on CUDA), mini (default on the CPU), tiny (the test's)",
    )
    p.add_argument("--device", default="auto", help="auto | cuda | cpu")
    p.add_argument(
        "--out",
        type=Path,
        help="report path (default: benchmarks/RESULTS-gpu.md on CUDA, "
        "benchmarks/RESULTS-gpu-miniature.md otherwise); JSON beside it",
    )
    p.add_argument("--workdir", type=Path, help="where the data set and the run go (default: a temporary folder)")
    p.add_argument(
        "--budget",
        type=float,
        default=420,
        help="seconds after which the stages not yet begun are "
        "skipped, except the data, the run (c) and d (default 420)",
    )
    args = p.parse_args(argv)
    device = torch.device(resolve_device(args.device))
    size = SIZES[args.size or ("gpu" if device.type == "cuda" else "mini")]
    out = args.out or HERE / ("RESULTS-gpu.md" if device.type == "cuda" else "RESULTS-gpu-miniature.md")
    begin = time.perf_counter()
    results: dict = {
        "device": device.type,
        "size": args.size or ("gpu" if device.type == "cuda" else "mini"),
        "machine": machine(),
        "errors": {},
        "skipped": [],
        "budget_s": args.budget,
        "n_images": size.n_images,
        "shapes": {"bigearthnet": size.bigearthnet.name, "eurosat": size.eurosat.name},
        "shapes_px": size.bigearthnet.image_size,
        "flops": flop_summary(SIZES["gpu"].bigearthnet)
        + flop_summary(SIZES["gpu"].eurosat)
        + ([] if size is SIZES["gpu"] else flop_summary(size.bigearthnet) + flop_summary(size.eurosat)),
    }
    print("\n".join(results["flops"]), flush=True)
    bf16_ok = device.type == "cuda" or cpu_has_bf16()
    precisions = [pr for pr in PRECISIONS if (bf16_ok or pr == "fp32") and (size.compile or not pr.endswith("compile"))]
    if not bf16_ok:
        results["errors"]["bf16"] = "skipped: this CPU has no bf16 hardware"

    def stage(name: str, fn, core: bool = False):
        """Run one stage; a failure is recorded and the next stage runs. Past the budget only
        the core stages run, so a GPU lease's minutes end with a report."""
        if not core and time.perf_counter() - begin > args.budget:
            results["skipped"].append(name)
            return None
        print(f"[{time.perf_counter() - begin:6.1f} s] {name}", flush=True)
        try:
            return fn()
        except Exception as err:  # recorded, and the next stage still runs
            traceback.print_exc()
            results["errors"][name] = f"{type(err).__name__}: {err}"
            return None
        finally:
            results["elapsed_s"] = time.perf_counter() - begin
            write_report(results, out)

    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-", dir=args.workdir))
    try:
        made = stage("data", lambda: make_data(size, tmp), core=True)
        if made:
            root, splits, results["data_s"] = made
        fast = results["fast"] = precisions[-1]  # the paper profile's settings: bf16 (+ compile)
        results["a"] = []
        for kind in ("ST-FixMatch", "FixMatch"):  # the run's own settings first: stage c compares with them
            r = stage(f"a: {kind} {fast}", partial(time_step, kind, size.bigearthnet, fast, device, size), core=True)
            results["a"] += [r] if r else []
        if made:
            c = stage("c: paper-profile run", lambda: paper_run(splits, root, size, device), core=True)
            if c:
                c["n_val"] = len(splits.val)
                results["c"] = c
            results["b"] = stage("b: data pipeline", lambda: data_pipeline(splits, size.bigearthnet, device, 10)) or {}
        ms = stage("b: EuroSAT views", lambda: eurosat_views_ms(size.eurosat, device, 10))
        if ms is not None:
            results.setdefault("b", {})["eurosat_views_ms_per_step"] = ms
        for kind in KINDS:
            r = stage(f"a: EuroSAT {kind} {fast}", partial(time_step, kind, size.eurosat, fast, device, size))
            results["a"] += [r] if r else []
        results["eurosat_eval_images_per_s"] = stage(
            "a: EuroSAT evaluation",
            lambda: time_eval_forward(size.eurosat, PAPER["eurosat_eval_batch"], device, bf16_ok, 20),
        )
        if made and bf16_ok:
            results["e"] = stage(
                "e: bf16 against fp32", lambda: bf16_numerics(splits, size.bigearthnet, device, size.numerics_steps)
            )
        for precision in precisions:
            for kind in KINDS:
                if (kind, precision) in (("ST-FixMatch", fast), ("FixMatch", fast)):
                    continue
                r = stage(f"a: {kind} {precision}", partial(time_step, kind, size.bigearthnet, precision, device, size))
                results["a"] += [r] if r else []
        results["d"] = stage("d: projections", lambda: project(results), core=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["elapsed_s"] = time.perf_counter() - begin
    write_report(results, out)
    print(f"report: {out} ({results['elapsed_s']:.0f} s)", flush=True)
    return results


if __name__ == "__main__":
    results = main()
    sys.exit(1 if results["errors"].keys() - {"bf16"} or not results.get("c", {}).get("passed") else 0)
