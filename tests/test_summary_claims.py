"""The summary's claims and the measures behind them, on small hand-computed inputs (no training)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from stssl.experiments import figure5, summary, table2


def _by_row(claims: list[dict]) -> dict[str, dict]:
    return {c["claim"][1 : c["claim"].index(")")]: c for c in claims}


# ------------------------------------------------------------------------------ Table 2
def _fake_runs(row_configs, mAP: dict[str, float]) -> list:
    """One finished-looking run per distinct config, its test mAP that of the first row naming it."""
    runs = {}
    for row, cfgs in row_configs.items():
        for c in cfgs:
            runs.setdefault(c.key(), SimpleNamespace(config=c, metrics={"test_mAP": mAP[row] / 100}))
    return list(runs.values())


def test_table2_lambda_rows_are_measured_from_lambda_d_1_as_the_paper_s():
    rows = table2.rows("smoke", seeds=1)  # smoke, like cpu: λ_D = 0.1, so row k is row a
    assert rows["k"] == rows["a"] and rows["a′"] != rows["a"] and rows["a′"][0].lambda_d == 1.0
    assert table2.baseline("k", rows) == "a′" and table2.baseline("f", rows) == "a"
    mAP = dict(a=50.0, b=49.0, c=48.0, d=47.0, e=46.0, f=59.0, g=51.0, h=45.0, i=44.0, j=43.0, l=57.0, m=52.0)
    mAP["a′"] = 54.0
    mAP["k"] = mAP["a"]
    runs = _fake_runs(rows, mAP)
    delta = table2.changes(runs, rows)
    assert delta["b"] == pytest.approx(-1.0) and delta["f"] == pytest.approx(9.0)  # from row a (50)
    # from a′ (54), not from a: k = a − a′, l = 57 − 54, m = 52 − 54
    assert delta[["k", "l", "m"]].tolist() == pytest.approx([-4.0, 3.0, -2.0])
    assert len(delta) == 12
    above = table2.lambda_d_above_f(runs, rows)
    assert above.to_dict() == pytest.approx({"k": -9.0, "l": -2.0, "m": -7.0})  # every λ_D below f (59)
    t = table2.table(runs, rows)
    assert (
        t.loc["k", "Δ from"] == "a′" and t.loc["k", "ours Δ (%)"] == "-4.00" and "(= row a)" in t.loc["k", "ablation"]
    )
    assert t.loc["b", "Δ from"] == "a" and t.loc["a′", "ours Δ (%)"] == "–" and t.loc["l", "paper Δ (%)"] == "-0.36"
    text = table2.agreement(runs, rows)
    assert "ours drops in 9 of 12 rows" in text and "(l) +3.00" in text and "(f) +9.00" in text
    assert "ours in 0 of 3" in text and "λ_D = 0.5: -2.00" in text


def test_table2_rows_k_to_m_bring_lambda_d_1_and_the_paper_profile_needs_no_extra_row():
    assert list(table2.rows("smoke", seeds=1, only=["l"])) == ["a", "l", "a′"]
    assert list(table2.rows("smoke", seeds=1, only=["d"])) == ["a", "d"]
    paper = table2.rows("paper", data_root="/x", seeds=1)
    assert paper["a′"] == paper["a"]  # λ_D = 1 is row a there: k-m from a, no extra run
    runs = _fake_runs(paper, dict.fromkeys(paper, 40.0) | {"k": 39.0})
    assert table2.changes(runs, paper)["k"] == pytest.approx(-1.0) and "a′" not in table2.changes(runs, paper)


def test_table2_claims_name_their_baseline_and_row_g_s_printed_delta():
    claims = _by_row(summary.table2_claims(pd.Series({"b": -0.5, "g": 0.2, "l": -1.0})))
    assert claims["b"]["paper"] == pytest.approx(-0.53) and claims["b"]["agrees"] == "yes"
    assert "Δ from row a" in claims["b"]["claim"]
    assert claims["g"]["paper"] == pytest.approx(-0.26) and claims["g"]["agrees"] == "no"
    assert "the paper prints -0.36, its mAPs give -0.26" in claims["g"]["claim"]
    assert claims["l"]["paper"] == pytest.approx(-0.36) and "Δ from λ_D = 1" in claims["l"]["claim"]


def test_table2_lambda_claims_check_each_lambda_d_against_f():
    claims = _by_row(summary.table2_lambda_claims(pd.Series({"k": 1.5, "l": -2.25, "m": 0.0})))
    assert [claims[r]["paper"] for r in "klm"] == pytest.approx([0.35, 0.84, 0.86])  # 45.27, 45.76, 45.78 − 44.92
    assert [claims[r]["ours"] for r in "klm"] == [1.5, -2.25, 0.0]
    assert [claims[r]["agrees"] for r in "klm"] == ["yes", "no", "no"]
    assert "λ_D = 0.1 stays above (f)" in claims["k"]["claim"]


# ------------------------------------------------------------------------------ Table 4
def test_table4_claims_no_direction_at_40_and_80_labels():
    gains = {10: pd.Series([2.0, 4.0]), 20: pd.Series([-1.0, -3.0]), 40: pd.Series([0.5]), 80: pd.Series([-0.5])}
    c = summary.table4_claims(gains)
    assert [x["paper"] for x in c] == pytest.approx([13.66, 1.43, -0.24, 0.13])
    assert [x["ours"] for x in c] == [3.0, -2.0, 0.5, -0.5]
    assert [x["agrees"] for x in c] == ["yes", "no", "–", "–"]
    assert "no direction claimed" in c[2]["claim"] and "ahead of FixMatch at 10 labels" in c[0]["claim"]


def test_the_headline_counts_only_claims_with_a_direction():
    claims = pd.DataFrame(
        summary.table2_lambda_claims(pd.Series({"k": 1.0}))
        + summary.table4_claims({10: pd.Series([1.0]), 20: pd.Series([-1.0]), 40: pd.Series([0.0])})
    )
    text = summary.agreement_sentence(claims)
    assert text.startswith("**2 of the 3 directions the paper claims hold in ours** (Table 2 1/1, Table 4 1/2).")
    assert "1 more (Table 4 1) have no verdict" in text
    assert summary.agreement_sentence(claims[claims.agrees != "–"]).endswith("(Table 2 1/1, Table 4 1/2).")


# ------------------------------------------------------------------------------ Figure 5
def _prior(with_sea: bool = True) -> figure5.Prior:
    """Samples near (0, 0) and far from it; a 3 x 2 grid (lat 0, 10, 20 x lon 0, 10) with sea at
    (0, 0) and (20, 0), the first row pair inside the support, the last outside."""
    samples = pd.DataFrame(
        {
            "lat": [0.0, 0.0, 10.0, 5.0],
            "lon": [
                0.5,
                0.1,
                10.0,
                5.0,
            ],  # 0.5° and 0.1° of the equator from (0, 0), ~56 and ~11 km: coastal; ~1 545 (from (20, 0)) and ~786 km: inland
            "doy": [100.0] * 4,
            "truth": [True, False, False, False],
            "confidence": [0.8, 0.6, 0.1, 0.3],
        }
    )
    grid = figure5.Grid(
        lon=np.array([0.0, 10.0]),
        lat=np.array([0.0, 10.0, 20.0]),
        confidence=np.array([[0.9, 0.2], [0.4, 0.1], [0.3, 0.5]]),
        in_support=np.array([[True, True], [True, True], [False, False]]),
        is_land=np.array([[not with_sea, True], [True, True], [not with_sea, True]]),
        doy=100,
    )
    return figure5.Prior(samples, grid, "Sea and ocean", 0.5, 100.0)


def test_figure5_measures_by_hand():
    p = _prior()
    assert figure5.sea_km(p) == pytest.approx([55.60, 11.12, 1544.76, 785.77], rel=1e-4)
    m = figure5.measures(p)
    assert m["coastal − inland"] == pytest.approx((0.8 + 0.6) / 2 - (0.1 + 0.3) / 2)  # 0.5
    assert m["sample AUC"] == 1.0  # the one sample with the class is the most confident
    assert m["grid AUC inside"] == 1.0  # sea 0.9 above land 0.2, 0.4, 0.1
    assert m["grid AUC outside"] == 0.0  # sea 0.3 below land 0.5
    assert figure5.measures(p, inland_km=20)["coastal − inland"] == pytest.approx(0.6 - (0.8 + 0.1 + 0.3) / 3)
    text = figure5.summary(p)
    assert "within 100 km of the sea (coastal and maritime) get 0.700" in text and "inland 0.200" in text
    assert "AUC of sea against land 1.000" in text and "AUC of sea against land 0.000" in text


def test_figure5_claims_score_both_of_the_paper_s_claims():
    c = summary.figure5_claims(figure5.measures(_prior()))
    assert [x["ours"] for x in c] == pytest.approx([0.5, 1.0, -1.0])
    assert [x["agrees"] for x in c] == ["yes", "yes", "yes"]
    assert "useless" in c[2]["claim"] and "near the sea than inland" in c[0]["claim"]
    worse = summary.figure5_claims(
        {"coastal − inland": -0.1, "sample AUC": 0.4, "grid AUC inside": 0.6, "grid AUC outside": 0.7}
    )
    assert [x["agrees"] for x in worse] == ["no", "no", "no"]


def test_figure5_without_sea_has_no_verdict():
    m = figure5.measures(_prior(with_sea=False))
    assert np.isnan(m["coastal − inland"]) and np.isnan(m["grid AUC inside"]) and np.isnan(m["grid AUC outside"])
    c = summary.figure5_claims(m)
    assert [x["agrees"] for x in c] == ["–", "yes", "–"]
