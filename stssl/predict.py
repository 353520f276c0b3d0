"""A finished run, ready to predict: its networks, its metadata encoding and its evaluation shift.

Training builds a whole :class:`~stssl.train.SSLModule` (data, augmentations, an EMA copy, an
optimiser, the algorithm's state); predicting needs none of that. A :class:`Predictor` holds the
run's best EMA networks, what its teacher saw and how (:func:`stssl.meta.run_meta`), the class
names and the pixel normalisation, and the algorithm's evaluation shift (CDMAD subtracts the
logits of a constant image), and scores images in batches on any device::

    predictor = Predictor.from_run(get_run(cfg), device="cuda")
    probs = predictor.predict(pixels)                                   # the student, images only
    probs = predictor.predict(pixels, meta={"lat": lat, "lon": lon, "doy": doy}, network="teacher")

Evaluation during training goes through :func:`shifted_logits` too, so a page that predicts
here gets the numbers training reported.

``python -m stssl predict RUN INPUT --out preds.csv`` (:func:`predict_input`) finds a finished run
by its folder or its key (:func:`find_run`), reads images (:func:`read_inputs`: a folder of images,
a table of the ``folder`` data set, or a registered data set's test split) and writes one row per
image: ``id``, ``lat``/``lon``/``doy`` when known, ``p_<class>`` per class, ``predicted`` and, when
the input has labels, ``label`` (:func:`predictions`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from stssl.algorithms import ALGORITHMS
from stssl.checks import OneLineError
from stssl.config import RunConfig
from stssl.data.base import MetaDataset, TaskInfo
from stssl.devices import check_device, uses_bf16
from stssl.evaluate import MetaFn, predict
from stssl.meta import MetaEncoding, run_meta
from stssl.models import build_model, build_teacher_student
from stssl.models.modes import eval_mode

TASK_FILE = "task.json"  # a finished run's classes and normalisation (runs.py writes it)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")  # a folder without a table: these files
NETWORKS = ("student", "teacher", "model")


class PredictError(OneLineError):
    """A prediction asked of a run or an input that cannot give it (the message says what to do)."""


def network_name(cfg: RunConfig, name: str | None = None) -> str:
    """``name`` checked against the run's networks; ``None``: the reported one (student or model)."""
    have = ("teacher", "student") if cfg.st else ("model",)
    name = name or have[-1]
    if name not in have:
        raise PredictError(f"this run ({cfg.describe()}) has no {name} network; it has: {', '.join(have)}")
    return name


def shifted_logits(net: nn.Module, dataset: MetaDataset, indices: np.ndarray, cfg: RunConfig,
                   device: torch.device | str, meta_fn: MetaFn | None = None) -> np.ndarray:
    """Logits of ``net`` on ``dataset[indices]``, minus the run's algorithm's evaluation shift
    (CDMAD's bias). A bf16 run evaluates in bf16 too: in fp32 its 32 evaluations would cost a
    paper run on a GPU about as much as a third of its training."""
    device = torch.device(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(cfg.precision, device.type)):
        logits = predict(net, dataset, indices, meta_fn=meta_fn, batch_size=cfg.eval_batch_size, device=device)
        like = dataset.normalize(dataset.raw_batch(indices[:1])["pixels"].to(device).float() / 255)
        with eval_mode(net):
            shift = ALGORITHMS[cfg.algo].eval_logit_shift(lambda x: net(x, without_meta=True).logits, like)
    return logits if shift is None else logits - shift.cpu().numpy()


def build_nets(cfg: RunConfig, num_classes: int) -> nn.ModuleDict:
    """A run's networks, untrained: ``teacher`` and ``student`` for + ST-SSL, else ``model``."""
    if cfg.st:
        teacher, student = build_teacher_student(cfg.model, cfg.image_size, num_classes, distill=cfg.lambda_d > 0,
                                                 fusion=cfg.fusion, single_model=cfg.single_model,
                                                 meta_dim=MetaEncoding.of(cfg).dim)
        return nn.ModuleDict({"teacher": teacher, "student": student})
    return nn.ModuleDict({"model": build_model(cfg.model, cfg.image_size, num_classes)})


@dataclass
class Predictor:
    """A run's best EMA networks with what predicting needs (see the module's documentation)."""

    cfg: RunConfig
    nets: nn.ModuleDict
    task: TaskInfo
    mean: tuple[float, ...]  # the run's data set's normalisation of pixels in [0, 1]
    std: tuple[float, ...]
    device: torch.device
    meta: MetaFn  # the run's teacher input for a raw batch (lat, lon, doy)

    @classmethod
    def from_run(cls, run, device: str = "auto", dataset: MetaDataset | None = None) -> Predictor:
        """``run``'s networks on ``device``. Its classes and normalisation come from the run folder's
        ``task.json``, or from ``dataset`` (the run's data, when a page has it loaded anyway); a run
        finished before ``task.json`` existed loads its data set once to read them."""
        if dataset is None and not (Path(run.path) / TASK_FILE).is_file():
            from stssl.runs import run_data

            dataset = run_data(run.config).dataset
        task, mean, std = (_task_of(dataset) if dataset is not None
                           else _read_task(Path(run.path) / TASK_FILE))
        dev = torch.device(check_device(device))
        nets = build_nets(run.config, task.num_classes)
        nets.load_state_dict(torch.load(Path(run.path) / "model.pt", map_location="cpu", weights_only=True))
        return cls(run.config, nets.to(dev).eval(), task, mean, std, dev, run_meta(run.config))

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(self.nets)

    def network(self, name: str | None = None) -> nn.Module:
        """``name``, or the reported network: the student of + ST-SSL, else the model."""
        return self.nets[network_name(self.cfg, name)]

    def dataset_logits(self, dataset: MetaDataset, indices: np.ndarray, network: str | None = None,
                       meta_fn: MetaFn | None = None) -> np.ndarray:
        """Logits on samples of a data set (the teacher: with ``meta_fn``, e.g. :attr:`meta`), as
        training evaluated them."""
        if network == "teacher" and meta_fn is None:
            meta_fn = self.meta
        return shifted_logits(self.network(network), dataset, np.asarray(indices), self.cfg, self.device, meta_fn)

    def logits(self, images, meta: dict | None = None, network: str | None = None) -> np.ndarray:
        """Logits of images: uint8 N x H x W x 3 (as read from files) or float N x 3 x H x W in [0, 1],
        at the run's image size. The teacher needs ``meta`` (``lat``, ``lon`` in degrees, ``doy`` 1..366
        or NaN when unknown, arrays of N); a student or a plain model takes none.
        Batches of the run's ``eval_batch_size``."""
        ds = self._as_dataset(images, meta, network)
        return self.dataset_logits(ds, np.arange(len(ds)), network, self.meta if meta is not None else None)

    def predict(self, images, meta: dict | None = None, network: str | None = None) -> np.ndarray:
        """Class probabilities (N x C): sigmoid for a multi-label run, softmax otherwise."""
        return self.probabilities(self.logits(images, meta, network))

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Logits -> class probabilities (float64): sigmoid for a multi-label run, softmax otherwise."""
        z = torch.as_tensor(np.asarray(logits)).double()
        return (torch.sigmoid(z) if self.task.multilabel else torch.softmax(z, 1)).numpy()

    def check_size(self, pixels: np.ndarray) -> None:
        """Images (N x H x W x 3) at the run's image size, or a :class:`PredictError` saying so."""
        if tuple(pixels.shape[1:3]) != (self.cfg.image_size, self.cfg.image_size):
            raise PredictError(f"images of {pixels.shape[1]} x {pixels.shape[2]} px, but the run was trained at "
                               f"{self.cfg.image_size} px: resize them first (stssl.data.geo.resize)")

    def _as_dataset(self, images, meta: dict | None, network: str | None) -> MetaDataset:
        name = network_name(self.cfg, network)
        if name == "teacher" and meta is None:
            raise PredictError("the teacher predicts from the image and its metadata: pass meta={'lat', 'lon', 'doy'}")
        if name != "teacher" and meta is not None:
            raise PredictError(f"the {name} sees only the image: pass no meta (the teacher takes it: "
                               "network='teacher')")
        pixels = _uint8_nhwc(images)
        self.check_size(pixels)
        n = len(pixels)
        meta = meta or {}
        column = {k: np.asarray(meta.get(k, np.full(n, np.nan)), dtype=np.float32) for k in ("lat", "lon", "doy")}
        return MetaDataset(pixels, np.zeros(n, np.int64), column["lat"], column["lon"], column["doy"],
                           np.arange(n).astype(str), self.task, self.mean, self.std)


def _uint8_nhwc(images) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        if images.dtype == torch.uint8:
            return images.cpu().numpy()
        return (images.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise PredictError(f"images must be uint8 N x H x W x 3 or a float tensor N x 3 x H x W in [0, 1], got "
                         f"{arr.dtype} of shape {arr.shape}")
    return arr


def _task_of(dataset: MetaDataset) -> tuple[TaskInfo, tuple, tuple]:
    return dataset.task, tuple(dataset.mean.flatten().tolist()), tuple(dataset.std.flatten().tolist())


def task_json(dataset: MetaDataset) -> str:
    """The classes and the normalisation a predictor needs, kept beside a run's networks (``task.json``)."""
    task, mean, std = _task_of(dataset)
    return json.dumps({"class_names": list(task.class_names), "multilabel": task.multilabel,
                       "mean": list(mean), "std": list(std)}, indent=1)


def _read_task(path: Path) -> tuple[TaskInfo, tuple, tuple]:
    saved = json.loads(path.read_text())
    return TaskInfo(tuple(saved["class_names"]), bool(saved["multilabel"])), tuple(saved["mean"]), tuple(saved["std"])


# ----------------------------------------------------------------------------- runs and inputs by name
def find_run(run, root: Path | None = None):
    """A finished run (:class:`~stssl.runs.Run`) from its folder, or from its 12-character key looked
    up as ``<root>/<data set>/<key>`` (``root``: :func:`~stssl.runs.runs_root`)."""
    from stssl.runs import load_run, runs_root

    text = str(run)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.yaml").is_file():
            raise PredictError(f"{path} is not a run folder (it has no config.yaml): give a finished run's folder, "
                               "<runs>/<dataset>/<key>, or its key (python -m stssl runs lists them)")
        return load_run(path)
    root = Path(root) if root is not None else runs_root()
    if re.fullmatch(r"[0-9a-f]{12}", text):
        found = sorted(p for p in root.glob(f"*/{text}") if p.is_dir())
        if len(found) == 1:
            return load_run(found[0])
        if found:
            raise PredictError(f"run key {text} is in {len(found)} folders under {root} "
                               f"({', '.join(p.parent.name for p in found)}): give the run's folder")
        partial = sorted(root.glob(f"*/{text}.partial"))
        why = f"; {partial[0]} has not finished training" if partial else ""
        raise PredictError(f"no finished run with key {text} under {root}{why} (python -m stssl runs lists the "
                           "cache; $STSSL_RUNS moves it)")
    raise PredictError(f"no run {text!r}: neither a run folder nor a 12-character run key (python -m stssl runs "
                       f"lists the finished runs under {root})")


@dataclass
class Inputs:
    """Images to predict: the samples ``indices`` of ``dataset`` (its own classes and normalisation;
    :func:`predictions` applies the run's), whether their metadata and labels are known, and, when
    the input was the run's own data set, that data (its classes and normalisation for the predictor)."""

    dataset: MetaDataset
    indices: np.ndarray
    has_meta: bool
    has_labels: bool
    what: str  # the input in words, for messages
    run_dataset: MetaDataset | None = None


def _folder_options(cfg: RunConfig) -> dict:
    """How a run on the ``folder`` data set read GeoTIFF pixels (its ``bands`` and ``scale``): read new ones
    the same way (no other data set takes these parameters)."""
    return {k: cfg.dataset_params[k] for k in ("bands", "scale") if cfg.dataset_params.get(k) is not None}


def read_inputs(source, cfg: RunConfig, data_root: str | None = None, need_meta: bool = False) -> Inputs:
    """The images ``source`` names, at ``cfg``'s image size (the run's GeoTIFF ``bands``/``scale`` when
    it trained on the ``folder`` data set):

    * a table (``.csv``/``.parquet``) of the ``folder`` data set, or a folder holding one: its rows, with
      their location and day (so the teacher can be asked for), and their labels when it has a label
      column (the folder data set's rules, see :mod:`stssl.data.folder`; the split column is ignored);
    * a folder without a table (every ``.png``, ``.jpg``, ``.jpeg``, ``.tif``, ``.tiff`` below it, in
      name order), or one image file: no metadata, so only the student (or the model) predicts;
    * a registered data set's name: its test split (``data_root``: where it is, if not the run's own).

    ``need_meta``: fail before reading any image when the input has no metadata (the teacher)."""
    from stssl.data.folder import TABLE_SUFFIXES

    path = Path(str(source)).expanduser()
    options = _folder_options(cfg)
    if path.is_file():
        if path.suffix.lower() in TABLE_SUFFIXES:
            return _table_inputs(path.parent, path, cfg.image_size, options)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return _image_inputs(path.parent, [path.name], cfg.image_size, options, need_meta)
        raise PredictError(f"{path} is neither a table ({', '.join(TABLE_SUFFIXES)}) nor an image "
                           f"({', '.join(IMAGE_SUFFIXES)})")
    if path.is_dir():
        tables = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
        if len(tables) == 1:
            return _table_inputs(path, tables[0], cfg.image_size, options)
        if tables:
            raise PredictError(f"{path} holds {len(tables)} tables ({', '.join(p.name for p in tables)}): give "
                               "the one to read as the input")
        images = sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise PredictError(f"{path} holds no table and no image ({', '.join(IMAGE_SUFFIXES)})")
        return _image_inputs(path, images, cfg.image_size, options, need_meta)
    from stssl.data import registry

    if str(source) in registry.names():
        return _dataset_inputs(str(source), cfg, data_root)
    raise PredictError(f"no input {str(source)!r}: neither a file, a folder nor a data set name "
                       f"({', '.join(registry.names())})")


def _teacher_needs_meta(what: str) -> PredictError:
    return PredictError(f"the teacher predicts from each image and its location and day, and {what} gives none: "
                        "give a table of the folder data set (image, lat, lon, date) or ask for the student")


def _table_inputs(root: Path, table: Path, size: int, options: dict) -> Inputs:
    """A table of the folder data set, with or without a label column."""
    from stssl.data.folder import UNLABELLED, source
    from stssl.data.packed import read_all, to_dataset

    src = source(root, size, {**options, "table": str(table)}, need_labels=False)
    ds = to_dataset(src, read_all(src))
    return Inputs(ds, np.arange(len(ds)), True, src.task is not UNLABELLED, f"the table {table}")


def _image_inputs(root: Path, names: list[str], size: int, options: dict, need_meta: bool) -> Inputs:
    """Images without a table (no metadata: the student or the model only)."""
    from stssl.data.folder import images_source
    from stssl.data.packed import read_all, to_dataset

    what = f"{root} (images without a table)"
    if need_meta:
        raise _teacher_needs_meta(what)
    src = images_source(root, names, size, options.get("bands"), options.get("scale"))
    ds = to_dataset(src, read_all(src))
    return Inputs(ds, np.arange(len(ds)), False, False, what)


def _dataset_inputs(name: str, cfg: RunConfig, data_root: str | None) -> Inputs:
    """A registered data set's test split: the run's own (its data, split and parameters), or another's."""
    from stssl.data import registry
    from stssl.runs import run_data

    if name == cfg.dataset:
        own = data_root is None or str(data_root) == str(cfg.data_root)
        data = run_data(cfg if own else dataclasses.replace(cfg, data_root=str(data_root)))
        return Inputs(data.dataset, data.test, True, True, f"the test split of {name}",
                      data.dataset if own else None)
    spec = registry.get(name)
    if spec.needs_root and not data_root:
        raise PredictError(f"data set {name!r} needs --data-root (the folder it was downloaded to)")
    ds, splits = spec.open(data_root, {"image_size": cfg.image_size}, "standard")
    return Inputs(ds, np.asarray(splits["test"]), True, True, f"the test split of {name}")


# ----------------------------------------------------------------------------- the table of predictions
def predictions(predictor: Predictor, inputs: Inputs, network: str | None = None) -> pd.DataFrame:
    """One row per input image: ``id``, ``lat``, ``lon``, ``doy`` (when the input has metadata), one
    ``p_<class>`` per class of the run, ``predicted`` (multi-label: the classes of probability >= 0.5
    joined by ``;``; single-label: the most probable class) and ``label`` (the truth, when known)."""
    name = network_name(predictor.cfg, network)
    if name == "teacher" and not inputs.has_meta:
        raise _teacher_needs_meta(inputs.what)
    ds, idx = inputs.dataset, np.asarray(inputs.indices)
    predictor.check_size(ds.pixels)
    # the input's pixels and metadata, normalised as the run's data set was (no copy of the pixels)
    view = MetaDataset(ds.pixels, ds.labels, ds.lat, ds.lon, ds.doy, ds.ids, predictor.task,
                       predictor.mean, predictor.std)
    probs = predictor.probabilities(predictor.dataset_logits(view, idx, name))
    classes = predictor.task.class_names
    columns: dict[str, object] = {"id": ds.ids[idx].astype(str)}
    if inputs.has_meta:
        columns.update(lat=ds.lat[idx], lon=ds.lon[idx], doy=ds.doy[idx])
    columns.update({f"p_{c}": probs[:, k] for k, c in enumerate(classes)})
    if predictor.task.multilabel:
        columns["predicted"] = [";".join(np.asarray(classes)[row >= 0.5]) for row in probs]
    else:
        columns["predicted"] = np.asarray(classes)[probs.argmax(1)]
    if inputs.has_labels:
        truth = ds.label_matrix()[idx] >= 0.5
        columns["label"] = [";".join(np.asarray(ds.task.class_names)[row]) for row in truth]
    return pd.DataFrame(columns)


def predict_input(run, source, network: str | None = None, device: str = "auto", data_root: str | None = None,
                  batch_size: int | None = None) -> pd.DataFrame:
    """:func:`predictions` of a finished run (a :class:`~stssl.runs.Run`, its folder or its key) on
    the images ``source`` names (:func:`read_inputs`); ``batch_size``: images per forward pass
    (default the run's ``eval_batch_size``)."""
    from stssl.runs import Run

    run = run if isinstance(run, Run) else find_run(run)
    name = network_name(run.config, network)
    inputs = read_inputs(source, run.config, data_root, need_meta=name == "teacher")
    predictor = Predictor.from_run(run, device, inputs.run_dataset)
    if batch_size is not None:
        if int(batch_size) < 1:
            raise PredictError(f"batch size {batch_size}: give 1 image per forward pass or more")
        predictor.cfg = dataclasses.replace(predictor.cfg, eval_batch_size=int(batch_size))
    return predictions(predictor, inputs, name)


def write_predictions(frame: pd.DataFrame, out: Path | str) -> Path:
    """``frame`` as CSV (or parquet, for a ``.parquet`` name), written atomically."""
    from stssl.files import write_atomic

    out = Path(out)
    if out.suffix.lower() == ".parquet":
        write_atomic(out, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        write_atomic(out, lambda tmp: frame.to_csv(tmp, index=False))
    return out
