"""The "ST-SSL on your own data" page: GeoSynth exported as a user's folder, then read as one."""

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import papermill as pm
import pytest
from PIL import Image

from stssl.data import load_data
from stssl.experiments import own_data


def test_the_export_is_a_folder_that_reads_back_as_the_same_samples(tmp_path):
    out = own_data.export_geosynth(tmp_path / "export", "smoke", n_images=120)
    table = pd.read_csv(out / "labels.csv")
    assert len(table) == 120 and set(table.split) == {"train", "val", "test"}
    assert (out / "stssl-packed-32" / "manifest.json").is_file() and not (tmp_path / "export.partial").exists()
    geo = load_data("geosynth", None, {"n_samples": 2000})
    folder = load_data("folder", str(out), {"image_size": 32})
    gs, fs = geo.dataset, folder.dataset
    index = {name: i for i, name in enumerate(gs.ids)}
    for k in (0, 57, 119):  # the same pixels, place, day and classes, and the same split
        i = index[fs.ids[k].removeprefix("images/").removesuffix(".png")]
        np.testing.assert_array_equal(fs.pixels[k], gs.pixels[i])
        assert (fs.lat[k], fs.lon[k]) == pytest.approx((gs.lat[i], gs.lon[i]), abs=1e-5)
        row = table.iloc[k]
        assert datetime.date.fromisoformat(row.date).timetuple().tm_yday == gs.doy[i] == fs.doy[k]
        names = {gs.task.class_names[c] for c in np.flatnonzero(gs.label_matrix()[i])}
        assert (
            names == {fs.task.class_names[c] for c in np.flatnonzero(fs.label_matrix()[k])} == set(row.label.split(";"))
        )
        split = next(s for s in ("train", "val", "test") if i in set(getattr(geo, s)))
        assert row.split == split and k in set(getattr(folder, split))
    # done once: a second call reuses it, and the runs' keys (which hold the table's SHA-1) stay put
    stamp = (out / "labels.csv").stat().st_mtime_ns
    assert (
        own_data.export_geosynth(out, "smoke", n_images=120) == out and (out / "labels.csv").stat().st_mtime_ns == stamp
    )


def test_the_page_s_runs_train_on_the_folder(tmp_path):
    cfgs = own_data.configs("smoke", data_root=str(tmp_path / "nowhere"), seeds=2)
    assert [(c.dataset, c.st, c.seed) for c in cfgs] == [
        ("folder", False, 0),
        ("folder", False, 1),
        ("folder", True, 0),
        ("folder", True, 1),
    ]
    assert {c.data_root for c in cfgs} == {str(tmp_path / "nowhere")} and all(c.algo == "fixmatch" for c in cfgs)
    with pytest.raises(ValueError, match="trains on the 'folder' data set; got dataset 'geosynth'"):
        own_data.configs("smoke", dataset="geosynth")


def _run(st: bool, seed: int, metrics: dict):
    from types import SimpleNamespace

    return SimpleNamespace(
        config=SimpleNamespace(algo="fixmatch", st=st, seed=seed), metrics=metrics, history=pd.DataFrame({"step": [1]})
    )


def test_the_table_reports_accuracy_for_single_label_folders_and_map_for_multi_label_ones():
    runs = [
        _run(False, 0, {"test_acc": 0.50, "test_mAP": 0.9}),
        _run(False, 1, {"test_acc": 0.60, "test_mAP": 0.9}),
        _run(True, 0, {"test_acc": 0.55, "teacher_test_acc": 0.70, "test_mAP": 0.1}),
        _run(True, 1, {"test_acc": 0.58, "teacher_test_acc": 0.72, "test_mAP": 0.1}),
    ]
    single = own_data.table(runs, multilabel=False)
    # paired Δ +5, -2 points: mean 1.5, sd 4.95, 95 % half-width t(0.975, 1) 12.706 x 4.95 / sqrt(2) = 44.47
    assert list(single.index) == ["test accuracy (%)"]
    assert single.iloc[0].tolist() == [
        "55.00 ± 7.07",
        "56.50 ± 2.12",
        "71.00 ± 1.41",
        "+1.50 [-42.97, +45.97] (1/2 seeds ahead)",
    ]
    multi = own_data.table(runs)
    assert list(multi.index) == ["test mAP (%)"] and multi.iloc[0, 0] == "90.00 ± 0.00"
    assert multi.iloc[0, 2] == "–"  # no teacher mAP recorded


def test_the_page_runs_on_a_single_label_survey_of_one_s_own_outside_europe(tmp_path, monkeypatch):
    monkeypatch.setenv("STSSL_RUNS", str(tmp_path / "runs"))
    survey, rng, rows = tmp_path / "kenya", np.random.default_rng(0), []
    (survey / "tiles").mkdir(parents=True)
    for i in range(96):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(survey / "tiles" / f"{i}.png")
        rows.append(
            {
                "image": f"tiles/{i}.png",
                "lat": -1 + i / 48,
                "lon": 36 + i / 48,
                "doy": 1 + 3 * i,
                "label": ("maize", "beans", "fallow")[i % 3],
            }
        )
    pd.DataFrame(rows).to_csv(survey / "plots.csv", index=False)
    out = tmp_path / "own_data.ipynb"
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "own_data.ipynb"
    pm.execute_notebook(
        str(notebook),
        str(out),
        parameters={"profile": "smoke", "data_root": str(survey), "seeds": 1},
        kernel_name="python3",
        progress_bar=False,
    )
    text = out.read_text()
    assert "Test top-1 accuracy (%) on the folder" in text and "single-label" in text
    assert text.count('"image/png"') >= 2  # the samples and the map
