"""The ``folder`` data set: your own PNG/JPEG/GeoTIFF images and a table (stssl.data.folder)."""

import hashlib
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from stssl.data import load_data, prepare_data
from stssl.data.folder import open_folder
from stssl.data.geo import DataError

SIZE = 16


def write_png(path, seed, size=SIZE, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels, mode).save(path)
    return pixels


def write_csv(root, header, rows, name="table.csv"):
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    (root / name).write_text("\n".join(lines) + "\n")
    return root / name


def make_folder(root, n=64, size=SIZE, split=False):
    """``n`` PNGs with known labels (a, b, c), locations and dates; returns the table's rows."""
    rows = []
    for i in range(n):
        write_png(root / "img" / f"{i:03d}.png", i, size)
        row = [f"img/{i:03d}.png", 40 + i / 10, -3 + i / 10, f"2018-{1 + i % 12:02d}-13", "abc"[i % 3]]
        if split:
            row.append(("train", "train", "val", "test")[i % 4])
        rows.append(row)
    write_csv(root, ["image", "lat", "lon", "date", "label"] + (["split"] if split else []), rows)
    return rows


def listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ----------------------------------------------------------------------------- loads
def test_single_label_pngs_and_jpeg_with_split_column(tmp_path):
    px = [write_png(tmp_path / "img" / f"{i}.png", i) for i in range(4)]
    jpeg = tmp_path / "img" / "4.jpg"
    Image.fromarray(write_png(tmp_path / "tmp.png", 9)).save(jpeg, quality=95)
    (tmp_path / "tmp.png").unlink()
    write_csv(
        tmp_path,
        ["Image", "LAT", "lon", "date", "doy", "label", "split"],
        [
            ["img/0.png", 48.5, 2.25, "2018-06-13", None, "water", "train"],
            ["img/1.png", -33.9, 151.2, None, 200, "forest", "train"],
            ["img/2.png", 0, 0, None, None, "urban", "val"],
            ["img/3.png", 89.9, -179.9, "2020-12-31 10:00:00", None, "forest", "test"],
            ["img/4.jpg", 10, 20, "2019-01-01T09:30:00", 1, "water", "test"],
        ],
    )
    data = load_data("folder", str(tmp_path), {"image_size": SIZE}, label_fraction=0.5)
    ds = data.dataset
    assert ds.task.class_names == ("forest", "urban", "water") and not ds.task.multilabel
    assert ds.labels.tolist() == [2, 0, 1, 0, 2] and ds.labels.dtype == np.int64
    np.testing.assert_allclose(ds.lat, [48.5, -33.9, 0, 89.9, 10], atol=1e-5)
    np.testing.assert_allclose(ds.lon, [2.25, 151.2, 0, -179.9, 20], atol=1e-4)
    assert ds.doy[0] == 164 and ds.doy[1] == 200 and math.isnan(ds.doy[2]) and ds.doy[3] == 366 and ds.doy[4] == 1
    assert ds.pixels.shape == (5, SIZE, SIZE, 3) and ds.pixels.dtype == np.uint8
    for i in range(4):
        np.testing.assert_array_equal(ds.pixels[i], px[i])  # native size: no resampling
    np.testing.assert_array_equal(ds.pixels[4], np.asarray(Image.open(jpeg).convert("RGB")))
    assert list(ds.ids) == ["img/0.png", "img/1.png", "img/2.png", "img/3.png", "img/4.jpg"]
    assert data.train.tolist() == [0, 1] and data.val.tolist() == [2] and data.test.tolist() == [3, 4]
    assert ds[0]["image"].shape == (3, SIZE, SIZE) and ds[0]["image"].abs().max() <= 1  # mean = std = 0.5
    # resized on request
    assert load_data("folder", str(tmp_path), {"image_size": 8}).dataset.pixels.shape == (5, 8, 8, 3)


def _multilabel_rows():
    return [
        ["a.png", 1.0, 2.0, "2018-03-01", "crops;water"],
        ["b.png", 3.0, 4.0, None, "water"],
        ["c.png", 5.0, 6.0, "2018-03-02", "urban; crops ;"],
        ["d.png", 7.0, 8.0, None, "urban"],
    ]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_multi_label_from_csv_and_parquet(tmp_path, fmt):
    for i, name in enumerate("abcd"):
        write_png(tmp_path / f"{name}.png", i)
    rows = _multilabel_rows()
    if fmt == "csv":
        write_csv(tmp_path, ["path", "latitude", "longitude", "date", "label"], rows)
    else:
        pytest.importorskip("pyarrow")
        import pandas as pd

        frame = pd.DataFrame(rows, columns=["file", "lat", "lng", "date", "label"])
        frame["date"] = pd.to_datetime(frame["date"])  # a real date column
        frame.to_parquet(tmp_path / "meta.parquet")
    ds, splits = open_folder(tmp_path, {"image_size": SIZE})
    assert ds.task.multilabel and ds.task.class_names == ("crops", "urban", "water")
    assert ds.labels.dtype == np.float32
    assert ds.labels.tolist() == [[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]]
    np.testing.assert_allclose(ds.lat, [1, 3, 5, 7])
    np.testing.assert_allclose(ds.lon, [2, 4, 6, 8])
    np.testing.assert_array_equal(ds.doy[[0, 2]], [60, 61])
    assert np.isnan(ds.doy[[1, 3]]).all()
    assert sorted(np.concatenate([splits["train"], splits["val"], splits["test"]]).tolist()) == [0, 1, 2, 3]


def test_labels_column_and_classes_parameter(tmp_path):
    for i, name in enumerate("abc"):
        write_png(tmp_path / f"{name}.png", i)
    write_csv(
        tmp_path, ["image", "lat", "lon", "labels"], [["a.png", 0, 0, "2"], ["b.png", 0, 0, "10"], ["c.png", 0, 0, "2"]]
    )
    ds, _ = open_folder(tmp_path, {"image_size": SIZE})
    assert ds.task.multilabel and ds.task.class_names == ("2", "10")  # integers: numeric order
    ds, _ = open_folder(tmp_path, {"image_size": SIZE, "classes": ["10", "2", "7"]})
    assert ds.task.class_names == ("10", "2", "7") and ds.labels.tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0]]


def write_geotiff(path, bands, epsg, ulx, uly, res=10.0, descriptions=None):
    import rasterio
    from affine import Affine
    from rasterio.crs import CRS

    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=bands.shape[1],
        width=bands.shape[2],
        count=len(bands),
        dtype=bands.dtype,
        crs=CRS.from_epsg(epsg) if epsg else None,
        transform=Affine(res, 0, ulx, 0, -res, uly),
    ) as dst:
        dst.write(bands)
        for i, d in enumerate(descriptions or (), 1):
            dst.set_band_description(i, d)


def test_geotiff_bands_scale_and_location_from_georeferencing(tmp_path):
    from pyproj import Transformer

    rng = np.random.default_rng(0)
    dn = rng.integers(0, 4000, (4, SIZE, SIZE), dtype=np.uint16)
    write_geotiff(tmp_path / "t" / "s2.tif", dn, 32632, 500_000, 5_300_000, descriptions=("B02", "B03", "B04", "B08"))
    grey = rng.integers(0, 256, (1, SIZE, SIZE), dtype=np.uint8)
    write_geotiff(tmp_path / "t" / "grey.tif", grey, 32632, 600_000, 5_200_000)
    write_png(tmp_path / "p.png", 3)
    write_png(tmp_path / "q.png", 4)
    header = ["image", "lat", "lon", "doy", "label"]
    s2, grey_row, png = (
        ["t/s2.tif", None, None, 100, "x"],
        ["t/grey.tif", 45.0, 7.5, None, "y"],
        ["p.png", 1, 2, 5, "y"],
    )
    write_csv(tmp_path, header, [s2, png, ["q.png", 3, 4, None, "x"]], name="s2.csv")
    write_csv(tmp_path, header, [s2, grey_row, png], name="all.csv")
    params = {"image_size": SIZE, "table": "s2.csv", "bands": ["B04", "b03", "B02"], "scale": 3000}
    ds, _ = open_folder(tmp_path, params)
    lon, lat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform(
        500_000 + 10 * SIZE / 2, 5_300_000 - 10 * SIZE / 2
    )
    assert ds.lat[0] == pytest.approx(lat, abs=1e-5) and ds.lon[0] == pytest.approx(lon, abs=1e-5)
    assert ds.doy[0] == 100
    expect = np.round(np.clip(dn[[2, 1, 0]].astype(np.float64) / 3000, 0, 1) * 255).transpose(1, 2, 0)
    np.testing.assert_array_equal(ds.pixels[0], expect)
    by_index, _ = open_folder(tmp_path, params | {"bands": [3, 2, 1]})
    np.testing.assert_array_equal(by_index.pixels[0], expect)
    # a named band that one file lacks is that file's problem
    with pytest.raises(DataError, match=r"1 of 3 rows.*\n  row 2 \(t/grey.tif\): no band named 'B04'"):
        open_folder(tmp_path, params | {"table": "all.csv"})
    # uint16 pixels need scale (uint8 ones default to 255)
    with pytest.raises(
        DataError,
        match=r"1 of 3 rows.*\n  row 1: GeoTIFF pixels of type uint16: give dataset "
        r"parameter scale",
    ):
        open_folder(tmp_path, {"image_size": SIZE, "table": "all.csv", "bands": [1]})
    one, _ = open_folder(tmp_path, {"image_size": SIZE, "table": "all.csv", "bands": [1], "scale": 255})
    assert (one.lat[1], one.lon[1]) == (45.0, 7.5)  # the table's location wins over the georeferencing
    np.testing.assert_array_equal(one.pixels[1], np.repeat(grey[0][..., None], 3, axis=2))  # one band: grey RGB
    np.testing.assert_array_equal(
        one.pixels[0], np.repeat(np.round(np.clip(dn[0] / 255, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
    )


def test_random_split_is_seeded_by_the_paths(tmp_path):
    rows = make_folder(tmp_path, n=40)
    ds, splits = open_folder(tmp_path, {"image_size": SIZE})
    assert [len(splits[k]) for k in ("train", "val", "test")] == [28, 4, 8]
    assert sorted(np.concatenate(list(splits.values())).tolist()) == list(range(40))
    by_id = {k: sorted(ds.ids[v]) for k, v in splits.items()}
    write_csv(tmp_path, ["image", "lat", "lon", "date", "label"], rows[::-1])  # another row order
    ds2, splits2 = open_folder(tmp_path, {"image_size": SIZE})
    assert {k: sorted(ds2.ids[v]) for k, v in splits2.items()} == by_id


# ----------------------------------------------------------------------------- bad rows
BAD_ROWS = {  # row 2's cells (image, lat, lon, date, label, split) -> the problem's words
    "missing image": (["img/nope.png", 1, 2, None, "a", "train"], r"missing image file .*img/nope.png"),
    "unreadable image": (["img/text.png", 1, 2, None, "a", "train"], r"unreadable image"),
    "lat out of range": (["img/1.png", 91, 2, None, "a", "train"], r"location out of range: lat=91.0"),
    "lon missing": (["img/1.png", 1, None, None, "a", "train"], r"lon is missing"),
    "location not a number": (
        ["img/1.png", "north", 2, None, "a", "train"],
        r"the location is not a number: lat='north'",
    ),
    "unparseable date": (["img/1.png", 1, 2, "2018-13-45", "a", "train"], r"cannot parse the date '2018-13-45'"),
    "empty label": (["img/1.png", 1, 2, None, " ; ", "train"], r"empty label"),
    "unknown label": (["img/1.png", 1, 2, None, "zebra", "train"], r"unknown label 'zebra' \(classes: a, b\)"),
    "unknown split": (["img/1.png", 1, 2, None, "a", "training"], r"unknown split 'training'"),
    "listed twice": (["img/0.png", 1, 2, None, "a", "train"], r"the image is listed twice \(also row 1\)"),
    "mixed sizes": (
        ["img/big.png", 1, 2, None, "a", "train"],
        r"the image is 32x32 pixels but 2 others are 16x16 \(mixed image sizes: 16x16 in rows 1, 3; "
        r"32x32 in row 2\)",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_each_bad_row_is_named(tmp_path, kind):
    for i in range(3):
        write_png(tmp_path / "img" / f"{i}.png", i)
    write_png(tmp_path / "img" / "big.png", 7, size=32)
    (tmp_path / "img" / "text.png").write_text("not an image")
    cells, words = BAD_ROWS[kind]
    write_csv(
        tmp_path,
        ["image", "lat", "lon", "date", "label", "split"],
        [["img/0.png", 1, 2, None, "a", "train"], cells, ["img/2.png", 1, 2, None, "b", "test"]],
    )
    params = {"image_size": SIZE, "classes": ["a", "b"]}
    with pytest.raises(
        DataError, match=rf"^1 of 3 rows of the table .*table.csv are bad .*\n  row 2 \({cells[0]}\): " + words
    ):
        open_folder(tmp_path, params)


def test_day_of_year_out_of_range_and_several_bad_rows(tmp_path):
    for i in range(4):
        write_png(tmp_path / f"{i}.png", i)
    write_csv(
        tmp_path,
        ["image", "lat", "lon", "doy", "label"],
        [["0.png", 1, 2, 367, "a"], ["1.png", 1, 2, 10, "b"], ["2.png", 100, 2, 0, "a"], ["3.png", 1, 2, "", "b"]],
    )
    with pytest.raises(DataError) as err:
        open_folder(tmp_path, {"image_size": SIZE})
    lines = str(err.value).splitlines()
    assert lines[0].startswith("2 of 4 rows of the table")
    assert lines[1:] == [
        "  row 1 (0.png): day of year '367' out of range (1..366)",
        "  row 3 (2.png): location out of range: lat=100.0, lon=2.0 (expected degrees WGS84)",
        "  row 3 (2.png): day of year '0' out of range (1..366)",
    ]


def test_finding_the_table(tmp_path):
    write_png(tmp_path / "a.png", 0)
    with pytest.raises(DataError, match="holds no .csv or .parquet file; name the one to use"):
        open_folder(tmp_path, {"image_size": SIZE})
    write_csv(tmp_path, ["image", "lat", "lon", "label"], [["a.png", 1, 2, "x"]], name="one.csv")
    write_csv(tmp_path, ["image", "lat", "lon", "label"], [["a.png", 1, 2, "y"]], name="two.csv")
    with pytest.raises(DataError, match=r"holds 2 tables \(one.csv, two.csv\); name the one"):
        open_folder(tmp_path, {"image_size": SIZE})
    with pytest.raises(DataError, match="has 1 class .*two at least"):
        open_folder(tmp_path, {"image_size": SIZE, "table": "one.csv"})
    with pytest.raises(DataError, match="no image column"):
        (tmp_path / "bad.csv").write_text("picture,label\na.png,x\n")
        open_folder(tmp_path, {"image_size": SIZE, "table": str(tmp_path / "bad.csv")})
    with pytest.raises(DataError, match="does not exist"):
        open_folder(tmp_path / "nowhere", {"image_size": SIZE})


def test_a_failed_load_caches_nothing(tmp_path):
    make_folder(tmp_path, n=8)
    (tmp_path / "img" / "005.png").unlink()
    before = listing(tmp_path)
    with pytest.raises(DataError, match=r"row 6 \(img/005.png\): missing image file"):
        load_data("folder", str(tmp_path), {"image_size": SIZE})
    with pytest.raises(DataError, match=r"row 6 \(img/005.png\): missing image file"):
        prepare_data("folder", str(tmp_path))
    assert listing(tmp_path) == before  # no packed folder, no .partial, no stray file


# ----------------------------------------------------------------------------- packing, training, the CLI
def stssl(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "stssl", *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy()
    )


def test_prepare_data_then_the_packed_form_is_read(tmp_path):
    rows = make_folder(tmp_path, n=12, split=True)
    direct = load_data("folder", str(tmp_path), {"image_size": SIZE})
    done = stssl("prepare-data", "folder", "--root", str(tmp_path))
    assert done.returncode == 0, done.stderr
    packed = tmp_path / f"stssl-packed-{SIZE}"  # the images' own size
    assert json.loads((packed / "manifest.json").read_text())["signature"]["dataset"] == "folder"
    (tmp_path / "img" / "003.png").unlink()  # only the packed form can still give it
    data = load_data("folder", str(tmp_path), {"image_size": SIZE})
    assert isinstance(data.dataset.pixels, np.memmap)
    np.testing.assert_array_equal(data.dataset.pixels, direct.dataset.pixels)
    np.testing.assert_array_equal(data.dataset.labels, direct.dataset.labels)
    np.testing.assert_array_equal(data.dataset.doy, direct.dataset.doy)
    assert data.train.tolist() == direct.train.tolist() and data.val.tolist() == direct.val.tolist()
    # an edited table never reuses the old table's packed form: it reads the images (and finds 003 gone)
    rows[0][4] = "b"
    write_csv(tmp_path, ["image", "lat", "lon", "date", "label", "split"], rows)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(DataError, match=r"row 4 \(img/003.png\)"):
        warnings.simplefilter("always")
        load_data("folder", str(tmp_path), {"image_size": SIZE})
    assert any("another version of the table" in str(w.message) for w in caught)


def test_training_end_to_end(tmp_path):
    from stssl.config import resolve
    from stssl.training import train

    make_folder(tmp_path, n=64)
    cfg = resolve(
        "smoke",
        dataset="folder",
        data_root=str(tmp_path),
        dataset_params={"augment": "fused"},
        st=True,
        steps=4,
        eval_every=2,
        batch_lb=4,
        uratio=2,
    )
    module = train(cfg, tmp_path / "run", progress=False)
    assert module.data.dataset.pixels.shape == (64, 32, 32, 3) and module.data.dataset.task.num_classes == 3
    assert all(np.isfinite(row["train_loss"]) for row in module.history)


def test_cli_train(tmp_path):
    make_folder(tmp_path, n=64)
    done = stssl(
        "train",
        "--profile",
        "smoke",
        "--quiet",
        "--set",
        "dataset=folder",
        "--set",
        f"data_root={tmp_path}",
        "--set",
        "steps=2",
        "--set",
        "eval_every=1",
        "--set",
        "batch_lb=4",
        "--set",
        "dataset_params={augment: usb}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout[done.stdout.index("{") :])
    assert "run" in out and any(k.startswith("test_") for k in out)
    bad = stssl(
        "train",
        "--profile",
        "smoke",
        "--quiet",
        "--set",
        "dataset=folder",
        "--set",
        f"data_root={tmp_path}",
        "--set",
        "dataset_params={bands: [1, 2]}",
    )
    assert bad.returncode == 2 and "invalid folder bands=[1, 2]" in bad.stderr


def test_a_run_on_an_edited_table_is_a_new_run(tmp_path):
    """The table's SHA-1 is part of a run's config, so the run cache never answers with a run
    trained on the table as it was before an edit."""
    from stssl.config import resolve

    rows = make_folder(tmp_path, n=8)
    before = resolve("smoke", dataset="folder", data_root=str(tmp_path))
    assert before.dataset_params["table_sha1"] == hashlib.sha1((tmp_path / "table.csv").read_bytes()).hexdigest()
    assert resolve("smoke", dataset="folder", data_root=str(tmp_path)).key() == before.key()
    rows[0][4] = "b"
    write_csv(tmp_path, ["image", "lat", "lon", "date", "label"], rows)
    after = resolve("smoke", dataset="folder", data_root=str(tmp_path), dataset_params=before.dataset_params)
    assert after.key() != before.key()  # a stale table_sha1 (from an old config.yaml) is replaced
    assert "table_sha1" not in resolve("smoke", dataset="folder", data_root=str(tmp_path / "nowhere")).dataset_params


def test_prepare_data_cli_takes_the_geotiff_options(tmp_path):
    dn = np.random.default_rng(1).integers(0, 4000, (4, SIZE, SIZE), dtype=np.uint16)
    write_geotiff(tmp_path / "a.tif", dn, 32632, 500_000, 5_300_000, descriptions=("B02", "B03", "B04", "B08"))
    write_csv(tmp_path, ["image", "label"], [["a.tif", "x"]])
    done = stssl(
        "prepare-data", "folder", "--root", str(tmp_path), "--bands", "3,2,1", "--scale", "3000", "--classes", "x,y"
    )
    assert done.returncode == 0, done.stderr
    packed = json.loads((tmp_path / f"stssl-packed-{SIZE}" / "manifest.json").read_text())["signature"]
    assert (packed["bands"], packed["scale"], packed["classes"]) == ([3, 2, 1], 3000, ["x", "y"])
    no_scale = stssl(
        "prepare-data", "folder", "--root", str(tmp_path), "--out", str(tmp_path / "p2"), "--classes", "x,y"
    )
    assert no_scale.returncode == 1 and "give dataset parameter scale" in no_scale.stderr


def test_a_picture_with_empty_place_cells_has_an_unknown_place_that_a_learned_embedding_takes(tmp_path):
    rows = make_folder(tmp_path, n=48)
    for row in rows[::4]:  # every fourth image: no place (both cells empty)
        row[1] = row[2] = None
    write_csv(tmp_path, ["image", "lat", "lon", "date", "label"], rows)
    ds = load_data("folder", str(tmp_path), {"image_size": SIZE}).dataset
    assert np.isnan(ds.lat[::4]).all() and np.isnan(ds.lon[::4]).all() and np.isfinite(ds.lat[1::4]).all()
    from stssl.config import resolve
    from stssl.training import train

    common = dict(dataset="folder", data_root=str(tmp_path), algo="fixmatch", st=True, steps=4, eval_every=2)
    module = train(resolve("smoke", meta_missing="learned", **common), progress=False)
    assert np.isfinite([row["teacher_val_mAP"] for row in module.history]).all()
    with pytest.raises(ValueError, match="every sample needs a location \\(or meta_missing='learned'\\)"):
        train(resolve("smoke", **common), progress=False)
    write_csv(tmp_path, ["image", "date", "label"], [[r[0], r[3], r[4]] for r in rows])  # no place columns at all
    with pytest.raises(DataError, match="no location: lat and lon are missing and only GeoTIFFs carry georeferencing"):
        load_data("folder", str(tmp_path), {"image_size": SIZE})
