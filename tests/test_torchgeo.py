"""torchgeo as a dependency: its Copernicus-Bench layouts as data sets, our data sets as its
``NonGeoDataset``s with a ``plot``, and its downloaders behind ``python -m stssl download``.

The Copernicus-Bench fixtures are written here: tiny 12-band (BigEarthNet-S2) and 13-band
(EuroSAT-S2) GeoTIFFs in UTM with the split files torchgeo reads. Nothing touches the network:
the download tests make ``urllib.request.urlopen`` fail as it does offline.
"""

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import Affine

from stssl.data import DataError, load_data, prepare_data, registry
from stssl.data.copernicus import LAYOUTS, copernicus_splits, day_of_year_utc

ROOT = Path(__file__).resolve().parents[1]

# (split, path under BigEarthNet-S2-5%, labels (19), (EPSG, x, y) of the upper-left corner, day of year)
BEN = [
    (
        "train",
        "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57.tif",
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        (32633, 500_000, 5_300_000),
        164,
    ),
    (
        "train",
        "S2B_MSIL2A_20180421T114349_N9999_R123_T29UPU/S2B_MSIL2A_20180421T114349_N9999_R123_T29UPU_77_06/"
        "S2B_MSIL2A_20180421T114349_N9999_R123_T29UPU_77_06_allbands.tif",
        [0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1],
        (32629, 600_000, 5_900_000),
        111,
    ),
    (
        "val",
        "S2A_MSIL2A_20180105T100000_N9999_R122_T35VLG_10_10.tif",
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        (32635, 400_000, 6_700_000),
        5,
    ),
    (
        "test",
        "S2B_MSIL2A_20170901T093029_N9999_R136_T34TDN_44_71.tif",
        [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        (32634, 450_000, 4_800_000),
        244,
    ),
]
# (split, file in the split list, (EPSG, x, y)); labels in stssl's EuroSAT order (alphabetical)
EUROSAT = [
    ("train", "AnnualCrop_1.jpg", (32631, 700_000, 5_500_000)),
    ("train", "Residential_2029.jpg", (32632, 350_000, 5_200_000)),
    ("val", "SeaLake_3.jpg", (32630, 500_000, 4_400_000)),
    ("test", "HerbaceousVegetation_7.jpg", (32633, 550_000, 5_000_000)),
]
EUROSAT_LABELS = [0, 7, 9, 2]  # AnnualCrop, Residential, SeaLake, HerbaceousVegetation
# DN of B04, B03, B02 -> clip(DN / 3000, 0, 1) * 255 = 153, 255, 51
RGB_DN, RGB8 = {"B04": 1800, "B03": 3000, "B02": 600}, [153, 255, 51]


def _tif(path: Path, bands: tuple[str, ...], size: int, epsg: int, x: float, y: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.stack([np.full((size, size), RGB_DN.get(b, 9999), np.uint16) for b in bands])
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=len(bands),
        dtype="uint16",
        crs=f"EPSG:{epsg}",
        transform=Affine(10, 0, x, 0, -10, y),
    ) as dst:
        dst.write(data)


def _centre(epsg: int, x: float, y: float, size: int) -> tuple[float, float]:
    lon, lat = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True).transform(
        x + 10 * size / 2, y - 10 * size / 2
    )
    return lat, lon


def write_bigearthnet(root: Path) -> Path:
    import torchgeo.datasets as tgd

    base = root / "bigearthnet_s1s2"
    for split in ("train", "val", "test"):
        base.mkdir(parents=True, exist_ok=True)
        lines = [",".join(str(i) for i in range(21))]
        for s, file, labels, _, _ in BEN:
            if s == split:
                lines.append(",".join([f"S1A_IW_GRDH_{len(lines)}.tif", file, *map(str, labels)]))
        (base / f"multilabel-{split}.csv").write_text("\n".join(lines) + "\n")
    for _, file, _, (epsg, x, y), _ in BEN:
        _tif(base / "BigEarthNet-S2-5%" / file, tgd.CopernicusBenchBigEarthNetS2.all_bands, 20, epsg, x, y)
    return root


def write_eurosat(root: Path) -> Path:
    import torchgeo.datasets as tgd

    base = root / "eurosat_s2"
    base.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        (base / f"eurosat-{split}.txt").write_text("".join(f + "\n" for s, f, _ in EUROSAT if s == split))
    for _, file, (epsg, x, y) in EUROSAT:
        tif = file.replace(".jpg", ".tif")
        _tif(base / "all_imgs" / tif.split("_")[0] / tif, tgd.CopernicusBenchEuroSATS2.all_bands, 8, epsg, x, y)
    return root


@pytest.fixture
def ben_root(tmp_path):
    return write_bigearthnet(tmp_path / "ben")


@pytest.fixture
def eurosat_root(tmp_path):
    return write_eurosat(tmp_path / "eurosat")


# ------------------------------------------------------------------------------ Copernicus-Bench
def test_copernicus_bigearthnet_reads_labels_places_dates_and_splits_through_torchgeo(ben_root):
    from torchgeo.datasets import CopernicusBenchBigEarthNetS2

    data = load_data("copernicus-bigearthnet", str(ben_root), {"image_size": 16}, label_fraction=0.5)
    ds = data.dataset
    assert ds.task.class_names == CopernicusBenchBigEarthNetS2.classes and ds.task.multilabel
    assert ds.pixels.shape == (4, 16, 16, 3) and ds.pixels.dtype == np.uint8
    assert (ds.pixels.reshape(-1, 3) == RGB8).all()  # B04, B03, B02 scaled by clip(DN / 3000)
    np.testing.assert_array_equal(ds.labels, np.array([b[2] for b in BEN], np.float32))
    for i, (_, _, _, (epsg, x, y), doy) in enumerate(BEN):
        lat, lon = _centre(epsg, x, y, 20)
        assert ds.lat[i] == pytest.approx(lat, abs=1e-4) and ds.lon[i] == pytest.approx(lon, abs=1e-4)
        assert ds.doy[i] == doy
    assert list(ds.ids) == [
        "train/S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57",
        "train/S2B_MSIL2A_20180421T114349_N9999_R123_T29UPU_77_06",
        "val/S2A_MSIL2A_20180105T100000_N9999_R122_T35VLG_10_10",
        "test/S2B_MSIL2A_20170901T093029_N9999_R136_T34TDN_44_71",
    ]
    assert (data.train.tolist(), data.val.tolist(), data.test.tolist()) == ([0, 1], [2], [3])
    assert set(data.labelled) <= {0, 1} and data.unlabelled.tolist() == [0, 1]


def test_copernicus_eurosat_labels_in_eurosat_order_locations_and_no_date(eurosat_root):
    from stssl.data.eurosat import CLASSES

    data = load_data("copernicus-eurosat", str(eurosat_root), {"image_size": 16}, num_labels=10)
    ds = data.dataset
    assert ds.task.class_names == CLASSES and not ds.task.multilabel
    assert ds.labels.tolist() == EUROSAT_LABELS
    assert [CLASSES[k] for k in ds.labels] == [f.split("_")[0] for _, f, _ in EUROSAT]
    assert ds.pixels.shape == (4, 16, 16, 3) and (ds.pixels.reshape(-1, 3) == RGB8).all()
    for i, (_, _, (epsg, x, y)) in enumerate(EUROSAT):
        lat, lon = _centre(epsg, x, y, 8)
        assert ds.lat[i] == pytest.approx(lat, abs=1e-4) and ds.lon[i] == pytest.approx(lon, abs=1e-4)
    assert np.isnan(ds.doy).all()
    assert {k: len(getattr(data, k)) for k in ("train", "val", "test")} == {"train": 2, "val": 1, "test": 1}
    assert ds.ids[1] == "train/Residential_2029"


def test_prepare_data_packs_a_copernicus_set_that_load_data_then_reads_without_the_tifs(eurosat_root, ben_root):
    import shutil

    for name, root in (("copernicus-eurosat", eurosat_root), ("copernicus-bigearthnet", ben_root)):
        before = load_data(name, str(root), {"image_size": 16}, label_fraction=0.5)
        out = prepare_data(name, str(root), image_size=16)
        assert out == root / "stssl-packed-16"
        signature = json.loads((out / "manifest.json").read_text())["signature"]
        assert signature["dataset"] == name and signature["scaling"] == "clip(DN / 3000, 0, 1)"
        shutil.rmtree(root / LAYOUTS[name].directory)  # only the packed form is left
        after = load_data(name, str(root), {"image_size": 16}, label_fraction=0.5)
        for field in ("pixels", "labels", "lat", "lon", "doy", "ids"):
            np.testing.assert_array_equal(getattr(after.dataset, field), getattr(before.dataset, field))
        assert after.dataset.task == before.dataset.task
        for split in ("train", "val", "test"):
            np.testing.assert_array_equal(getattr(after, split), getattr(before, split))
    with pytest.raises(DataError, match="another --out|other settings"):
        load_data("copernicus-eurosat", str(eurosat_root / "stssl-packed-16"), {"image_size": 32})


def test_a_missing_layout_or_image_is_one_line_naming_the_layout_and_the_download_command(tmp_path, ben_root):
    with pytest.raises(DataError) as err:
        load_data("copernicus-bigearthnet", str(tmp_path / "empty"), {"image_size": 16})
    msg = str(err.value)
    assert "\n" not in msg and "multilabel-{train,val,test}.csv" in msg and "BigEarthNet-S2-5%" in msg
    assert f"python -m stssl download copernicus-bigearthnet --root {tmp_path / 'empty'}" in msg
    with pytest.raises(DataError, match=r"eurosat-\{train,val,test\}.txt.*python -m stssl download copernicus-eurosat"):
        load_data("copernicus-eurosat", str(tmp_path / "empty"), {"image_size": 16})
    next((ben_root / "bigearthnet_s1s2" / "BigEarthNet-S2-5%").glob("*.tif")).unlink()
    with pytest.raises(DataError, match=r"1 of the 4 images of copernicus-bigearthnet are missing") as err:
        load_data("copernicus-bigearthnet", str(ben_root), {"image_size": 16})
    assert "\n" not in str(err.value)


def test_dates_and_split_ids():
    assert day_of_year_utc(1497348631.5) == 164  # 2017-06-13T10:10:31 UTC
    assert np.isnan(day_of_year_utc(float("nan")))
    splits = copernicus_splits(np.array(["train/a", "test/b", "val/c", "train/d"]))
    assert {k: v.tolist() for k, v in splits.items()} == {"train": [0, 3], "val": [2], "test": [1]}
    with pytest.raises(DataError, match="train/, val/ or test/"):
        copernicus_splits(np.array(["a", "train/b"]))


# ------------------------------------------------------------------------------------ the adapter
def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in [*ax.texts, ax.title]]


def test_the_adapter_is_a_torchgeo_nongeodataset_with_torchgeo_samples(ben_root):
    import torch
    from torchgeo.datasets import NonGeoDataset

    from stssl.data.torchgeo import STSSLDataset, as_torchgeo

    data = load_data("copernicus-bigearthnet", str(ben_root), {"image_size": 16}, label_fraction=0.5)
    tg = as_torchgeo(data, "train")
    assert isinstance(tg, STSSLDataset) and isinstance(tg, NonGeoDataset) and len(tg) == 2
    assert len(as_torchgeo(data)) == 4 and len(as_torchgeo(data.dataset)) == 4 and len(as_torchgeo(data, "test")) == 1
    sample = tg[1]
    assert set(sample) == {"image", "label", "lat", "lon", "doy"}
    assert sample["image"].shape == (3, 16, 16) and sample["image"].dtype == torch.float32
    assert torch.allclose(sample["image"][:, 0, 0], torch.tensor(RGB8) / 255.0)
    assert sample["label"].tolist() == BEN[1][2] and sample["doy"].item() == 111
    assert sample["lat"].item() == pytest.approx(_centre(*BEN[1][3], 20)[0], abs=1e-4)
    assert tg[-1]["doy"].item() == 111
    with pytest.raises(IndexError):
        tg[2]
    # batches collate as any torchgeo data set's; transforms see the sample dict
    batch = next(iter(torch.utils.data.DataLoader(tg, batch_size=2)))
    assert batch["image"].shape == (2, 3, 16, 16) and batch["label"].shape == (2, 19)
    flipped = as_torchgeo(data, "train", transforms=lambda s: {**s, "image": s["image"].flip(-1)})
    assert flipped[0]["image"].shape == (3, 16, 16)
    with pytest.raises(ValueError, match="unknown split"):
        as_torchgeo(data, "labeled")
    with pytest.raises(ValueError, match="DataSplits"):
        as_torchgeo(data.dataset, "train")
    assert "NonGeoDataset" in str(tg)


def test_plot_shows_the_image_its_label_names_a_map_with_the_point_and_the_date(ben_root, eurosat_root):
    import matplotlib.pyplot as plt
    import torch
    from cartopy.mpl.geoaxes import GeoAxes
    from matplotlib.figure import Figure

    from stssl.data.torchgeo import as_torchgeo

    tg = as_torchgeo(load_data("copernicus-bigearthnet", str(ben_root), {"image_size": 16}, label_fraction=0.5))
    fig = tg.plot(tg[0], suptitle="a patch")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    image_ax, map_ax = fig.axes
    assert isinstance(map_ax, GeoAxes) and not isinstance(image_ax, GeoAxes)
    assert image_ax.images and image_ax.images[0].get_array().shape == (16, 16, 3)
    texts = _texts(fig)
    assert "day of year 164" in texts and fig._suptitle.get_text() == "a patch"
    title = image_ax.title.get_text().replace("\n", " ")
    assert "Urban fabric" in title and "Coniferous forest" in title  # both labels of the multi-hot vector
    lat, lon = _centre(*BEN[0][3], 20)
    assert map_ax.title.get_text() == f"{lat:.3f}°N, {lon:.3f}°E"
    marker = next(line for line in map_ax.lines if line.get_marker() == "o")
    assert marker.get_xdata()[0] == pytest.approx(lon, abs=1e-4)
    assert marker.get_ydata()[0] == pytest.approx(lat, abs=1e-4)
    plt.close(fig)

    eu = as_torchgeo(load_data("copernicus-eurosat", str(eurosat_root), {"image_size": 16}, num_labels=10))
    fig = eu.plot(eu[1], show_titles=False)
    assert "date unknown" in _texts(fig) and fig.axes[0].title.get_text() == ""
    plt.close(fig)
    fig = eu.plot({**eu[1], "prediction": torch.tensor(2)})
    assert fig.axes[0].title.get_text().replace("\n", " ") == "labels: Residential predicted: HerbaceousVegetation"
    plt.close(fig)
    # a torchgeo sample with ``time`` (POSIX seconds) instead of ``doy``; a point outside Europe
    sample = {k: v for k, v in eu[1].items() if k != "doy"}
    fig = eu.plot(
        {
            **sample,
            "time": torch.tensor(1497348631.5, dtype=torch.float64),
            "lat": torch.tensor(-33.9),
            "lon": torch.tensor(18.4),
        }
    )
    assert "2017-06-13 (day of year 164)" in _texts(fig) and fig.axes[1].title.get_text() == "33.900°S, 18.400°E"
    plt.close(fig)


def test_the_geosynth_data_page_plots_a_sample_through_the_adapter():
    nb = nbformat.read(ROOT / "notebooks" / "geosynth.ipynb", as_version=4)
    nbformat.validate(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "as_torchgeo(" in code and ".plot(" in code


# ------------------------------------------------------------------------------------- downloads
@pytest.fixture
def offline(monkeypatch):
    """``urllib.request.urlopen`` (what torchvision's ``download_url`` calls for torchgeo) fails as it does
    without a network; the calls are recorded."""
    calls = []

    def urlopen(request, *args, **kwargs):
        calls.append(getattr(request, "full_url", request))
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls


@pytest.mark.parametrize(
    "name, host, file",
    [
        ("eurosat", "hf.co", "EuroSATallBands.zip"),
        ("bigearthnet", "zenodo.org", "BigEarthNet-S2-v1.0.tar.gz"),
        ("copernicus-bigearthnet", "hf.co", "bigearthnetv2.zip"),
        ("copernicus-eurosat", "hf.co", "eurosat_s2.zip"),
    ],
)
def test_download_offline_is_one_line_saying_what_to_fetch_by_hand(tmp_path, offline, name, host, file):
    with pytest.raises(DataError) as err:
        registry.get(name).download(tmp_path / name)
    msg = str(err.value)
    assert offline and all(host in url for url in offline)  # torchgeo's downloader was really asked
    assert "\n" not in msg and msg.startswith(f"could not reach {host}")
    assert "Temporary failure in name resolution" in msg
    assert f"-> {tmp_path / name / file}" in msg and "run this again" in msg


def test_download_failing_its_checksum_or_refused_is_one_line(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils  # our downloads go through its download_url

    from stssl.data.download import download

    def corrupted(*args, **kwargs):
        raise RuntimeError("File not found or corrupted.")

    monkeypatch.setattr(tv_utils, "download_url", corrupted)
    with pytest.raises(DataError, match="failed its MD5 check") as err:
        download("CopernicusBenchEuroSATS2", tmp_path)
    assert "\n" not in str(err.value)

    def refused(url, *args, **kwargs):
        raise urllib.error.HTTPError(url, 503, "Service Unavailable", {}, None)

    monkeypatch.setattr(tv_utils, "download_url", refused)
    with pytest.raises(DataError, match="HTTP 503") as err:
        download("EuroSAT", tmp_path)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="valid: EuroSAT, BigEarthNet"):
        download("EuroSat", tmp_path)


def test_cli_download_offline_prints_one_line_and_fails(tmp_path, offline, capsys):
    from stssl.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["download", "eurosat", "--root", str(tmp_path / "eurosat")])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stssl download: error: could not reach hf.co")


def test_cli_download_offers_the_data_sets_with_a_downloader_and_says_what_comes_next(tmp_path, monkeypatch, capsys):
    import dataclasses

    from stssl.cli import main

    downloadable = registry.with_feature(lambda s: s.download is not None)
    assert {"eurosat", "bigearthnet", "copernicus-bigearthnet", "copernicus-eurosat"} <= set(downloadable)
    assert "geosynth" not in downloadable
    with pytest.raises(SystemExit) as exit_:
        main(["download", "geosynth", "--root", str(tmp_path)])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err

    got = []
    spec = registry.get("copernicus-eurosat")
    monkeypatch.setitem(registry._REGISTRY, "copernicus-eurosat", dataclasses.replace(spec, download=got.append))
    main(["download", "copernicus-eurosat", "--root", str(tmp_path / "ce")])
    out = capsys.readouterr().out
    assert got == [tmp_path / "ce"]
    assert f"into {tmp_path / 'ce'}" in out
    assert f"next: python -m stssl prepare-data copernicus-eurosat --root {tmp_path / 'ce'}" in out
