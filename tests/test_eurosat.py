"""EuroSAT: both layouts, GeoTIFF-centre locations, the USB split and per-class labels, bad input."""

import numpy as np
import pytest
import yaml
from data_fixtures import EUROSAT_CLASSES, eurosat_location, make_eurosat_ms, make_eurosat_rgb
from pyproj import Transformer

from stssl.data import load_data
from stssl.data.eurosat import eurosat_splits, load_eurosat, read_locations
from stssl.data.geo import DataError

PER_CLASS, SIZE = 5, 16


@pytest.fixture(scope="module")
def ms_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("eurosat-ms")
    make_eurosat_ms(root, PER_CLASS, SIZE)
    return root


def test_multispectral_layout_locations_and_pixels(ms_root):
    import rasterio

    ds = load_eurosat(ms_root, image_size=SIZE)
    assert len(ds) == 10 * PER_CLASS and ds.pixels.shape == (50, SIZE, SIZE, 3)
    # file order: class by class, names sorted as strings (AnnualCrop_1, AnnualCrop_2, ...)
    assert list(ds.ids[:PER_CLASS]) == [f"AnnualCrop_{n}" for n in range(1, PER_CLASS + 1)]
    assert list(ds.labels) == [c for c in range(10) for _ in range(PER_CLASS)]
    for i in (0, 17, 49):
        c, n = divmod(i, PER_CLASS)
        epsg, ulx, uly = eurosat_location(c, n + 1)
        lon, lat = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True).transform(
            ulx + 10 * SIZE / 2, uly - 10 * SIZE / 2
        )
        assert ds.lat[i] == pytest.approx(lat, abs=1e-4) and ds.lon[i] == pytest.approx(lon, abs=1e-4)
        path = (
            ms_root / "ds/images/remote_sensing/otherDatasets/sentinel_2/tif" / EUROSAT_CLASSES[c] / f"{ds.ids[i]}.tif"
        )
        with rasterio.open(path) as src:
            rgb = src.read([4, 3, 2]).astype(np.float64)
        np.testing.assert_array_equal(ds.pixels[i].transpose(2, 0, 1), np.round(np.clip(rgb / 3000, 0, 1) * 255))
    assert np.isnan(ds.doy).all()  # EuroSAT has no dates
    assert ds[0]["image"].shape == (3, SIZE, SIZE) and ds[0]["image"].abs().max() <= 1


def test_rgb_layout_with_yaml_and_csv_tables(tmp_path):
    locations = make_eurosat_rgb(tmp_path / "2750", PER_CLASS, SIZE)
    yaml_table = {stem: [lon, lat, 0] for stem, (lat, lon) in locations.items()}  # the authors' [lng, lat, _]
    (tmp_path / "eurosat_meta.yaml").write_text(yaml.safe_dump(yaml_table))
    ds = load_eurosat(tmp_path, image_size=8)
    assert ds.pixels.shape == (50, 8, 8, 3)
    for i in (0, 33):
        assert (ds.lat[i], ds.lon[i]) == pytest.approx(locations[ds.ids[i]], abs=1e-5)
    csv = tmp_path / "meta.csv"
    csv.write_text("id,lat,lon\n" + "".join(f"{s}.jpg,{a},{o}\n" for s, (a, o) in locations.items()))
    from_csv, from_yaml = read_locations(csv), read_locations(tmp_path / "eurosat_meta.yaml")
    assert sorted(from_csv) == sorted(from_yaml)
    np.testing.assert_allclose([from_csv[k] for k in sorted(from_csv)], [from_yaml[k] for k in sorted(from_csv)])


def test_usb_split_and_per_class_labels(ms_root):
    labels = np.repeat(np.arange(10), 25)
    splits = eurosat_splits(labels)
    assert np.bincount(labels[splits["train"]]).tolist() == [20] * 10
    assert np.bincount(labels[splits["test"]]).tolist() == [5] * 10
    # the first 80 % of each class in file order is train
    assert splits["train"][:20].tolist() == list(range(20)) and splits["test"][:5].tolist() == list(range(20, 25))
    data = load_data("eurosat", str(ms_root), {"image_size": SIZE}, num_labels=20, seed=3)
    labels = data.dataset.labels
    assert np.bincount(labels[data.labelled], minlength=10).tolist() == [2] * 10
    assert set(data.labelled) <= set(data.train) and not set(data.train) & set(data.test)
    assert list(data.unlabelled) == list(data.train) and len(data.train) == 40
    again = load_data("eurosat", str(ms_root), {"image_size": SIZE}, num_labels=20, seed=3)
    np.testing.assert_array_equal(data.labelled, again.labelled)
    other = load_data("eurosat", str(ms_root), {"image_size": SIZE}, num_labels=20, seed=4)
    assert not np.array_equal(data.labelled, other.labelled)


def test_missing_root_and_missing_metadata(tmp_path):
    with pytest.raises(
        DataError, match=r"sentinel_2/tif/<Class>/<Class>_<n>.tif.*python -m stssl download eurosat --root"
    ):
        load_eurosat(tmp_path / "nowhere")
    make_eurosat_rgb(tmp_path, 2, 8)
    with pytest.raises(DataError, match=r"needs a metadata table.*eurosat_meta.yaml"):
        load_eurosat(tmp_path)
    (tmp_path / "eurosat_meta.yaml").write_text(yaml.safe_dump({"AnnualCrop_1": [10.0, 50.0, 0]}))
    with pytest.raises(DataError, match=r"no location for 19 image\(s\), e.g. \['AnnualCrop_2'"):
        load_eurosat(tmp_path)
    (tmp_path / "eurosat_meta.yaml").write_text(yaml.safe_dump({"AnnualCrop_1": [10.0, 95.0, 0]}))
    with pytest.raises(DataError, match=r"eurosat_meta.yaml \(AnnualCrop_1\): location out of range: lat=95.0"):
        load_eurosat(tmp_path)


def test_unreadable_geotiff_names_the_file(tmp_path):
    folder = make_eurosat_ms(tmp_path, 1, 8)
    bad = folder / "Forest" / "Forest_1.tif"
    bad.write_bytes(b"garbage")
    with pytest.raises(DataError, match=rf"cannot read the GeoTIFF {bad}"):
        load_eurosat(tmp_path, image_size=8)
