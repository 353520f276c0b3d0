"""Figures 4 and 5: the grey-image prior, outcome counts, class look-up, and both notebooks."""

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill as pm
import pytest
import torch

from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.bigearthnet import CLASSES_19, CLASSES_43
from stssl.data.geo import nearest_km
from stssl.data.geosynth import MULTILABEL_CLASSES, SINGLELABEL_CLASSES
from stssl.experiments import figure4, figure5, table1
from stssl.meta import encode_meta
from stssl.models import build_model

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _tiny_dataset(n=10, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return MetaDataset(
        rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        rng.integers(0, 2, (n, 2)).astype(np.float32),
        rng.uniform(40, 60, n),
        rng.uniform(-5, 25, n),
        rng.uniform(1, 365, n),
        np.arange(n).astype(str),
        TaskInfo(("Forest", "Sea and ocean"), True),
        (0.3, 0.4, 0.5),
        (0.2, 0.25, 0.3),
    )


def _teacher(num_classes=2, size=16):
    torch.manual_seed(0)
    return build_model("vit_micro_patch8", size, num_classes, "meta")


# ------------------------------------------------------------------------------ the grey prior
def test_grey_prior_feeds_one_constant_image_with_each_metadata_row():
    ds, teacher = _tiny_dataset(), _teacher()
    seen = []
    teacher.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    lat, lon, doy = ds.lat, ds.lon, ds.doy
    conf = figure5.grey_prior(teacher, ds, lat, lon, doy, k=1, grey=0.5, batch_size=4)
    assert [len(x) for x in seen] == [4, 4, 2]  # every metadata row, in batches
    expected = ((0.5 - torch.tensor([0.3, 0.4, 0.5])) / torch.tensor([0.2, 0.25, 0.3])).view(1, 3, 1, 1)
    for x in seen:  # the same uniform mid-grey image in every row, normalised like the data
        assert torch.allclose(x, expected.expand_as(x))
    # each value is the teacher's sigmoid for that one image and that row's metadata
    with torch.no_grad():
        teacher.eval()
        direct = [
            torch.sigmoid(
                teacher(
                    expected.expand(1, 3, 16, 16), encode_meta(lat[i : i + 1], lon[i : i + 1], doy[i : i + 1])
                ).logits[0, 1]
            ).item()
            for i in range(len(ds))
        ]
    np.testing.assert_allclose(conf, direct, rtol=1e-5)
    assert np.ptp(conf) > 1e-4  # a nonzero meta MLP: the metadata move the output ...
    twice = figure5.grey_prior(
        teacher, ds, np.r_[lat[:3], lat[:3]], np.r_[lon[:3], lon[:3]], np.r_[doy[:3], doy[:3]], 1
    )
    np.testing.assert_allclose(twice[:3], twice[3:], rtol=1e-6)  # ... and nothing else does
    with torch.no_grad():
        teacher.meta_mlp[-1].weight.zero_()
        teacher.meta_mlp[-1].bias.zero_()
    blind = figure5.grey_prior(teacher, ds, lat, lon, doy, k=1)
    assert np.ptp(blind) < 1e-6  # without the metadata's contribution every row is the same


def test_grey_prior_hides_what_the_run_hid_from_the_teacher():
    ds, teacher = _tiny_dataset(), _teacher()
    lat, lon, doy = np.full(4, 50.0), np.full(4, 10.0), np.array([1.0, 90.0, 180.0, 270.0])
    assert np.ptp(figure5.grey_prior(teacher, ds, lat, lon, doy, 1)) > 1e-3  # the date matters ...
    assert np.ptp(figure5.grey_prior(teacher, ds, lat, lon, doy, 1, components="location")) < 1e-6  # ... unless hidden


def test_grey_value_is_the_image_and_checked():
    ds = _tiny_dataset()
    dark, light = figure5.grey_image(ds, 0.2), figure5.grey_image(ds, 0.8)
    assert dark.shape == (1, 3, 16, 16)
    assert torch.allclose(dark[0, :, 0, 0], (0.2 - torch.tensor([0.3, 0.4, 0.5])) / torch.tensor([0.2, 0.25, 0.3]))
    assert (light > dark).all()
    with pytest.raises(ValueError, match=r"grey=1.5 must lie in \[0, 1\]"):
        figure5.grey_image(ds, 1.5)


# ------------------------------------------------------------------------------ outcomes
def test_outcomes_and_counts_by_hand():
    truth = [1, 1, 0, 0, 1, 0, 0]
    predicted = [1, 0, 1, 0, 1, 1, 0]
    assert figure4.outcomes(truth, predicted).tolist() == ["TP", "FN", "FP", "TN", "TP", "FP", "TN"]
    assert figure4.outcome_counts(truth, predicted) == {"TP": 2, "FP": 2, "FN": 1, "TN": 2}


def _frame():
    fixmatch, teacher, student = figure4.model_names()
    return pd.DataFrame(
        {
            "lat": np.zeros(6),
            "lon": np.zeros(6),
            "truth": [True, True, False, False, False, False],
            "is_sea": [True, False, True, False, False, False],
            fixmatch: [0.9, 0.2, 0.8, 0.7, 0.6, 0.1],  # TP, FN, FP at sea, FP, FP, TN
            teacher: [0.9, 0.6, 0.8, 0.5, 0.2, 0.1],  # TP, TP, FP at sea, TN (0.5 is not above), TN, TN
            student: [0.4, 0.3, 0.1, 0.2, 0.2, 0.1],  # FN, FN, nothing predicted
        }
    )


def test_error_table_by_hand():
    fixmatch, teacher, student = figure4.model_names()
    t = figure4.error_table(_frame(), threshold=0.5)
    assert t.loc[fixmatch, ["predicted positive", "TP", "FP", "FP on land", "FN"]].tolist() == [4, 1, 3, 2, 1]
    assert t.loc[teacher, ["predicted positive", "TP", "FP", "FP on land", "FN"]].tolist() == [3, 2, 1, 0, 0]
    assert t.loc[fixmatch, "precision"] == pytest.approx(1 / 4) and t.loc[fixmatch, "recall"] == pytest.approx(1 / 2)
    assert t.loc[teacher, "precision"] == pytest.approx(2 / 3) and t.loc[teacher, "recall"] == 1.0
    assert np.isnan(t.loc[student, "precision"]) and t.loc[student, "recall"] == 0.0
    # a lower threshold counts the teacher's 0.5 as positive: one more false positive on land
    assert figure4.error_table(_frame(), threshold=0.45).loc[teacher, "FP on land"] == 1
    assert "FP on land" not in figure4.error_table(_frame().drop(columns="is_sea"))


def test_summary_sentence_is_computed():
    t = figure4.error_table(_frame())
    text = figure4.summary(t, "Sea and ocean", 0.5)
    assert "FixMatch makes 2 false positives on land" in text
    assert "teacher 0 (2 fewer than FixMatch)" in text and "student 0 (2 fewer than FixMatch)" in text
    assert text.endswith("avoid part of FixMatch's errors.")
    worse = t.assign(**{"FP on land": [0, 3, 0]})
    assert "3 more than FixMatch" in figure4.summary(worse) and "Unlike the paper" in figure4.summary(worse)


def test_class_probability():
    logits = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    np.testing.assert_allclose(figure4.class_probability(logits, False, 1), [0.75, 0.5])
    np.testing.assert_allclose(figure4.class_probability(logits, True, 0), [0.5, 1 / (1 + np.exp(-2))])


# ------------------------------------------------------------------------------ class look-up
def test_class_is_looked_up_by_name():
    assert figure4.class_index(TaskInfo(CLASSES_43, True), "Sea and ocean") == CLASSES_43.index("Sea and ocean")
    assert figure4.class_index(TaskInfo(MULTILABEL_CLASSES, True), "Sea and ocean") == len(MULTILABEL_CLASSES) - 1
    assert figure4.class_index(TaskInfo(CLASSES_19, True), "Marine waters") == CLASSES_19.index("Marine waters")


def test_absent_class_fails_listing_the_classes():
    with pytest.raises(
        ValueError,
        match=r"'Sea and ocean' is not in this data set; its classes are: 'AnnualCrop', "
        r"'Forest'.*'SeaLake'.*EuroSAT has no 'Sea and ocean'",
    ):
        figure4.class_index(TaskInfo(SINGLELABEL_CLASSES, False), "Sea and ocean")
    with pytest.raises(ValueError, match=r"'Marine waters' is the 19-class BigEarthNet nomenclature's name"):
        figure4.class_index(TaskInfo(CLASSES_19, True), "Sea and ocean")


# ------------------------------------------------------------------------------ runs and grid
def test_configs_are_table1s_fixmatch_runs_of_the_first_seed():
    t1 = table1.configs("smoke", seeds="3,4", algo="fixmatch")
    mine = figure4.configs("smoke", seeds="3,4")
    assert mine == [c for c in t1 if c.algo == "fixmatch" and c.seed == 3]  # equal configs: cache hits
    assert [c.st for c in mine] == [False, True]
    assert figure5.configs("smoke", seeds="3,4") == [mine[1]]
    paper = figure4.configs("paper", data_root="/x", seeds=1)
    assert {c.dataset for c in paper} == {"bigearthnet"} and paper[1].st
    with pytest.raises(ValueError, match="invalid seeds=0"):
        figure4.configs("smoke", seeds=0)


def test_support_land_and_distances():
    assert nearest_km([51.0], [10.0], [50.0, 20.0], [10.0, 10.0])[0] == pytest.approx(111.19, abs=0.1)
    assert figure5.on_land([48.85, 45.0, 61.5], [2.35, -20.0, 29.0]).tolist() == [True, False, True]
    grid = figure5.Grid(
        np.array([0.0, 1.0]),
        np.array([0.0, 1.0]),
        np.array([[0.1, 0.3], [0.5, 0.9]]),
        in_support=np.array([[True, True], [False, False]]),
        is_land=np.array([[True, False], [True, False]]),
        doy=100,
    )
    t = figure5.support_table(figure5.Prior(pd.DataFrame(), grid, "Sea and ocean", 0.5, 100.0))
    assert t.loc["inside the support"].tolist() == [0.1, 1, 0.3, 1]
    assert t.loc["outside the support"].tolist() == [0.5, 1, 0.9, 1]


# ------------------------------------------------------------------------------ notebooks
def _outputs(nb) -> tuple[str, set]:
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(str(o.get("data", o.get("text", ""))) for o in outs)
    return text, {k for o in outs for k in o.get("data", {})}


@pytest.mark.parametrize("name", ["figure4", "figure5"])
def test_notebook_smoke(tmp_path, name):
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out),
        parameters={"profile": "smoke", "seeds": 1},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    text, kinds = _outputs(nbformat.read(out, as_version=4))
    assert "image/png" in kinds and "text/html" in kinds  # the figure and the styled table
    assert "Sea and ocean" in text and "smoke" in text


def test_notebook_absent_class_fails_with_the_list(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match=r"'Nope' is not in this data set.*'Sea and ocean'"):
        pm.execute_notebook(
            str(NOTEBOOKS / "figure4.ipynb"),
            str(tmp_path / "out.ipynb"),
            cwd=str(NOTEBOOKS),
            parameters={"profile": "smoke", "seeds": 1, "class_name": "Nope"},
            progress_bar=False,
        )


# ------------------------------------------------------------------------------ where a map looks
def _lon_lat_extent(ax, central_longitude=0.0):
    import cartopy.crs as ccrs

    return ax.get_extent(crs=ccrs.PlateCarree(central_longitude=central_longitude))


def test_a_map_shows_europe_for_the_book_s_data_and_fits_points_elsewhere():
    from stssl.cartography import EUROPE, WORLD, map_region

    assert map_region([45.0, 70.0], [-10.0, 31.0]) is EUROPE and map_region([np.nan], [np.nan]) is EUROPE
    kenya = map_region([-1.0, 1.0, 0.5], [36.0, 38.0, 37.5])  # a 2-degree survey gets the 12-degree minimum
    assert (kenya.west, kenya.east, kenya.south, kenya.north) == pytest.approx((31.0, 43.0, -6.0, 6.0))
    wide = map_region([-10.0, 10.0], [-60.0, -40.0])  # 20 degrees each way, 8 % margin on each side
    assert (wide.west, wide.east, wide.south, wide.north) == pytest.approx((-61.6, -38.4, -11.6, 11.6))
    fiji = map_region([-17.0, -18.0], [178.0, -179.0])  # across the antimeridian: one small box
    assert fiji.east - fiji.west == pytest.approx(12.0) and fiji.west < 180.0 < fiji.east
    assert fiji.centre[0] == pytest.approx(179.5)
    pole = map_region([84.0, 86.0], [0.0, 1.0])  # kept within the pole, not past it
    assert pole.north == pytest.approx(90.0) and pole.south == pytest.approx(78.0)
    assert map_region([50.0, -30.0], [-100.0, 120.0]).east - map_region([50.0, -30.0], [-100.0, 120.0]).west < 180
    assert map_region([-60.0, 0.0, 60.0], [-120.0, 0.0, 120.0]) is WORLD


def test_maps_of_points_outside_europe_show_the_points(tmp_path):
    import matplotlib.pyplot as plt

    from stssl.report import maps

    lat, lon = np.array([-17.2, -16.5, -18.1]), np.array([177.5, 179.9, -179.4])
    ax = maps.plot_sample_map(lat, lon, np.array([0.1, 0.5, 0.9]))
    west, east, south, north = _lon_lat_extent(ax, central_longitude=180.0)  # longitudes from 180 E
    assert south < lat.min() and lat.max() < north
    assert -2.5 > west > -20 and 0.6 < east < 20  # one small box around the antimeridian
    ax.figure.savefig(tmp_path / "fiji.png", dpi=30)
    ds = _tiny_dataset()
    ds.lat[:], ds.lon[:] = np.linspace(-3, 3, len(ds)), np.linspace(33, 40, len(ds))
    frame = pd.DataFrame({"lat": ds.lat, "lon": ds.lon, "truth": [1, 0] * 5, "A": np.linspace(0, 1, 10)})
    fig = maps.figure4(frame, ["A"], 0.5, "Forest")
    for map_ax in fig.axes[:2]:
        west, east, south, north = _lon_lat_extent(map_ax)
        assert west < 33 and 40 < east and south < -3 and 3 < north and east - west < 20
    plt.close("all")
