"""Predicting with a finished run from the command line: ``python -m stssl predict RUN INPUT --out preds.csv``.

:func:`predict_input` finds a finished run by its folder or its key (:func:`stssl.runs.find_run`),
reads images (:func:`read_inputs`: a folder of images, a table of the ``folder`` data set, or a
registered data set's test split) and writes one row per image (:func:`predictions`): ``id``,
``lat``/``lon``/``doy`` when known, ``p_<class>`` per class, ``predicted`` and, when the input has
labels, ``label``. The networks themselves: :class:`stssl.networks.Predictor`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stssl.cache import Run, find_run
from stssl.config import RunConfig, run_data
from stssl.core.files import write_atomic
from stssl.data import registry
from stssl.data.base import MetaDataset
from stssl.data.folder import TABLE_SUFFIXES, UNLABELLED, images_source, source
from stssl.data.packed import read_all, to_dataset
from stssl.networks import PredictError, Predictor, network_name

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")  # a folder without a table: these files


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
    path = Path(str(source)).expanduser()
    options = _folder_options(cfg)
    if path.is_file():
        if path.suffix.lower() in TABLE_SUFFIXES:
            return _table_inputs(path.parent, path, cfg.image_size, options)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return _image_inputs(path.parent, [path.name], cfg.image_size, options, need_meta)
        raise PredictError(
            f"{path} is neither a table ({', '.join(TABLE_SUFFIXES)}) nor an image ({', '.join(IMAGE_SUFFIXES)})"
        )
    if path.is_dir():
        tables = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
        if len(tables) == 1:
            return _table_inputs(path, tables[0], cfg.image_size, options)
        if tables:
            raise PredictError(
                f"{path} holds {len(tables)} tables ({', '.join(p.name for p in tables)}): give "
                "the one to read as the input"
            )
        images = sorted(
            p.relative_to(path).as_posix()
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not images:
            raise PredictError(f"{path} holds no table and no image ({', '.join(IMAGE_SUFFIXES)})")
        return _image_inputs(path, images, cfg.image_size, options, need_meta)
    if str(source) in registry.names():
        return _dataset_inputs(str(source), cfg, data_root)
    raise PredictError(
        f"no input {str(source)!r}: neither a file, a folder nor a data set name ({', '.join(registry.names())})"
    )


def _teacher_needs_meta(what: str) -> PredictError:
    return PredictError(
        f"the teacher predicts from each image and its location and day, and {what} gives none: "
        "give a table of the folder data set (image, lat, lon, date) or ask for the student"
    )


def _table_inputs(root: Path, table: Path, size: int, options: dict) -> Inputs:
    """A table of the folder data set, with or without a label column."""
    src = source(root, size, {**options, "table": str(table)}, need_labels=False)
    ds = to_dataset(src, read_all(src))
    return Inputs(ds, np.arange(len(ds)), True, src.task is not UNLABELLED, f"the table {table}")


def _image_inputs(root: Path, names: list[str], size: int, options: dict, need_meta: bool) -> Inputs:
    """Images without a table (no metadata: the student or the model only)."""
    what = f"{root} (images without a table)"
    if need_meta:
        raise _teacher_needs_meta(what)
    src = images_source(root, names, size, options.get("bands"), options.get("scale"))
    ds = to_dataset(src, read_all(src))
    return Inputs(ds, np.arange(len(ds)), False, False, what)


def _dataset_inputs(name: str, cfg: RunConfig, data_root: str | None) -> Inputs:
    """A registered data set's test split: the run's own (its data, split and parameters), or another's."""
    if name == cfg.dataset:
        own = data_root is None or str(data_root) == str(cfg.data_root)
        data = run_data(cfg if own else dataclasses.replace(cfg, data_root=str(data_root)))
        return Inputs(data.dataset, data.test, True, True, f"the test split of {name}", data.dataset if own else None)
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
    view = MetaDataset(
        ds.pixels, ds.labels, ds.lat, ds.lon, ds.doy, ds.ids, predictor.task, predictor.mean, predictor.std
    )
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


def predict_input(
    run,
    source,
    network: str | None = None,
    device: str = "auto",
    data_root: str | None = None,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """:func:`predictions` of a finished run (a :class:`~stssl.runs.Run`, its folder or its key) on
    the images ``source`` names (:func:`read_inputs`); ``batch_size``: images per forward pass
    (default the run's ``eval_batch_size``)."""
    run = run if isinstance(run, Run) else find_run(run)
    name = network_name(run.config, network)
    inputs = read_inputs(source, run.config, data_root, need_meta=name == "teacher")
    predictor = run.predictor(device, inputs.run_dataset)
    if batch_size is not None:
        if int(batch_size) < 1:
            raise PredictError(f"batch size {batch_size}: give 1 image per forward pass or more")
        predictor.cfg = dataclasses.replace(predictor.cfg, eval_batch_size=int(batch_size))
    return predictions(predictor, inputs, name)


def check_out(out: Path | str, overwrite: bool = False) -> Path:
    """Where ``--out`` writes, checked before anything is predicted (a :class:`PredictError` line): not a
    folder, not an existing file unless ``overwrite``, and in a folder that is there or can be made (its
    missing folders are made when the predictions are written)."""
    text = str(out)
    out = Path(text).expanduser()
    if out.is_dir() or text.endswith(("/", os.sep)):
        raise PredictError(f"--out {text} is a folder: give a file name in it, e.g. {out / 'predictions.csv'}")
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise PredictError(f"--out {out} exists: give --overwrite to replace it, or another file name")
    above = next(p for p in (out.parent, *out.parent.parents) if p.exists() or p == p.parent)
    if not above.is_dir():
        raise PredictError(f"cannot write {out}: {above} is a file, not a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise PredictError(f"cannot write {out}: the folder {above} is not writable")
    return out


def write_predictions(frame: pd.DataFrame, out: Path | str, overwrite: bool = False) -> Path:
    """``frame`` as CSV (or parquet, for a ``.parquet`` name), written atomically; the missing folders
    above ``out`` are made. ``out`` may replace an existing file only if ``overwrite`` (:func:`check_out`)."""
    out = check_out(out, overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".parquet":
            write_atomic(out, lambda tmp: frame.to_parquet(tmp, index=False))
        else:
            write_atomic(out, lambda tmp: frame.to_csv(tmp, index=False))
    except OSError as err:
        raise PredictError(f"cannot write {out}: {err.strerror or err}") from None
    return out
