"""Book page "ST-SSL on your own data": the ``folder`` data set, end to end.

A user brings a folder of images and a table of where and when each was taken and what it
shows. GeoSynth stands in for such a survey here: a few thousand of its images are written as PNG
files with a CSV table (image, lat, lon, date, labels, split), packed with ``prepare-data``, and
FixMatch and FixMatch + ST-SSL are trained on that folder through the ``folder`` data set, as
any user's folder would be; nothing downstream reads GeoSynth itself. Given ``data_root``, the
page runs on that folder instead.
"""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from stssl.cache import Run
from stssl.config import RunConfig, resolve, seed_list
from stssl.core.files import partial_path, publish_folder
from stssl.data import load_data, prepare_data
from stssl.data.geosynth import default_cache_dir
from stssl.evaluate import selection_metric
from stssl.experiments.page import Page
from stssl.report.stats import difference_cell
from stssl.report.tables import mean_std, runs_frame

IMAGES: dict[str, int] = {"cpu": 5000, "smoke": 400}
"""How many GeoSynth images the page exports, per profile (any other profile: the cpu number)."""
EXPORT_VERSION = 1  # bump when the exported files change, so an old export is not reused
YEAR = 2018  # GeoSynth samples have a day of year; the table states a full date, as a survey's would
AUGMENTATION = "fused"  # GeoSynth's own views, so the runs are comparable with Table 1's


def images_for(profile: str) -> int:
    """How many images the page exports for ``profile``."""
    return IMAGES.get(profile, IMAGES["cpu"])


def export_dir(profile: str = "cpu") -> Path:
    """Where the page's export lives: beside GeoSynth's cache (``$STSSL_CACHE``)."""
    return default_cache_dir() / f"own-data-{profile}-{images_for(profile)}-v{EXPORT_VERSION}"


def export_geosynth(out: Path, profile: str = "cpu", n_images: int | None = None) -> Path:
    """Write ``n_images`` GeoSynth samples as ``<out>/images/<id>.png`` and ``<out>/labels.csv``
    (GeoSynth's own train / val / test split in a ``split`` column), then pack the folder.

    Done once: a finished export (``export.json``) is reused. Written under ``<out>.partial`` and
    renamed at the end, so an interrupted export is redone, never half-read."""
    from PIL import Image

    out = Path(out)
    n_images = n_images or images_for(profile)
    if (out / "export.json").is_file():
        return out
    data = load_data("geosynth", None, resolve(profile, dataset="geosynth").dataset_params)
    ds = data.dataset
    split_of = np.empty(len(ds), dtype=object)
    for name in ("train", "val", "test"):
        split_of[getattr(data, name)] = name
    # a seed of its own: GeoSynth's split draws its test set as the first images of seed 0's permutation
    chosen = np.sort(np.random.default_rng(YEAR).permutation(len(ds))[:n_images])
    partial = partial_path(out)
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "images").mkdir(parents=True)
    rows = []
    for i in chosen:
        name = f"images/{ds.ids[i]}.png"
        Image.fromarray(ds.pixels[i]).save(partial / name)
        day = datetime.date(YEAR, 1, 1) + datetime.timedelta(days=int(ds.doy[i]) - 1)
        present = np.flatnonzero(ds.label_matrix()[i])
        rows.append(
            {
                "image": name,
                "lat": round(float(ds.lat[i]), 5),
                "lon": round(float(ds.lon[i]), 5),
                "date": day.isoformat(),
                "label": ";".join(ds.task.class_names[c] for c in present),
                "split": split_of[i],
            }
        )
    pd.DataFrame(rows).to_csv(partial / "labels.csv", index=False)
    prepare_data("folder", str(partial), image_size=ds.pixels.shape[1])
    (partial / "export.json").write_text(
        json.dumps({"version": EXPORT_VERSION, "profile": profile, "images": int(n_images)})
    )
    publish_folder(partial, out)
    return out


def data_folder(profile: str = "cpu", data_root: str | None = None) -> Path:
    """The folder the page trains on: ``data_root`` as given, or the GeoSynth export (made once)."""
    return Path(data_root) if data_root else export_geosynth(export_dir(profile), profile)


def configs(
    profile: str = "cpu",
    dataset: str | None = None,
    data_root: str | None = None,
    seeds=3,
    device: str = "auto",
    config: dict | None = None,
) -> list[RunConfig]:
    """FixMatch and FixMatch + ST-SSL on the ``folder`` data set, every seed. Without ``data_root``
    the GeoSynth export is written first (once). ``dataset`` must be ``folder`` (or None)."""
    if dataset not in (None, "folder"):
        raise ValueError(
            f"this page trains on the 'folder' data set; got dataset {dataset!r}: give the folder as data_root instead"
        )
    root = str(data_folder(profile, data_root))
    params = {"augment": AUGMENTATION} if not data_root else {}
    return [
        resolve(
            profile,
            dataset="folder",
            data_root=root,
            dataset_params=params,
            algo="fixmatch",
            st=st,
            seed=s,
            device=device,
            **(config or {}),
        )
        for st in (False, True)
        for s in seed_list(seeds)
    ]


def table(runs: list[Run], multilabel: bool = True) -> pd.DataFrame:
    """Test mAP (multi-label) or top-1 accuracy (single-label: the metric runs select by, and
    the paper's for EuroSAT), in %, of FixMatch and of FixMatch + ST-SSL's student (and its
    teacher), mean ± std over seeds, and the paired gain."""
    metric = selection_metric(multilabel)
    column = f"test_{metric}"
    df = runs_frame(runs, metric)
    plain, st = df[~df.st].set_index("seed"), df[df.st].set_index("seed")
    gain = ((st[column] - plain[column]) * 100).dropna()
    return pd.DataFrame(
        {
            "FixMatch": [mean_std(plain[column])],
            "FixMatch + ST-SSL (student)": [mean_std(st[column])],
            "its teacher (with metadata)": [mean_std(st[f"teacher_{column}"])],
            "gain (paired by seed)": [difference_cell(gain)],
        },
        index=[f"test {'mAP' if multilabel else 'accuracy'} (%)"],
    )


PAGE = Page("own_data", 3, "export", configs=configs)
