"""Your own images: a folder of GeoTIFF, PNG or JPEG files and a table that describes them.

``data_root`` is the folder; the table is the one ``.csv`` or ``.parquet`` file directly in it,
or dataset parameter ``table`` (relative to the folder, or absolute). One row per image; column
names are case-insensitive, other columns are ignored:

* ``image`` (or ``path``, ``file``): the image, relative to the folder (or absolute). ``.tif`` and
  ``.tiff`` are read as GeoTIFFs (rasterio), anything else as a picture (Pillow: PNG, JPEG, ...).
* ``lat`` (``latitude``), ``lon`` (``lng``, ``longitude``): degrees WGS84. Optional for GeoTIFFs:
  without the columns, or with both cells empty, the location is the centre of the image's
  georeferencing (:func:`~stssl.data.geo.raster_centre`); a table's location wins over it. For a
  picture, two empty cells mean an unknown place (NaN; a teacher then needs ``meta_missing="learned"``).
* ``date`` (``YYYY-MM-DD``, optionally with a time) or ``doy`` (``day_of_year``, 1..366): both
  optional; an empty cell means an unknown day (NaN), as for EuroSAT. Given both, they must agree.
* ``label``: one class name, or several separated by ``;``; or ``labels`` (always multi-label).
  The task is multi-label when a ``labels`` column is used or any row has two names or more.
  Classes: dataset parameter ``classes`` (their order; any other name is an error), else the
  sorted distinct names (numerically when every name is an integer).
* ``split`` (optional): ``train``, ``val`` or ``test``. Without it the split is 70/10/20 at random,
  seeded by the image paths alone: images ranked by the SHA-256 of their path, the first 70 % train,
  the next 10 % val, the rest test; so it is the same whatever the row order, and adding an image
  moves few others. With a ``split`` column and no ``val`` row, val is the test set (as EuroSAT's).

Dataset parameters (``dataset_params``): ``image_size`` (the run's; images are resized to it, see
:func:`~stssl.data.geo.to_rgb8`: stretched when not square), ``table``, ``classes``, ``bands``
(GeoTIFFs: 1 or 3 band names, matched against the file's band descriptions, or 1-based indices;
default the first three bands, a one-band image repeated to grey RGB), ``scale`` (GeoTIFFs: the
pixel value shown as white, ``x01 = clip(value / scale, 0, 1)``; default 255 for ``uint8``
files; any other pixel type needs it, there being no safe guess: Sentinel-2 reflectance x 10 000
looks right at 3000, 16-bit aerial imagery at 65 535), ``augment`` (the augmentation pipeline)
and ``workers`` (reader processes). Pictures are 8-bit (``/ 255``; 16-bit greyscale PNG
``/ 65 535``); ``bands`` and ``scale`` do not apply to them.

Normalisation: mean = std = 0.5 per channel (pixels in [0, 1] -> [-1, 1]), as EuroSAT's: the same
on every path (packed or not), with no pass over the pixels and nothing learnt from test images.

Checks: every image of the folder must have the same native size. Every bad row is collected
(missing or unreadable image, location out of range or missing, unparseable date, day of year out
of range, empty or unknown label, unknown split, an image listed twice, a band that is not there,
a pixel type without ``scale``, a size unlike the others) and reported in one
:class:`~stssl.data.geo.DataError` whose first line says how many rows are bad; then one line per
problem, ``row N (image): problem``, rows counted from 1 after the header (row N is line N + 1 of
a CSV). Nothing is read into memory or packed until every row has passed.

Packing: ``python -m stssl prepare-data folder --root DIR [--table T] [--image-size S]`` (default
size: the images' own) writes ``DIR/stssl-packed-S``; :func:`open_folder` uses it when its signature
(the SHA-1 of the table's bytes, the size, bands, scale, classes) matches, and otherwise warns and
reads the images: a packed form of an edited table is never used. The table is read either way
(for the splits), and the images only when nothing matching is packed.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path

import numpy as np
import pandas as pd

from stssl.core.checks import Kind, Number, OneOf, Pattern, Rule
from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.geo import DataError, check_location, day_of_year, open_geotiff, raster_centre, read_bands, to_rgb8
from stssl.data.packed import Record, is_packed, open_packed, packed_dir, read_all, to_dataset
from stssl.data.registry import DatasetSpec, register

MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train, val, test without a split column
SPLIT_NAMES = ("train", "val", "test")
GEOTIFF_SUFFIXES = (".tif", ".tiff")
TABLE_SUFFIXES = (".csv", ".parquet")
COLUMNS = {  # our name: the accepted spellings (lower case)
    "image": ("image", "path", "file"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "longitude"),
    "date": ("date",),
    "doy": ("doy", "day_of_year"),
    "label": ("label",),
    "labels": ("labels",),
    "split": ("split",),
}
MISSING = ("", "nan", "na", "n/a", "none", "null")
MAX_LINES = 60  # problem lines in one error; the rest are counted


# ----------------------------------------------------------------------------- problems
def _ranges(rows: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3, 5"`` (at most a dozen ranges)."""
    out, rows = [], sorted(set(rows))
    i = 0
    while i < len(rows):
        j = i
        while j + 1 < len(rows) and rows[j + 1] == rows[j] + 1:
            j += 1
        out.append(str(rows[i]) if i == j else f"{rows[i]}-{rows[j]}")
        i = j + 1
    return ", ".join(out[:12]) + (f", ... ({len(out) - 12} more ranges)" if len(out) > 12 else "")


class _Problems:
    """Bad rows, collected so that one error names them all."""

    def __init__(self, table: Path, n_rows: int):
        self.table, self.n_rows = table, n_rows
        self.lines: list[str] = []
        self.order: list[int] = []  # each line's (first) row, for the report in row order
        self.bad: set[int] = set()

    def row(self, row: int, image: str, problem: str) -> None:
        self.bad.add(row)
        self.lines.append(f"row {row} ({image}): {problem}")
        self.order.append(row)

    def rows(self, rows: list[int], problem: str) -> None:
        self.bad.update(rows)
        self.lines.append(f"row{'s' if len(rows) > 1 else ''} {_ranges(rows)}: {problem}")
        self.order.append(min(rows))

    def error(self, row: int, err: DataError) -> None:
        """A helper's error whose message already starts with the row (``source=f"row N (image)"``)."""
        self.bad.add(row)
        self.lines.append(str(err))
        self.order.append(row)

    def raise_any(self) -> None:
        if not self.lines:
            return
        lines = [line for _, line in sorted(zip(self.order, self.lines), key=lambda pair: pair[0])]
        shown = lines[:MAX_LINES]
        if len(self.lines) > MAX_LINES:
            shown.append(f"... and {len(self.lines) - MAX_LINES} more problems")
        raise DataError(
            f"{len(self.bad)} of {self.n_rows} rows of the table {self.table} are bad (rows counted "
            "from 1 after the header):\n  " + "\n  ".join(shown)
        )


# ----------------------------------------------------------------------------- the table
@dataclass
class Row:
    """One image as the table (and, once scanned, the file) describes it."""

    number: int  # 1-based, after the header
    image: str  # as written in the table (posix), the sample's id
    labels: list[str]
    split: str | None
    doy: float = math.nan
    lat: float | None = None  # None: from the GeoTIFF's georeferencing
    lon: float | None = None
    geotiff: bool = False
    bands: tuple[int, ...] = ()  # GeoTIFF: the 1-based bands to read (1 or 3)
    native: tuple[int, int] = (0, 0)  # height, width
    sixteen_bit: bool = False  # a 16-bit greyscale picture (/ 65 535)


@dataclass
class Table:
    """The parsed table: its rows (in table order), classes and task, and the hash of its bytes."""

    path: Path
    sha1: str
    rows: list[Row]
    task: TaskInfo
    has_split: bool
    has_location: bool = False  # lat and lon columns: a picture whose two cells are empty has an unknown place


def find_table(root: Path, table: str | None = None) -> Path:
    """The table: ``table`` (relative to ``root`` or absolute), else the one CSV/parquet file in ``root``."""
    if not root.is_dir():
        raise DataError(f"the folder {root} does not exist (data_root must be the folder of images and their table)")
    if table:
        path = root / table
        if not path.is_file():
            raise DataError(
                f"the table {path} does not exist (dataset parameter table is relative to {root}, or absolute)"
            )
        return path
    found = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
    if len(found) == 1:
        return found[0]
    what = f"{len(found)} tables ({', '.join(p.name for p in found)})" if found else "no .csv or .parquet file"
    raise DataError(
        f"{root} holds {what}; name the one to use with dataset parameter table "
        "(--set dataset_params={table: labels.csv}, or prepare-data --table)"
    )


def fingerprint(root: str | Path | None, params: dict) -> dict:
    """``{"table_sha1": ...}`` of the table a run with ``params`` reads, for its cache key: a run on an
    edited table is a new run. Nothing when the table cannot be found yet (loading then says why)."""
    try:
        path = find_table(Path(root), params.get("table")) if root else None
    except DataError:
        path = None
    return {"table_sha1": hashlib.sha1(path.read_bytes()).hexdigest()} if path else {}


def _read_frame(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except ImportError as err:
        raise DataError(
            f"reading the parquet table {path} needs pyarrow (pip install pyarrow), or save the table as CSV: {err}"
        ) from err
    except Exception as err:  # pandas raises many types for a malformed file
        raise DataError(
            f"cannot read the table {path}: {err!r} (expected a CSV or parquet file with columns "
            "image, lat, lon, date or doy, label, split)"
        ) from err


def _columns(frame: pd.DataFrame, path: Path, need_labels: bool = True) -> dict[str, str]:
    """Our column name -> the table's, for the columns present (a label column required if ``need_labels``)."""
    by_lower: dict[str, str] = {}
    for col in frame.columns:
        by_lower.setdefault(str(col).strip().lower(), col)
    found = {}
    for ours, spellings in COLUMNS.items():
        present = [by_lower[s] for s in spellings if s in by_lower]
        if len(present) > 1:
            raise DataError(f"the table {path} has the columns {present}, which mean the same; keep one")
        if present:
            found[ours] = present[0]
    have = ", ".join(map(str, frame.columns)) or "none"
    if "image" not in found:
        raise DataError(f"the table {path} has no image column (image, path or file); its columns: {have}")
    if ("label" in found and "labels" in found) or (need_labels and not ("label" in found or "labels" in found)):
        raise DataError(
            f"the table {path} needs one label column, label (one name, or several separated by ';') "
            f"or labels (multi-label); its columns: {have}"
        )
    if ("lat" in found) != ("lon" in found):
        raise DataError(
            f"the table {path} has {'lat' if 'lat' in found else 'lon'} but not "
            f"{'lon' if 'lat' in found else 'lat'}; give both, or neither for GeoTIFFs (their "
            "georeferencing gives the location)"
        )
    return found


def _cell(value) -> str | Date | None:
    """A cell as stripped text (a date as it is, a list joined by ``;``), ``None`` when empty or missing."""
    if isinstance(value, (list, tuple, np.ndarray)):  # a parquet list column (labels)
        return ";".join(str(v) for v in value) or None
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, (Date, pd.Timestamp)):
        return value
    text = str(value).strip()
    return None if text.lower() in MISSING else text


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _class_order(names: set[str]) -> tuple[str, ...]:
    if names and all(n.lstrip("-").isdigit() for n in names):
        return tuple(sorted(names, key=int))
    return tuple(sorted(names))


UNLABELLED = TaskInfo(("(no label)",), multilabel=True)
"""The task of a table read without a label column (images to predict): every label vector empty."""


def read_table(path: Path, classes: list | tuple | None = None, need_labels: bool = True) -> tuple[Table, _Problems]:
    """The rows of the table at ``path``, and the problems found in it (not raised: the images' are added).
    Without ``need_labels`` a table may lack a label column (its task is :data:`UNLABELLED`) or name one
    class only (images to predict)."""
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
    frame = _read_frame(path)
    if len(frame) == 0:
        raise DataError(f"the table {path} has no rows")
    cols = _columns(frame, path, need_labels)
    label_col = "label" if "label" in cols else "labels" if "labels" in cols else None
    problems = _Problems(path, len(frame))
    rows, first_row = [], {}
    for number, record in enumerate(frame.to_dict("records"), start=1):
        get = {ours: _cell(record[theirs]) for ours, theirs in cols.items()}
        image = get["image"]
        if image is None:
            problems.row(number, "no image", "the image cell is empty")
            continue
        image = Path(str(image)).as_posix()
        where = f"row {number} ({image})"
        if image in first_row:
            problems.row(number, image, f"the image is listed twice (also row {first_row[image]})")
            continue
        first_row[image] = number
        labels, split = [], None
        if label_col is not None:  # images to predict have neither labels nor a split to check
            labels = [s for s in dict.fromkeys(s.strip() for s in str(get[label_col] or "").split(";")) if s]
            if not labels:
                problems.row(number, image, "empty label (one class name, or several separated by ';')")
            split = get.get("split")
            if split is not None:
                split = str(split).lower()
                if split not in SPLIT_NAMES:
                    problems.row(number, image, f"unknown split {get['split']!r} (valid: {', '.join(SPLIT_NAMES)})")
            elif "split" in cols:
                problems.row(number, image, "empty split (valid: train, val, test)")
        row = Row(number, image, labels, split)
        _parse_location(row, get, where, problems)
        _parse_day(row, get, where, problems)
        rows.append(row)
    if label_col is None:
        return Table(path, sha1, rows, UNLABELLED, "split" in cols, "lat" in cols), problems
    names = {name for row in rows for name in row.labels}
    if classes:
        order = tuple(str(c) for c in classes)
        if len(set(order)) != len(order):
            raise DataError(f"dataset parameter classes lists a class twice: {list(order)}")
        for row in rows:
            unknown = [n for n in row.labels if n not in order]
            if unknown:
                problems.row(
                    row.number,
                    row.image,
                    f"unknown label{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(map(repr, unknown))} (classes: {', '.join(order)})",
                )
    else:
        order = _class_order(names)
    multilabel = "labels" in cols or any(len(row.labels) > 1 for row in rows)
    if need_labels and len(order) < 2 and not problems.lines:  # images to predict may all share one class
        raise DataError(
            f"the table {path} has {len(order)} class{'es' if len(order) != 1 else ''} "
            f"({', '.join(order) or 'none'}); a classifier needs two at least"
        )
    return Table(path, sha1, rows, TaskInfo(order, multilabel), "split" in cols, "lat" in cols), problems


def _parse_location(row: Row, get: dict, where: str, problems: _Problems) -> None:
    lat, lon = get.get("lat"), get.get("lon")
    if lat is None and lon is None:
        return  # from the GeoTIFF, checked when scanning the image
    row.lat = row.lon = math.nan  # a bad location given: reported here, not looked up in the image
    if lat is None or lon is None:
        problems.row(
            row.number, row.image, f"{'lat' if lat is None else 'lon'} is missing (give both, or neither for a GeoTIFF)"
        )
        return
    a, o = _number(lat), _number(lon)
    if a is None or o is None:
        problems.row(row.number, row.image, f"the location is not a number: lat={lat!r}, lon={lon!r}")
        return
    try:
        row.lat, row.lon = check_location(a, o, where)
    except DataError as err:
        problems.error(row.number, err)


def _parse_day(row: Row, get: dict, where: str, problems: _Problems) -> None:
    text, doy = get.get("date"), get.get("doy")
    from_date = from_doy = None
    if text is not None:
        if isinstance(text, (Date, pd.Timestamp)):
            from_date = float(text.timetuple().tm_yday)
        else:
            text = str(text)
            if len(text) > 10 and text[10] == "T":  # ISO 8601's 2018-06-13T10:10:31
                text = text[:10] + " " + text[11:19]
            try:
                from_date = day_of_year(text, where)
            except DataError as err:
                problems.error(row.number, err)
                return
    if doy is not None:
        from_doy = _number(doy)
        if from_doy is None or not 1 <= from_doy <= 366:
            problems.row(row.number, row.image, f"day of year {doy!r} out of range (1..366)")
            return
    if from_date is not None and from_doy is not None and from_date != from_doy:
        problems.row(row.number, row.image, f"the date {get['date']} is day {from_date:g} but doy says {from_doy:g}")
        return
    row.doy = from_date if from_date is not None else from_doy if from_doy is not None else math.nan


# ----------------------------------------------------------------------------- the images
def _band_indices(src, bands, image: str) -> tuple[int, ...]:
    """1-based band indices of an open GeoTIFF for ``bands`` (names or indices; None: the default)."""
    if bands is None:
        if src.count >= 3:
            return (1, 2, 3)
        if src.count == 1:
            return (1,)
        raise ValueError(f"the GeoTIFF has {src.count} bands; choose 1 or 3 with dataset parameter bands")
    names = [d or "" for d in src.descriptions]
    out = []
    for band in bands:
        if isinstance(band, int) and not isinstance(band, bool):
            if not 1 <= band <= src.count:
                raise ValueError(f"band {band} out of range (the GeoTIFF has {src.count} bands, counted from 1)")
            out.append(band)
            continue
        matches = [i for i, n in enumerate(names, 1) if n == band] or [
            i for i, n in enumerate(names, 1) if n.lower() == str(band).lower()
        ]
        if not matches:
            described = ", ".join(n or "?" for n in names)
            raise ValueError(
                f"no band named {band!r} (the GeoTIFF's band descriptions: {described}); "
                "name one of those or give 1-based indices"
            )
        out.append(matches[0])
    return tuple(out)


def _scan(root: Path, row: Row, bands, scale, problems: _Problems, dtypes: dict, unknown_place: bool = False) -> None:
    """Fill ``row`` from its image's header (size, bands, location) or record its problem."""
    path = root / row.image
    if not path.is_file():
        problems.row(row.number, row.image, f"missing image file {path}")
        return
    row.geotiff = path.suffix.lower() in GEOTIFF_SUFFIXES
    try:
        if row.geotiff:
            import rasterio

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                with open_geotiff(path) as src:
                    row.native = (src.height, src.width)
                    row.bands = _band_indices(src, bands, row.image)
                    kinds = {src.dtypes[b - 1] for b in row.bands}
            if scale is None and kinds != {"uint8"}:
                dtypes.setdefault(", ".join(sorted(kinds)), []).append(row.number)
            if row.lat is None:
                try:
                    row.lat, row.lon = raster_centre(path)
                except DataError as err:
                    raise DataError(f"{err}; give lat and lon in the table") from err
        else:
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(path) as img:
                    img.load()  # a truncated file fails here, not halfway through packing
                    row.native = (img.height, img.width)
                    row.sixteen_bit = img.mode.startswith("I")
                    if img.mode == "F":
                        raise ValueError("32-bit float pictures are not read; save it as a GeoTIFF and give scale")
            except (OSError, UnidentifiedImageError, SyntaxError) as err:
                raise DataError(f"unreadable image: {err}") from err
            if row.lat is None and unknown_place:  # both cells empty: an unknown place (meta_missing='learned')
                row.lat = row.lon = math.nan
            elif row.lat is None:
                problems.row(
                    row.number, row.image, "no location: lat and lon are missing and only GeoTIFFs carry georeferencing"
                )
    except (DataError, ValueError) as err:
        problems.row(row.number, row.image, str(err))


def _check_sizes(rows: list[Row], problems: _Problems) -> None:
    """Every image of the folder has one native size; the rows of the other sizes are bad."""
    sizes: dict[tuple[int, int], list[int]] = {}
    for row in rows:
        if row.native != (0, 0):
            sizes.setdefault(row.native, []).append(row.number)
    if len(sizes) < 2:
        return
    common = max(sizes, key=lambda s: len(sizes[s]))  # the first of the most frequent sizes
    found = "; ".join(f"{h}x{w} in row{'s' if len(r) > 1 else ''} {_ranges(r)}" for (h, w), r in sizes.items())
    for row in rows:
        if row.native not in ((0, 0), common):
            problems.row(
                row.number,
                row.image,
                f"the image is {row.native[0]}x{row.native[1]} pixels but "
                f"{len(sizes[common])} others are {common[0]}x{common[1]} (mixed image sizes: {found}); "
                "every image of the folder must have the same size",
            )


# ----------------------------------------------------------------------------- the source
@dataclass
class FolderSource:
    """The folder's images, read one at a time (a :class:`~stssl.data.packed.Source`)."""

    root: Path
    table: Table
    image_size: int
    bands: list | None = None
    scale: float | None = None
    mean: tuple[float, ...] = MEAN
    std: tuple[float, ...] = STD
    task: TaskInfo = field(init=False)

    def __post_init__(self) -> None:
        self.task = self.table.task

    @property
    def ids(self) -> list[str]:
        return [row.image for row in self.table.rows]

    def read(self, i: int) -> Record:
        row = self.table.rows[i]
        path = self.root / row.image
        if row.geotiff:
            import rasterio

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                x = read_bands(path, row.bands)
            x01 = np.clip(x / (self.scale or 255.0), 0, 1)
        else:
            x01 = _picture(path, row)
        if len(x01) == 1:
            x01 = np.repeat(x01, 3, axis=0)
        classes = self.task.class_names
        if self.task.multilabel:
            label = np.zeros(len(classes), np.float32)
            label[[classes.index(n) for n in row.labels]] = 1
        else:
            label = classes.index(row.labels[0])
        return Record(to_rgb8(x01, self.image_size), label, row.lat, row.lon, row.doy)

    def describe(self) -> dict:
        return describe(self.table, self.image_size, self.bands, self.scale)


def describe(table: Table, image_size: int, bands, scale) -> dict:
    """What determines the packed content besides the ids: a packed form is reused only when all agree."""
    return {
        "dataset": "folder",
        "image_size": int(image_size),
        "table_sha1": table.sha1,
        "classes": list(table.task.class_names),
        "multilabel": table.task.multilabel,
        "bands": None if bands is None else list(bands),
        "scale": None if scale is None else float(scale),
        "scaling": "GeoTIFF: clip(value / scale, 0, 1); pictures: / 255 (16-bit: / 65535)",
    }


def _picture(path: Path, row: Row) -> np.ndarray:
    """A PNG/JPEG/... as C x H x W floats in [0, 1] (C = 3, or 1 for 16-bit greyscale)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            if row.sixteen_bit:
                return np.asarray(img, dtype=np.float32)[None] / 65535.0
            return np.asarray(img.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0
    except OSError as err:
        raise DataError(f"row {row.number} ({row.image}): unreadable image: {err}") from err


def _options(params: dict) -> dict:
    known = {"table", "bands", "scale", "classes"}
    unknown = sorted(set(params) - known - {"image_size", "augment", "workers", "table_sha1"})
    if unknown:
        raise DataError(
            f"the folder data set takes no option {', '.join(unknown)}; valid: image_size, "
            f"{', '.join(sorted(known))}, augment, workers"
        )
    return {k: params.get(k) for k in known}


def _table(root: Path, options: dict, need_labels: bool = True) -> tuple[Table, _Problems]:
    bands = options.get("bands")
    if bands is not None and len(bands) not in (1, 3):
        raise DataError(f"dataset parameter bands={list(bands)}: give 1 band (shown as grey) or 3 (red, green, blue)")
    return read_table(find_table(root, options.get("table")), options.get("classes"), need_labels)


def _scanned(
    root: Path, table: Table, problems: _Problems, options: dict, image_size: int | None, one_size: bool = True
) -> FolderSource:
    """Every image's header checked (all problems raised together); the source at ``image_size``
    (``None``: the images' own size). ``one_size``: every image must have the same native size."""
    dtypes: dict[str, list[int]] = {}
    for row in table.rows:
        _scan(root, row, options.get("bands"), options.get("scale"), problems, dtypes, table.has_location)
    if one_size:
        _check_sizes(table.rows, problems)
    for kinds, rows in dtypes.items():
        problems.rows(
            rows,
            f"GeoTIFF pixels of type {kinds}: give dataset parameter scale, the pixel value shown "
            "as white (e.g. 3000 for Sentinel-2 reflectance x 10 000); only uint8 defaults to 255",
        )
    problems.raise_any()
    if image_size is None:
        h, w = table.rows[0].native
        if h != w:
            raise DataError(
                f"the images of {root} are {h}x{w} pixels, not square: give an image size "
                "(prepare-data --image-size) to resize them to"
            )
        image_size = h
    return FolderSource(root, table, int(image_size), options.get("bands"), options.get("scale"))


def source(
    root: Path | str, image_size: int | None = None, options: dict | None = None, need_labels: bool = True
) -> FolderSource:
    """The folder at ``root`` as a :class:`~stssl.data.packed.Source` (for ``prepare-data``), every row
    checked; ``options``: ``table``, ``bands``, ``scale``, ``classes``; ``image_size`` None: the images' own.
    Without ``need_labels`` (images to predict) the table may have no label column."""
    options = dict(options or {})
    if options.get("metadata"):
        raise DataError("the folder data set takes its locations from its table (--table), not --metadata")
    options.pop("metadata", None)
    options = _options(options)
    root = Path(root)
    table, problems = _table(root, options, need_labels)
    return _scanned(root, table, problems, options, image_size)


def images_source(root: Path | str, names: list[str], image_size: int, bands=None, scale=None) -> FolderSource:
    """Images without a table (``names`` relative to ``root``), read as the folder's images are
    (``bands``, ``scale``, 16-bit greyscale): no metadata and no labels; unlike a table's rows, they
    may differ in size, each resized to ``image_size``."""
    root = Path(root)
    rows = [Row(i, name, [], None, lat=math.nan, lon=math.nan) for i, name in enumerate(names, 1)]
    table = Table(root, "", rows, UNLABELLED, False)
    problems = _Problems(f"{root} (images without a table)", len(rows))
    return _scanned(root, table, problems, {"bands": bands, "scale": scale}, image_size, one_size=False)


def _packed(root: Path, table: Table, image_size: int, options: dict) -> MetaDataset | None:
    """The packed form of exactly this table and these options, if ``prepare-data`` wrote one."""
    path = packed_dir(root, image_size)
    if not is_packed(path):
        return None
    want = describe(table, image_size, options.get("bands"), options.get("scale"))
    have = json.loads((path / "manifest.json").read_text()).get("signature", {})
    differ = [k for k, v in want.items() if have.get(k) != v]
    if differ:
        what = "another version of the table" if "table_sha1" in differ else f"other settings ({', '.join(differ)})"
        warnings.warn(
            f"{path} was packed from {what}; reading the images instead. Delete it and run "
            "`python -m stssl prepare-data folder` again to pack this one",
            stacklevel=3,
        )
        return None
    ds = open_packed(path, want)
    if list(ds.ids) != [row.image for row in table.rows]:  # the same table's bytes: never, unless tampered with
        raise DataError(f"{path} lists other images than the table {table.path}; delete it and pack again")
    return ds


def open_folder(
    root: Path | str, params: dict | None = None, split: str = "standard"
) -> tuple[MetaDataset, dict[str, np.ndarray]]:
    """The folder's data set (packed form first, else the images) and its train/val/test positions."""
    params = dict(params or {})
    if split != "standard":
        raise ValueError(f"the folder data set has only the standard split (its table's), not {split!r}")
    options = _options(params)
    root = Path(root)
    table, problems = _table(root, options)
    size = params.get("image_size")
    splits = folder_splits(table) if not problems.lines else None  # before any image is read
    ds = None
    if size is not None and not problems.lines:
        ds = _packed(root, table, int(size), options)
    if ds is None:
        src = _scanned(root, table, problems, options, size)
        ds = to_dataset(src, read_all(src, int(params.get("workers") or 0)))
    return ds, splits


def folder_splits(table: Table) -> dict[str, np.ndarray]:
    """Positions (table order) of train, val and test: the ``split`` column, or the seeded random 70/10/20."""
    n = len(table.rows)
    if table.has_split:
        split = np.array([row.split for row in table.rows])
        out = {name: np.flatnonzero(split == name) for name in SPLIT_NAMES}
        missing = [name for name in ("train", "test") if not len(out[name])]
        if missing:
            raise DataError(f"the split column of {table.path} has no {' and no '.join(missing)} row")
        if not len(out["val"]):
            out["val"] = out["test"]
        return out
    if n < 3:
        raise DataError(
            f"the table {table.path} has {n} image(s); a random train/val/test split needs 3 at least "
            "(or give a split column)"
        )
    rank = sorted(range(n), key=lambda i: hashlib.sha256(table.rows[i].image.encode()).hexdigest())
    n_val = max(1, round(SPLIT_FRACTIONS[1] * n))
    n_test = max(1, round(SPLIT_FRACTIONS[2] * n))
    n_train = n - n_val - n_test
    return {
        "train": np.sort(np.array(rank[:n_train])),
        "val": np.sort(np.array(rank[n_train : n_train + n_val])),
        "test": np.sort(np.array(rank[n_train + n_val :])),
    }


# ----------------------------------------------------------------------------------------------- the registry's declaration
def _folder_defaults():
    return {"table": None, "bands": None, "scale": None, "classes": None, "augment": "randaugment", "workers": 0}


class _Bands(Rule):
    """GeoTIFF bands: 1 or 3 band names (the file's band descriptions) or 1-based indices, or None."""

    def __contains__(self, value) -> bool:
        if value is None:
            return True
        return (
            isinstance(value, (list, tuple))
            and len(value) in (1, 3)
            and all(
                (isinstance(b, str) and b) or (isinstance(b, int) and not isinstance(b, bool) and b >= 1) for b in value
            )
        )

    def __str__(self) -> str:
        return "a list of 1 or 3 band names or 1-based band indices (red, green, blue), or None"


class _Names(Rule):
    """A list of distinct class names, or None."""

    def __contains__(self, value) -> bool:
        return value is None or (
            isinstance(value, (list, tuple))
            and len(value) >= 2
            and all(isinstance(n, (str, int)) and not isinstance(n, bool) for n in value)
            and len({str(n) for n in value}) == len(value)
        )

    def __str__(self) -> str:
        return "a list of two or more distinct class names, or None"


register(
    DatasetSpec(
        "folder",
        open_folder,
        description="your own images (GeoTIFF, PNG, JPEG) in a folder, with a table (CSV or parquet) of image paths, "
        "locations, dates, one or several labels and an optional split (stssl.data.folder)",
        params=dict(
            image_size=Number(1, integer=True),
            table=Kind(str, "a path", optional=True),
            bands=_Bands(),
            scale=Number(0, open_low=True, optional=True),
            classes=_Names(),
            augment=OneOf(("randaugment", "usb", "fused")),
            workers=Number(0, integer=True),
            table_sha1=Pattern(r"[0-9a-f]{40}", "the SHA-1 of the table (set by resolve)"),
        ),
        augmentation=lambda params: params.get("augment", _folder_defaults()["augment"]),
        single_label={},
        source=source,
        default_params=_folder_defaults,
        fingerprint=fingerprint,
    )
)
