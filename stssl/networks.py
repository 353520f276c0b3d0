"""A run's networks: building them, their evaluation shift, and predicting with the trained ones.

Training builds a whole :class:`~stssl.training.module.SSLModule` (data, augmentations, an EMA copy,
an optimiser, the algorithm's state); predicting needs none of that. A :class:`Predictor` holds a
run's best EMA networks, what its teacher saw and how (:func:`stssl.meta.run_meta`), the class
names and the pixel normalisation, and the algorithm's evaluation shift (CDMAD subtracts the
logits of a constant image), and scores images in batches on any device::

    predictor = get_run(cfg).predictor(device="cuda")
    probs = predictor.predict(pixels)                                   # the student, images only
    probs = predictor.predict(pixels, meta={"lat": lat, "lon": lon, "doy": doy}, network="teacher")

Evaluation during training goes through :func:`shifted_logits` too, so a page that predicts
with a finished run gets the numbers training reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from stssl.algorithms import ALGORITHMS
from stssl.config import RunConfig
from stssl.core.checks import OneLineError
from stssl.core.devices import check_device, uses_bf16
from stssl.data.base import MetaDataset, TaskInfo
from stssl.evaluate import MetaFn, predict
from stssl.meta import MetaEncoding, run_meta
from stssl.models import build_model, build_teacher_student
from stssl.models.modes import eval_mode


class PredictError(OneLineError):
    """A prediction asked of a run or an input that cannot give it (the message says what to do)."""


def network_name(cfg: RunConfig, name: str | None = None) -> str:
    """``name`` checked against the run's networks; ``None``: the reported one (student or model)."""
    have = ("teacher", "student") if cfg.st else ("model",)
    name = name or have[-1]
    if name not in have:
        raise PredictError(f"this run ({cfg.describe()}) has no {name} network; it has: {', '.join(have)}")
    return name


def shifted_logits(
    net: nn.Module,
    dataset: MetaDataset,
    indices: np.ndarray,
    cfg: RunConfig,
    device: torch.device | str,
    meta_fn: MetaFn | None = None,
) -> np.ndarray:
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
        encoding = MetaEncoding.of(cfg)
        teacher, student = build_teacher_student(
            cfg.model,
            cfg.image_size,
            num_classes,
            distill=cfg.lambda_d > 0,
            fusion=cfg.fusion,
            single_model=cfg.single_model,
            meta_dim=encoding.dim,
            missing_parts=encoding.parts if encoding.missing == "learned" else None,
            meta_net=encoding.network,
        )
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
    def from_state(
        cls, cfg: RunConfig, state: dict, task: TaskInfo, mean: tuple, std: tuple, device: str = "auto"
    ) -> Predictor:
        """The networks of a run of ``cfg`` with the trained ``state``, on ``device``
        (:meth:`stssl.runs.Run.predictor` reads them from a finished run)."""
        dev = torch.device(check_device(device))
        nets = build_nets(cfg, task.num_classes)
        nets.load_state_dict(state)
        return cls(cfg, nets.to(dev).eval(), task, mean, std, dev, run_meta(cfg))

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(self.nets)

    def network(self, name: str | None = None) -> nn.Module:
        """``name``, or the reported network: the student of + ST-SSL, else the model."""
        return self.nets[network_name(self.cfg, name)]

    def dataset_logits(
        self, dataset: MetaDataset, indices: np.ndarray, network: str | None = None, meta_fn: MetaFn | None = None
    ) -> np.ndarray:
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
            raise PredictError(
                f"images of {pixels.shape[1]} x {pixels.shape[2]} px, but the run was trained at "
                f"{self.cfg.image_size} px: resize them first (stssl.data.geo.resize)"
            )

    def _as_dataset(self, images, meta: dict | None, network: str | None) -> MetaDataset:
        name = network_name(self.cfg, network)
        if name == "teacher" and meta is None:
            raise PredictError("the teacher predicts from the image and its metadata: pass meta={'lat', 'lon', 'doy'}")
        if name != "teacher" and meta is not None:
            raise PredictError(
                f"the {name} sees only the image: pass no meta (the teacher takes it: network='teacher')"
            )
        pixels = _uint8_nhwc(images)
        self.check_size(pixels)
        n = len(pixels)
        meta = meta or {}
        column = {k: np.asarray(meta.get(k, np.full(n, np.nan)), dtype=np.float32) for k in ("lat", "lon", "doy")}
        return MetaDataset(
            pixels,
            np.zeros(n, np.int64),
            column["lat"],
            column["lon"],
            column["doy"],
            np.arange(n).astype(str),
            self.task,
            self.mean,
            self.std,
        )


def _uint8_nhwc(images) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        if images.dtype == torch.uint8:
            return images.cpu().numpy()
        return (images.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise PredictError(
            f"images must be uint8 N x H x W x 3 or a float tensor N x 3 x H x W in [0, 1], got "
            f"{arr.dtype} of shape {arr.shape}"
        )
    return arr
