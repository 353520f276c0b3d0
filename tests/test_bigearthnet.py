"""BigEarthNet: metadata, pixels, labels and splits from the real layout, and every bad input."""

import importlib.resources
import json
import tarfile
from datetime import datetime

import numpy as np
import pytest
import rasterio
from bigearthnet_common.constants import BAND_STATS_S2, OLD_LABELS
from data_fixtures import BEN_PATCHES, BEN_SPLITS, make_ben_root, write_ben_patch
from pyproj import Transformer

from stssl.data import load_data
from stssl.data.bigearthnet import (
    CLASSES_19,
    CLASSES_43,
    bigearthnet_splits,
    load_bigearthnet,
    patch_countries,
    patch_metadata,
    patch_rgb,
)
from stssl.data.geo import DataError
from stssl.data.splits import stratified_subset

pytestmark = pytest.mark.filterwarnings("ignore:the (train|val|test) split list")


def _json_centre(spec: dict) -> tuple[float, float]:
    """Independent expectation: centre of the 1.2 km box, straight through pyproj."""
    lon, lat = Transformer.from_crs(f"EPSG:{spec['epsg']}", "EPSG:4326", always_xy=True).transform(
        spec["ulx"] + 600, spec["uly"] - 600
    )
    return lat, lon


@pytest.fixture(scope="module")
def ben_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ben")
    make_ben_root(root)
    return root


@pytest.fixture(scope="module")
def example_patches(tmp_path_factory):
    """The six real example patches shipped inside bigearthnet-common, extracted here."""
    root = tmp_path_factory.mktemp("ben-example")
    with (
        importlib.resources.as_file(
            importlib.resources.files("bigearthnet_common") / "BigEarthNet-S2-Example.tar.bz2"
        ) as path,
        tarfile.open(path) as tar,
    ):
        tar.extractall(root, filter="data")
    return root / "BigEarthNet-S2-Example"


def test_metadata_pixels_and_labels_from_the_torchgeo_layout(ben_root):
    ds = load_bigearthnet(ben_root)
    assert list(ds.ids) == sorted(BEN_PATCHES) and ds.pixels.shape == (6, 128, 128, 3)
    for i, name in enumerate(ds.ids):
        spec = BEN_PATCHES[name]
        lat, lon = _json_centre(spec)
        assert ds.lat[i] == pytest.approx(lat, abs=1e-4) and ds.lon[i] == pytest.approx(lon, abs=1e-4)
        assert ds.doy[i] == datetime.strptime(spec["date"], "%Y-%m-%d %H:%M:%S").timetuple().tm_yday
        assert [CLASSES_43[c] for c in np.flatnonzero(ds.labels[i])] == sorted(spec["labels"], key=CLASSES_43.index)
    sample = ds[0]
    assert sample["image"].shape == (3, 128, 128) and sample["image"].min() >= -2 and sample["image"].max() <= 2


def test_radiometric_scaling_matches_spec_5_1(tmp_path):
    """B04 DN 1000 -> x01 0.6516 ((1000 + 761.54) / 2703.55), at native size so that no resampling blurs it."""
    folder = write_ben_patch(tmp_path, "S2A_x", 32633, 404400, 5342400, "2017-06-13 10:10:31", ["Pastures"])
    with rasterio.open(folder / "S2A_x_B04.tif", "r+") as dst:
        dst.write(np.full((1, 120, 120), 1000, np.uint16))
    rgb = patch_rgb(folder, image_size=None)
    mean, std = BAND_STATS_S2["mean"]["B04"], BAND_STATS_S2["std"]["B04"]
    expected = (1000 - (mean - 2 * std)) / (4 * std)
    assert expected == pytest.approx(0.6516, abs=1e-4)
    assert np.all(rgb[..., 0] == round(expected * 255))


def test_direct_folder_layout_and_19_classes(ben_root):
    ds = load_bigearthnet(ben_root / "BigEarthNet-v1.0", classes=19)
    assert ds.task.class_names == CLASSES_19 and ds.labels.shape == (6, 19)
    sea = list(ds.ids).index("S2A_MSIL2A_20170717T113321_28_89")
    assert [CLASSES_19[c] for c in np.flatnonzero(ds.labels[sea])] == ["Marine waters"]


def test_the_class_order_is_a_permutation_of_bigearthnet_common():
    assert sorted(CLASSES_43) == sorted(OLD_LABELS) and len(set(CLASSES_43)) == 43


def test_real_example_patches_load_and_agree_with_their_geotiffs(example_patches):
    """bigearthnet-common's six real patches: JSON centre == GeoTIFF centre, in the right country."""
    countries = patch_countries()
    boxes = {
        "Austria": (46, 49.1, 9.5, 17.2),
        "Ireland": (51.3, 55.5, -10.7, -5.9),
        "Portugal": (36.9, 42.2, -9.6, -6.1),
        "Finland": (59.7, 70.1, 20.5, 31.6),
    }
    ds = load_bigearthnet(example_patches)
    assert len(ds) == 6
    for i, name in enumerate(ds.ids):
        with rasterio.open(example_patches / name / f"{name}_B04.tif") as src:
            b = src.bounds
            lon, lat = Transformer.from_crs(src.crs.to_wkt(), "EPSG:4326", always_xy=True).transform(
                (b.left + b.right) / 2, (b.bottom + b.top) / 2
            )
        assert ds.lat[i] == pytest.approx(lat, abs=1e-5) and ds.lon[i] == pytest.approx(lon, abs=1e-5)
        lat0, lat1, lon0, lon1 = boxes[countries[name]]
        assert lat0 < ds.lat[i] < lat1 and lon0 < ds.lon[i] < lon1, (name, countries[name])
        meta = json.loads((example_patches / name / f"{name}_labels_metadata.json").read_text())
        assert ds.labels[i].sum() == len(meta["labels"])
        assert ds.doy[i] == datetime.strptime(meta["acquisition_date"], "%Y-%m-%d %H:%M:%S").timetuple().tm_yday


def test_official_and_geographic_splits(ben_root):
    ds = load_bigearthnet(ben_root)
    ids = list(ds.ids)
    splits = bigearthnet_splits(ds.ids)
    assert {k: sorted(ids[i] for i in v) for k, v in splits.items()} == {k: sorted(v) for k, v in BEN_SPLITS.items()}
    geo = bigearthnet_splits(ds.ids, "geographic")
    assert [ids[i] for i in geo["train"]] == ["S2A_MSIL2A_20170905T095031_0_1"]
    assert [ids[i] for i in geo["val"]] == ["S2A_MSIL2A_20171002T094031_42_86"]
    assert sorted(ids[i] for i in geo["test"]) == sorted(
        ["S2A_MSIL2A_20170617T113321_36_85", "S2A_MSIL2A_20171221T112501_56_35", "S2A_MSIL2A_20170717T113321_28_89"]
    )


def test_user_split_lists_and_missing_patches(ben_root, tmp_path):
    ds = load_bigearthnet(ben_root)
    files = {}
    for s, names in BEN_SPLITS.items():
        files[s] = tmp_path / f"{s}.csv"
        files[s].write_text("patch\n" + "\n".join(names) + "\n")
    assert {k: len(v) for k, v in bigearthnet_splits(ds.ids, split_files=files).items()} == {
        "train": 3,
        "val": 2,
        "test": 1,
    }
    files["test"].write_text("S2A_MSIL2A_20170613T101031_87_48\nS2B_missing_1\nS2B_missing_2\n")
    with pytest.raises(DataError, match=r"test split list names 2 patch\(es\).*S2B_missing_1"):
        bigearthnet_splits(ds.ids, split_files=files)


def test_stratified_labelled_subset_keeps_fraction_and_prevalence():
    rng = np.random.default_rng(0)
    prevalence = np.geomspace(0.37, 0.005, 43)
    labels = (rng.random((20_000, 43)) < prevalence).astype(np.float32)
    chosen = stratified_subset(labels, 0.05, seed=0)
    assert abs(len(chosen) - 1000) <= 2 and len(np.unique(chosen)) == len(chosen)
    np.testing.assert_allclose(labels[chosen].mean(0), labels.mean(0), atol=0.01, rtol=0.1)
    np.testing.assert_array_equal(chosen, stratified_subset(labels, 0.05, seed=0))
    assert not np.array_equal(chosen, stratified_subset(labels, 0.05, seed=1))


def test_load_data_bigearthnet(ben_root):
    data = load_data("bigearthnet", str(ben_root), label_fraction=0.34, seed=0)
    assert len(data.train) == 3 and len(data.val) == 2 and len(data.test) == 1
    assert set(data.labelled) <= set(data.train) and list(data.unlabelled) == list(data.train)
    assert not set(data.train) & set(data.val) | set(data.train) & set(data.test) | set(data.val) & set(data.test)


# ------------------------------------------------------------------------------------------ bad input


def test_missing_root_says_layout_and_download(tmp_path):
    with pytest.raises(DataError, match=r"BigEarthNet-v1.0/<patch>.*python -m stssl download bigearthnet --root"):
        load_bigearthnet(tmp_path / "nowhere")


def _one_patch(tmp_path, **changes):
    name, spec = "S2A_MSIL2A_20170613T101031_87_48", dict(BEN_PATCHES["S2A_MSIL2A_20170613T101031_87_48"])
    spec.update(changes)
    return write_ben_patch(tmp_path, name, **spec)


def test_missing_band_names_folder_and_band(tmp_path):
    folder = _one_patch(tmp_path)
    (folder / f"{folder.name}_B03.tif").unlink()
    with pytest.raises(DataError, match=rf"{folder}.*missing band B03"):
        load_bigearthnet(tmp_path)


def test_unreadable_geotiff_and_json_name_the_file(tmp_path):
    folder = _one_patch(tmp_path)
    bad = folder / f"{folder.name}_B02.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(DataError, match=rf"cannot read the GeoTIFF {bad}"):
        patch_rgb(folder)
    js = folder / f"{folder.name}_labels_metadata.json"
    js.write_text("{broken")
    with pytest.raises(DataError, match=rf"cannot read the JSON file {js}"):
        patch_metadata(folder)


def test_bad_coordinates_and_date_name_file_and_value(tmp_path):
    folder = _one_patch(tmp_path, date="13/06/2017")
    with pytest.raises(DataError, match=r"labels_metadata.json: cannot parse the date '13/06/2017'"):
        patch_metadata(folder)
    folder = _one_patch(tmp_path, uly=1e12)
    with pytest.raises(DataError, match=r"labels_metadata.json: .*(out of range|cannot convert).*"):
        patch_metadata(folder)


def test_paper_profile_for_the_real_data_sets():
    """Spec 7.2 / 7.3 hyper-parameters, with the label budgets of Figure 3 and Table 4."""
    from stssl.config import resolve
    from stssl.data import registry

    ben = resolve("paper", data_root="/data/ben", label_fraction=0.005, split="geographic")
    assert (ben.dataset, ben.model, ben.image_size, ben.batch_lb, ben.uratio, ben.lr, ben.steps, ben.lambda_d) == (
        "bigearthnet",
        "vit_small_patch16",
        128,
        64,
        7,
        1e-4,
        64_000,
        1.0,
    )
    eurosat = resolve("paper", dataset="eurosat", pretrained="/ckpt/vit_small_patch2_32.pth")
    assert (
        eurosat.model,
        eurosat.image_size,
        eurosat.batch_lb,
        eurosat.uratio,
        eurosat.lr,
        eurosat.num_labels,
        eurosat.lambda_d,
        eurosat.warmup_steps,
    ) == ("vit_small_patch2", 32, 8, 1, 5e-5, 10, 0.01, 5120)
    assert "10 labels" in eurosat.describe()
    assert registry.get("eurosat").label_budgets["num_labels"] == (10, 20, 40, 80)


def test_the_seco_split_is_secos_lists_less_cloudy_shadowed_and_snowy_patches(ben_root, tmp_path):
    from stssl.config import resolve
    from stssl.data.bigearthnet import SECO_LISTS, excluded_patches, seco_split_lists

    ds = load_bigearthnet(ben_root)
    ids = list(ds.ids)
    cloudy = sorted(excluded_patches())[:2]  # two names from bigearthnet_common's lists: dropped
    lists = {
        "train": BEN_SPLITS["test"] + BEN_SPLITS["val"][:1] + cloudy[:1],
        "val": BEN_SPLITS["train"][:2] + cloudy[1:],
        "test": BEN_SPLITS["train"][2:] + BEN_SPLITS["val"][1:],
    }
    with pytest.raises(DataError) as err:
        seco_split_lists(tmp_path)
    message = str(err.value)
    assert "\n" not in message and "python -m stssl download bigearthnet" in message
    assert all(url in message and f"{lines:,} lines" in message for url, _, lines in SECO_LISTS.values())
    for s, names in lists.items():
        (tmp_path / f"bigearthnet-{s}.txt").write_text("\n".join(names) + "\n")
    assert seco_split_lists(tmp_path) == {s: [n for n in names if n not in cloudy] for s, names in lists.items()}
    splits = bigearthnet_splits(ds.ids, "seco", root=tmp_path)
    assert {s: sorted(ids[i] for i in v) for s, v in splits.items()} == {
        s: sorted(n for n in names if n not in cloudy) for s, names in lists.items()
    }
    # the paper profile reads it by default; another data set in that profile keeps its own split
    assert resolve("paper", data_root="/data/ben").split == "seco"
    assert resolve("paper", dataset="eurosat", data_root="/data/eurosat").split == "standard"
    assert len(excluded_patches()) == 61_707 + 9_280  # bigearthnet_common's counts of the two lists


def test_the_seco_lists_download_checked_and_offline_in_one_line(tmp_path, monkeypatch):
    """``python -m stssl download bigearthnet`` fetches SeCo's lists after the patches, each MD5-checked."""
    import torchvision.datasets.utils as tv_utils

    from stssl.data import download as downloads
    from stssl.data import registry
    from stssl.data.bigearthnet import SECO_LISTS

    fetched = []
    monkeypatch.setattr(downloads, "download", lambda name, root: fetched.append(name))
    monkeypatch.setattr(tv_utils, "download_url", lambda url, root, filename, md5: fetched.append((filename, md5)))
    monkeypatch.setattr("stssl.data.bigearthnet.download", downloads.download)
    registry.get("bigearthnet").download(tmp_path)
    assert fetched == ["BigEarthNet"] + [(url.rsplit("/", 1)[1], md5) for url, md5, _ in SECO_LISTS.values()]

    def corrupted(*args, **kwargs):
        raise RuntimeError("File not found or corrupted.")

    monkeypatch.setattr(tv_utils, "download_url", corrupted)
    with pytest.raises(DataError, match="bigearthnet-train.txt in .* failed its MD5 check") as err:
        downloads.download_file(*SECO_LISTS["train"][:1], tmp_path, "bigearthnet-train.txt", SECO_LISTS["train"][1])
    assert "\n" not in str(err.value)


def test_the_19_class_names_are_bigearthnet_commons():
    """Spelled in stssl (so that importing it needs no bigearthnet_common), checked against it here."""
    from bigearthnet_common.constants import NEW_LABELS_ORIGINAL_ORDER

    assert CLASSES_19 == tuple(NEW_LABELS_ORIGINAL_ORDER)
