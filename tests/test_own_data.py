"""The "ST-SSL on your own data" page: GeoSynth exported as a user's folder, then read as one."""

import datetime

import numpy as np
import pandas as pd
import pytest

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
        assert names == {fs.task.class_names[c] for c in np.flatnonzero(fs.label_matrix()[k])} == set(row.label.split(";"))
        split = next(s for s in ("train", "val", "test") if i in set(getattr(geo, s)))
        assert row.split == split and k in set(getattr(folder, split))
    # done once: a second call reuses it, and the runs' keys (which hold the table's SHA-1) stay put
    stamp = (out / "labels.csv").stat().st_mtime_ns
    assert own_data.export_geosynth(out, "smoke", n_images=120) == out and (out / "labels.csv").stat().st_mtime_ns == stamp


def test_the_page_s_runs_train_on_the_folder(tmp_path):
    cfgs = own_data.configs("smoke", data_root=str(tmp_path / "nowhere"), seeds=2)
    assert [(c.dataset, c.st, c.seed) for c in cfgs] == [("folder", False, 0), ("folder", False, 1),
                                                         ("folder", True, 0), ("folder", True, 1)]
    assert {c.data_root for c in cfgs} == {str(tmp_path / "nowhere")} and all(c.algo == "fixmatch" for c in cfgs)
    with pytest.raises(ValueError, match="trains on the 'folder' data set; got dataset 'geosynth'"):
        own_data.configs("smoke", dataset="geosynth")
