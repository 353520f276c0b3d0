"""The sample contract shared by every data set.

Models and algorithms never know which data set they see: every data set yields the same
dict (``image``, ``label``, ``lat``, ``lon``, ``doy``, ``id``).  Training reads whole batches
through :meth:`MetaDataset.raw_batch`, which returns *un-normalised* pixels in [0, 1], so that
augmentation can run batched (and on the GPU) before :meth:`MetaDataset.normalize`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset


@dataclass(frozen=True)
class TaskInfo:
    """What a model needs to know about the labels of a data set."""

    class_names: tuple[str, ...]
    multilabel: bool

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class MetaDataset(Dataset):
    """Images with per-sample metadata held as arrays in memory (or memory-mapped).

    Subclasses fill ``pixels`` (uint8, N x H x W x C), ``labels`` (int64 N, or float32 N x C
    multi-hot), ``lat``/``lon`` (float degrees WGS84), ``doy`` (float, 1..366 or NaN when
    unknown) and ``ids``; plus the per-channel ``mean``/``std`` used to normalise pixels in [0, 1].
    """

    def __init__(
        self,
        pixels: np.ndarray,
        labels: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        doy: np.ndarray,
        ids: np.ndarray,
        task: TaskInfo,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> None:
        n = len(pixels)
        for name, arr in (("labels", labels), ("lat", lat), ("lon", lon), ("doy", doy), ("ids", ids)):
            if len(arr) != n:
                raise ValueError(f"{name} has {len(arr)} entries but there are {n} images")
        self.pixels = pixels
        self.labels = labels
        self.lat = np.asarray(lat, dtype=np.float32)
        self.lon = np.asarray(lon, dtype=np.float32)
        self.doy = np.asarray(doy, dtype=np.float32)
        self.ids = np.asarray(ids)
        self.task = task
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.pixels)

    def normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The per-channel (mean, std) of pixels in [0, 1], as given to the constructor."""
        return tuple(self.mean.flatten().tolist()), tuple(self.std.flatten().tolist())

    def subset(self, indices: np.ndarray) -> MetaDataset:
        """A view of some samples (same normalisation and task)."""
        idx = np.asarray(indices)
        return MetaDataset(
            self.pixels[idx],
            self.labels[idx],
            self.lat[idx],
            self.lon[idx],
            self.doy[idx],
            self.ids[idx],
            self.task,
            *self.normalisation(),
        )

    def normalize(self, x01: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] (B x C x H x W or C x H x W) -> network input."""
        mean, std = self.mean.to(x01.device), self.std.to(x01.device)
        return (x01 - mean) / std

    def raw_batch(self, indices: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """A batch of un-normalised pixels (uint8, B x C x H x W) with labels and metadata."""
        idx = np.asarray(indices)
        pixels = torch.from_numpy(np.ascontiguousarray(self.pixels[idx])).permute(0, 3, 1, 2)
        return {
            "pixels": pixels,
            "label": torch.from_numpy(np.asarray(self.labels[idx])),
            "lat": torch.from_numpy(self.lat[idx]),
            "lon": torch.from_numpy(self.lon[idx]),
            "doy": torch.from_numpy(self.doy[idx]),
        }

    def __getitem__(self, i: int) -> dict:
        raw = self.raw_batch(np.array([i]))
        image = self.normalize(raw["pixels"][0].float() / 255.0)
        return {
            "image": image,
            "label": raw["label"][0],
            "lat": float(self.lat[i]),
            "lon": float(self.lon[i]),
            "doy": float(self.doy[i]),
            "id": str(self.ids[i]),
        }

    def label_matrix(self) -> np.ndarray:
        """Labels as an N x C {0, 1} matrix, whatever the task (for prevalence and metrics)."""
        if self.task.multilabel:
            return np.asarray(self.labels, dtype=np.float32)
        return np.eye(self.task.num_classes, dtype=np.float32)[np.asarray(self.labels)]
