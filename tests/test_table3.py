"""Table 3: out-of-distribution metadata (stssl.ood), the geographic-split runs, and the notebook."""

import dataclasses
import math
from pathlib import Path

import nbformat
import numpy as np
import papermill as pm
import pytest
import torch
from pyproj import Geod

from stssl.config import run_data
from stssl.experiments import table1, table3
from stssl.meta import batch_meta, encode_meta
from stssl.ood import MIN_DISTANCE_KM, OOD_LOCATIONS, ood_days, ood_locations, overwrite_meta
from stssl.runs import get_runs

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def smoke_configs():
    return table3.configs("smoke", seeds=1)


@pytest.fixture(scope="module")
def data(smoke_configs):
    return run_data(smoke_configs[0])


def test_ood_locations_lie_outside_the_training_support(data):
    lat, lon = data.dataset.lat[data.train], data.dataset.lon[data.train]
    locations = ood_locations(lat, lon)
    assert [(p, la, lo) for p, la, lo in locations[["place", "lat", "lon"]].itertuples(index=False)] == list(
        OOD_LOCATIONS
    )
    geod = Geod(ellps="WGS84")  # geodesic on the ellipsoid: an independent check of the haversine distance
    for p in locations.itertuples():
        _, _, metres = geod.inv(
            np.full(len(lat), p.lon), np.full(len(lat), p.lat), lon.astype(float), lat.astype(float)
        )
        nearest = metres.min() / 1000
        assert nearest >= MIN_DISTANCE_KM
        assert p.nearest_km == pytest.approx(nearest, rel=0.006)  # sphere vs ellipsoid


def test_a_location_inside_the_support_is_refused(data):
    i = data.train[0]
    near = (("a training sample", float(data.dataset.lat[i]) + 0.5, float(data.dataset.lon[i])),)
    with pytest.raises(ValueError, match=r"'a training sample'.* only \d+ km .*min_km=1000"):
        ood_locations(data.dataset.lat[data.train], data.dataset.lon[data.train], candidates=near)


def test_ood_days_are_absent_from_the_training_dates(data):
    train_days = {int(d) for d in data.dataset.doy[data.train]}
    on_circle = {(d - 1) % 365 + 1 for d in train_days}  # day 366 is day 1 for the sin/cos encoding
    days = ood_days(data.dataset.doy[data.train])
    assert len(days) == 5 and days.doy.is_unique
    for d, n in days.itertuples(index=False):
        n = int(n)
        window = {(d + k - 1) % 365 + 1 for k in range(-(n - 1), n)}
        assert n >= 1 and not window & on_circle  # no training day closer than n days ...
        assert {(d - n - 1) % 365 + 1, (d + n - 1) % 365 + 1} & on_circle  # ... and one exactly n days away
    assert days.nearest_days.iloc[0] == max(days.nearest_days)  # the first is the centre of the widest gap


def test_ood_days_by_hand():
    # training days 1-100 and 200-300: gaps 101-199 (centre 150, 50 days away) and 301-365 (centre 333,
    # 33 days from 300 and from 366 = day 1); then 125 and 175 (25 days from training and from 150); then
    # 316 and 349 tie (16 days from 300 resp. 333): the earliest wins
    days = ood_days(np.r_[np.arange(1, 101), np.arange(200, 301)].astype(float))
    assert days.doy.tolist() == [150, 333, 125, 175, 316]
    assert days.nearest_days.tolist() == [50, 33, 25, 25, 16]


def test_ood_days_fail_clearly():
    with pytest.raises(ValueError, match="only 0 days of year are absent"):
        ood_days(np.arange(1, 366, dtype=float))
    with pytest.raises(ValueError, match="only 3 days"):
        ood_days(np.r_[np.arange(1, 100), np.arange(103, 367)].astype(float))  # 366 = day 1: 100-102 are free
    with pytest.raises(ValueError, match="no acquisition dates"):
        ood_days(np.full(10, np.nan))


def test_overwrite_meta_replaces_only_its_fields(data):
    raw = data.dataset.raw_batch(data.test[:64])
    before = {k: v.clone() for k, v in raw.items()}
    real = batch_meta(raw)
    assert real[:, :2].std(0).min() > 0 and real[:, 2:].std(0).min() > 0  # the batch has varied metadata

    loc = overwrite_meta(lat=-25.0, lon=134.0)(raw)
    torch.testing.assert_close(loc[:, 0], torch.full((64,), -25.0 / 90))
    torch.testing.assert_close(loc[:, 1], torch.full((64,), 134.0 / 180))
    torch.testing.assert_close(loc[:, 2:], real[:, 2:])

    day = overwrite_meta(doy=331)(raw)
    theta = 2 * math.pi * 331 / 365
    torch.testing.assert_close(day[:, :2], real[:, :2])
    torch.testing.assert_close(day[:, 2], torch.full((64,), math.sin(theta)))
    torch.testing.assert_close(day[:, 3], torch.full((64,), math.cos(theta)))

    assert all(torch.equal(raw[k], before[k]) for k in raw)  # the batch itself is left alone
    with pytest.raises(ValueError, match="at least one of lat, lon, doy"):
        overwrite_meta()


def test_configs_share_table1_runs_and_add_the_geographic_split(smoke_configs):
    standard = [c for c in table1.configs("smoke", seeds=1, algo="fixmatch") if c.st]
    assert smoke_configs[:1] == standard  # same configs: the cache trains them once
    (geo,) = smoke_configs[1:]
    assert geo.split == "geographic" and dataclasses.replace(geo, split="standard") == standard[0]
    paper = table3.configs("paper", data_root="/x", seeds=2)
    assert len(paper) == 4 and {c.dataset for c in paper} == {"bigearthnet"} and all(c.st for c in paper)
    assert [c.split for c in paper] == ["seco", "seco", "geographic", "geographic"]  # the paper profile reads SeCo's
    with pytest.raises(
        ValueError, match="needs dates and countries, which eurosat lacks; valid: geosynth, bigearthnet"
    ):
        table3.configs("paper", dataset="eurosat", data_root="/x")


def test_geographic_runs_hold_out_portugal_and_ireland(smoke_configs):
    data = run_data(smoke_configs[1])
    country = data.dataset.country
    held = np.isin(country, ["Portugal", "Ireland"])
    assert not held[data.train].any() and not held[data.val].any() and not held[data.labelled].any()
    np.testing.assert_array_equal(np.sort(data.test), np.flatnonzero(held))
    assert set(country[data.test]) == {"Portugal", "Ireland"}


def _outputs(nb) -> str:
    return "\n".join(
        str(o.get("data", o.get("text", ""))) for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )


def test_table3_notebook_smoke(tmp_path, smoke_configs):
    out = tmp_path / "table3.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "table3.ipynb"),
        str(out),
        parameters={"profile": "smoke", "seeds": 1},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    text = _outputs(nbformat.read(out, as_version=4))
    for expected in (
        "30.15 ± 1.38",
        "42.75 ± 1.30",
        "46.12",
        "16.65",
        "(a) Student",
        "(b) Teacher",
        "(c) Teacher",
        "(d) Teacher",
        "(e) Student †",
        "(f) Teacher †",
        "not comparable",
        "smoke",
        "Central Australia",
    ):
        assert expected in text

    # the notebook's runs are cached now: check the OOD evaluation and the table against them
    runs = get_runs(smoke_configs, progress=False)
    scores = table3.ood_scores(runs)
    assert scores.groupby("row").size().to_dict() == {"b": 1, "c": 5, "d": 5}
    real = scores[scores.row == "b"].mAP.item()
    assert real == pytest.approx(runs[0].metrics["teacher_test_mAP"], abs=1e-9)  # same path as training's test
    assert (scores[scores.row == "c"].mAP != real).any()  # the overwritten location reaches the teacher
    rows = table3.table(runs, scores)["ours mAP (%)"]
    c = scores[scores.row == "c"].mAP.to_numpy() * 100
    assert rows["(c) Teacher"] == f"{c.mean():.2f} ± {c.std(ddof=1):.2f}"
    assert rows["(a) Student"] == f"{runs[0].metrics['test_mAP'] * 100:.2f}"
    assert rows["(f) Teacher †"] == f"{runs[1].metrics['teacher_test_mAP'] * 100:.2f}"
    assert f"{runs[1].metrics['test_mAP'] * 100:.2f} % (e)" in text


def test_overwrite_meta_keeps_what_the_teacher_was_trained_to_see():
    """A teacher trained without T (Table 2 b) gets day 1 whatever day is overwritten."""
    raw = {"lat": torch.tensor([45.0, 60.0]), "lon": torch.tensor([5.0, 25.0]), "doy": torch.tensor([100.0, 250.0])}
    out = overwrite_meta(lat=-25.0, lon=134.0, components="location")(raw)
    assert torch.allclose(out, encode_meta(torch.tensor([-25.0, -25.0]), torch.tensor([134.0, 134.0]), torch.ones(2)))
