"""The missing-metadata page: its runs, the hidden test metadata and its arithmetic, by hand."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stssl.config import resolve
from stssl.data.base import MetaDataset, TaskInfo
from stssl.experiments import missing, table1
from stssl.runs import Run


def test_configs_share_table1_runs_and_add_one_run_per_variant_and_seed():
    cfgs = missing.configs("cpu", seeds=2)
    t1 = {c.key() for c in table1.configs("cpu", seeds=2, algo="fixmatch")}
    names = [missing.variant(c) for c in cfgs]
    assert names == ["FixMatch"] * 2 + ["FixMatch + ST-SSL"] * 2 + [n for n in missing.VARIANTS for _ in range(2)]
    assert {c.key() for c in cfgs[:4]} <= t1 and not {c.key() for c in cfgs[4:]} & t1
    assert {c.meta_missing for c in cfgs[4:]} == {"learned"}
    assert [c.meta_dropout for c in cfgs[4:6]] == [0.5, 0.5] and [(c.hide_place, c.hide_date) for c in cfgs[6:]] == [
        (0.5, 0.5)
    ] * 2
    # a data set without dates has no date to lose: its lossy archive loses places only
    assert missing.variants("eurosat")["lossy archive"] == {"meta_missing": "learned", "hide_place": 0.5}


def test_hidden_test_metadata_are_nested_and_the_original_is_untouched():
    at_half, at_all = missing.hidden(1000, 0.5, 3, "place"), missing.hidden(1000, 1.0, 3, "place")
    assert 400 < at_half.sum() < 600 and at_all.all() and not missing.hidden(1000, 0.0, 3, "place").any()
    assert not (at_half & ~at_all).any()  # what is missing at 50 % is missing at 100 %
    assert (missing.hidden(1000, 0.5, 3, "date") != at_half).any()  # another draw per field
    n = 6
    ds = MetaDataset(
        np.zeros((n, 4, 4, 3), np.uint8),
        np.zeros((n, 2), np.float32),
        np.arange(n, dtype=np.float32),
        np.arange(n, dtype=np.float32) + 10,
        np.arange(n, dtype=np.float32) + 100,
        np.arange(n),
        TaskInfo(("a", "b"), True),
        (0.5, 0.5, 0.5),
        (0.25, 0.25, 0.25),
    )
    test, lost = np.array([1, 3, 5]), np.array([True, False, True])
    place = missing.without(ds, test, lost, "place")
    assert np.isnan(place.lat[[1, 5]]).all() and np.isnan(place.lon[[1, 5]]).all() and place.lat[3] == 3
    assert np.isfinite(place.doy).all() and np.isfinite(ds.lat).all()  # the original keeps its metadata
    both = missing.without(ds, test, lost, "both")
    assert np.isnan(both.doy[[1, 5]]).all() and both.doy[3] == 103 and np.isnan(both.lat[1])


def _run(seed, test, teacher=float("nan"), st=False, **options):
    cfg = resolve("cpu", algo="fixmatch", st=st, seed=seed, **options)
    return Run(cfg, {"test_mAP": test, "teacher_test_mAP": teacher}, pd.DataFrame({"step": [1]}), Path("/x"))


def test_gains_and_the_gain_that_survives_by_hand():
    runs = [_run(s, m) for s, m in ((0, 0.40), (1, 0.50))]
    runs += [_run(s, m, 0.6, st=True) for s, m in ((0, 0.44), (1, 0.53))]  # +4, +3
    runs += [_run(s, m, 0.6, st=True, **missing.VARIANTS["lossy archive"]) for s, m in ((0, 0.42), (1, 0.52))]
    g = missing.gains(runs)
    assert g.loc[0].to_dict() == pytest.approx({"FixMatch + ST-SSL": 4.0, "lossy archive": 2.0})
    assert g.loc[1].to_dict() == pytest.approx({"FixMatch + ST-SSL": 3.0, "lossy archive": 2.0})
    t = missing.gain_table(runs)
    # gain − full: -2, -1: mean -1.5, sd 0.7071, t(0.975, 1) 12.706 × 0.7071 / √2 = 6.35
    assert t.loc["lossy archive", "gain − the full method's (points)"] == "-1.50 [-7.85, +4.85] (0/2 seeds ahead)"
    assert t.loc["FixMatch", "gain over FixMatch (points)"] == "–"
    text = missing.summary(runs, pd.DataFrame(columns=["seed", "missing", "share", "mAP"]))
    assert "full method's gain over FixMatch: +3.50 [-2.85, +9.85] (2/2 seeds ahead)" in text
    assert "lossy archive +2.00" in text and "(-1.50 [-7.85, +4.85]" in text


def test_teacher_table_pairs_each_share_with_none_missing():
    scores = pd.DataFrame(
        [
            (s, f, share, m)
            for s, base in ((0, 0.5), (1, 0.6))
            for f in ("place",)
            for share, m in ((0.0, base), (0.5, base - 0.01), (1.0, base - 0.03 - 0.01 * s))
        ],
        columns=["seed", "missing", "share", "mAP"],
    )
    t = missing.teacher_table(scores)
    assert t.loc[("place", "0%"), "change from none missing (points)"] == "–"
    assert t.loc[("place", "100%"), "teacher test mAP (%)"] == "51.50 ± 6.36"  # 47 and 56: sd 9 / √2
    # -3, -4: mean -3.5, sd 0.7071: [-9.85, +2.85]
    assert t.loc[("place", "100%"), "change from none missing (points)"] == "-3.50 [-9.85, +2.85] (0/2 seeds ahead)"
