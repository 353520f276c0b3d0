"""The summary's claims and the measures behind them, on small hand-computed inputs (no training)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from stssl.experiments import figure5, summary, table2, table3


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
    mAP["p"] = 45.0  # the teacher given another sample's metadata
    runs = _fake_runs(rows, mAP)
    per_seed = table2.changes(runs, rows)
    assert per_seed.index.tolist() == [0]  # one row per seed
    delta = per_seed.iloc[0]
    assert delta["b"] == pytest.approx(-1.0) and delta["f"] == pytest.approx(9.0)  # from row a (50)
    # from a′ (54), not from a: k = a − a′, l = 57 − 54, m = 52 − 54
    assert delta[["k", "l", "m"]].tolist() == pytest.approx([-4.0, 3.0, -2.0])
    assert len(delta) == 12
    above = table2.lambda_d_above_f(runs, rows).iloc[0]
    assert above.to_dict() == pytest.approx({"k": -9.0, "l": -2.0, "m": -7.0})  # every λ_D below f (59)
    t = table2.table(runs, rows)
    assert (
        t.loc["k", "Δ from"] == "a′"
        and t.loc["k", "ours Δ (%)"] == "-4.00 (0/1 seeds ahead)"
        and "(= row a)" in t.loc["k", "ablation"]
    )
    assert t.loc["b", "Δ from"] == "a" and t.loc["a′", "ours Δ (%)"] == "–" and t.loc["l", "paper Δ (%)"] == "-0.36"
    text = table2.agreement(runs, rows)
    assert "ours, 12 rows: 0 hold, 0 contradicted, 12 not resolved**" in text  # one seed resolves nothing
    assert "(l) +3.00 (1/1 seeds ahead): not resolved at 1 seed" in text and "(f) +9.00 (1/1" in text
    assert "the metadata's information brings: +5.00 points (1/1 seeds ahead)" in text
    assert "ours: 0 hold, 0 contradicted, 3 not resolved** (λ_D = 0.1 -9.00" in text and "λ_D = 0.5 -2.00" in text
    assert table2.metadata_information(runs, rows).tolist() == [5.0]
    assert (
        t.loc["p", "ours Δ (%)"] == "-5.00 (0/1 seeds ahead)"
        and t.loc["p", "paper Δ (%)"] == "–"
        and "another sample's metadata" in t.loc["p", "ablation"]
    )


def test_table2_rows_k_to_m_bring_lambda_d_1_and_the_paper_profile_needs_no_extra_row():
    assert list(table2.rows("smoke", seeds=1, only=["l"])) == ["a", "l", "a′"]
    assert list(table2.rows("smoke", seeds=1, only=["d"])) == ["a", "d"]
    paper = table2.rows("paper", data_root="/x", seeds=1)
    assert paper["a′"] == paper["a"]  # λ_D = 1 is row a there: k-m from a, no extra run
    runs = _fake_runs(paper, dict.fromkeys(paper, 40.0) | {"k": 39.0})
    delta = table2.changes(runs, paper)
    assert delta["k"].tolist() == pytest.approx([-1.0]) and "a′" not in delta


def _one_seed(**values: float) -> pd.DataFrame:
    return pd.DataFrame({k: [v] for k, v in values.items()})


def test_table2_claims_name_their_baseline_and_row_g_s_printed_delta():
    # three seeds of row b: -0.5, -0.6, -0.7 (mean -0.6, sd 0.1, half width 4.302653 * 0.1 / sqrt 3 = 0.248414)
    changes = pd.DataFrame({"b": [-0.5, -0.6, -0.7], "g": [0.2, -0.1, 0.5], "l": [-1.0, -1.0, float("nan")]})
    claims = _by_row(summary.table2_claims(changes))
    b = claims["b"]
    assert b["paper"] == pytest.approx(-0.53) and b["ours"] == pytest.approx(-0.6)
    assert b["95 % interval"] == "[-0.85, -0.35]" and b["seeds for"] == "3/3" and b["verdict"] == "holds"
    assert "Δ from row a" in b["claim"]
    g = claims["g"]  # mean 0.2, sd 0.3, half width 0.745242: [-0.55, +0.95]; 1 of 3 seeds drops
    assert g["paper"] == pytest.approx(-0.26) and g["95 % interval"] == "[-0.55, +0.95]" and g["seeds for"] == "1/3"
    # 0.2 > 0.3 t / sqrt(n) from n = 12 on: t(0.975, 11) / sqrt 12 * 0.3 = 0.190611, n = 11: 0.201541
    assert g["verdict"] == "not resolved at 3 seeds (the observed spread would need 12)"
    assert "the paper prints -0.36, its mAPs give -0.26" in g["claim"]
    assert claims["l"]["paper"] == pytest.approx(-0.36) and "Δ from λ_D = 1" in claims["l"]["claim"]
    assert claims["l"]["per seed"] == {0: -1.0, 1: -1.0} and claims["l"]["verdict"] == "holds"  # no spread
    csv = summary.per_seed_values(list(claims.values()))
    assert len(csv) == 3 + 3 + 2 and set(csv.columns) == {"page", "claim", "seed", "value"}


def test_table2_lambda_claims_check_each_lambda_d_against_f():
    claims = _by_row(summary.table2_lambda_claims(pd.DataFrame({"k": [1.5, 2.5], "l": [-2.25, -2.0], "m": [0.0, 0.0]})))
    assert [claims[r]["paper"] for r in "klm"] == pytest.approx([0.35, 0.84, 0.86])  # 45.27, 45.76, 45.78 − 44.92
    assert [claims[r]["ours"] for r in "klm"] == [2.0, -2.125, 0.0]
    # k: mean 2, sd 0.707107, t(0.975, 1) = 12.706205: half width 6.353102; l: mean -2.125, half 1.588276
    assert claims["k"]["95 % interval"] == "[-4.35, +8.35]" and claims["l"]["95 % interval"] == "[-3.71, -0.54]"
    assert [claims[r]["verdict"][:12] for r in "klm"] == ["not resolved", "contradicted", "not resolved"]
    assert [claims[r]["seeds for"] for r in "klm"] == ["2/2", "0/2", "0/2"]
    assert "λ_D = 0.1 stays above (f)" in claims["k"]["claim"]


# ------------------------------------------------------------------------------ Table 3
def test_table3_rows_per_seed_pair_the_teacher_s_losses_by_seed():
    def run(seed, split, student, teacher):
        cfg = SimpleNamespace(algo="fixmatch", st=True, seed=seed, split=split)
        return SimpleNamespace(
            config=cfg, history=pd.DataFrame(), metrics={"test_mAP": student, "teacher_test_mAP": teacher}
        )

    runs = [run(0, "standard", 0.50, 0.52), run(1, "standard", 0.40, 0.44), run(0, "geographic", 0.30, 0.20)]
    scores = pd.DataFrame(
        [(0, "b", "real", 0.52), (0, "c", "x", 0.30), (0, "c", "y", 0.40), (0, "d", "z", 0.50)]
        + [(1, "b", "real", 0.44), (1, "c", "x", 0.20), (1, "c", "y", 0.20), (1, "d", "z", 0.40)],
        columns=["seed", "row", "value", "mAP"],
    )
    v = table3.row_values(runs, scores)
    assert v.loc[0].to_dict() == pytest.approx({"a": 50, "b": 52, "c": 35, "d": 50, "e": 30, "f": 20})
    assert v.loc[1, ["a", "b", "c", "d"]].tolist() == pytest.approx([40, 44, 20, 40]) and np.isnan(v.loc[1, "e"])
    claims = {c["claim"][-6:-1]: c for c in summary.table3_claims(v)}
    assert claims["c − b"]["per seed"] == pytest.approx({0: -17.0, 1: -24.0})
    assert claims["c − d"]["seeds for"] == "2/2" and claims["f − e"]["per seed"] == pytest.approx({0: -10.0})


# ------------------------------------------------------------------------------ Table 4
def test_table4_claims_no_direction_at_40_and_80_labels():
    gains = {10: pd.Series([2.0, 4.0]), 20: pd.Series([-1.0, -3.0]), 40: pd.Series([0.5]), 80: pd.Series([-0.5])}
    c = summary.table4_claims(gains)
    assert [x["paper"] for x in c] == pytest.approx([13.66, 1.43, -0.24, 0.13])
    assert [x["ours"] for x in c] == [3.0, -2.0, 0.5, -0.5]
    assert [x["verdict"][:12] for x in c] == ["not resolved", "not resolved", "–", "–"]
    assert [x["seeds for"] for x in c] == ["2/2", "0/2", "–", "–"]
    assert "no direction claimed" in c[2]["claim"] and "ahead of FixMatch at 10 labels" in c[0]["claim"]


def test_the_headline_counts_holds_contradicted_and_not_resolved_never_signs_of_means():
    claims = summary.frame(
        summary.table2_lambda_claims(pd.DataFrame({"k": [1.0, 1.2, 0.8]}))  # holds: [+0.50, +1.50]
        + summary.table4_claims(
            {
                10: pd.Series([1.0, -0.5, 0.2]),  # a positive mean, not resolved
                20: pd.Series([-1.0, -1.1, -0.9]),  # contradicted
                40: pd.Series([0.0]),  # no direction claimed
            }
        )
    )
    assert "per seed" not in claims and list(claims.columns)[-1] == "verdict"
    counts = summary.verdict_counts(claims)
    assert counts.loc["all"].tolist() == [1, 1, 1] and counts.loc["Table 4"].tolist() == [0, 1, 1]
    text = summary.agreement_sentence(claims)
    assert text.startswith(
        "**Of the 3 directions the paper claims, 1 hold in ours, 1 are contradicted and 1 are not resolved at "
        "this build's seeds** (per page, holds/contradicted/not resolved: Table 2 1/0/0, Table 4 0/1/1)."
    )
    assert "1 more (Table 4 1) have no verdict" in text


def test_figure6_about_as_many_is_an_equivalence_band_and_context_pairs_strengths_by_seed():
    idx = pd.MultiIndex.from_product([["FixMatch", "FixMatch + ST-SSL"], [0, 1, 2]], names=["method", "seed"])
    means = pd.DataFrame(
        {"pl_precision": [0.5, 0.6, 0.7, 0.6, 0.7, 0.8], "pl_quantity": [100, 100, 100, 101, 102, 103.0]}, index=idx
    )
    precision, quantity = summary.figure6_claims(means)
    assert precision["ours"] == pytest.approx(0.1) and precision["verdict"] == "holds"  # no spread: +0.1 each
    # quantity +1, +2, +3 %: [-0.48, +4.48] lies inside ±5
    assert quantity["95 % interval"] == "[-0.48, +4.48]" and quantity["verdict"] == "holds"
    assert quantity["seeds for"] == "3/3"
    gains = pd.DataFrame(
        {"context_strength": [0.0] * 3 + [1.0] * 3, "seed": [0, 1, 2] * 2, "gain": [0.0, 1.0, 0.5, 2.0, 2.5, 3.0]}
    )
    (ctx,) = summary.context_claims(gains)
    assert ctx["per seed"] == {0: 2.0, 1: 1.5, 2: 2.5} and ctx["verdict"] == "holds"  # [0.76, 3.24]


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
    one = pd.DataFrame([figure5.measures(_prior())])
    c = summary.figure5_claims(one)
    assert [x["ours"] for x in c] == pytest.approx([0.5, 1.0, -1.0])
    assert [x["seeds for"] for x in c] == ["1/1"] * 3 and [x["verdict"] for x in c] == ["not resolved at 1 seed"] * 3
    assert "useless" in c[2]["claim"] and "near the sea than inland" in c[0]["claim"]
    worse = summary.figure5_claims(
        pd.DataFrame(
            {
                "coastal − inland": [-0.1, -0.2],
                "sample AUC": [0.4, 0.45],  # below 0.5 on both seeds
                "grid AUC inside": [0.6, 0.6],
                "grid AUC outside": [0.7, 0.8],
            }
        )
    )
    assert [x["seeds for"] for x in worse] == ["0/2", "0/2", "0/2"]
    assert worse[1]["ours"] == pytest.approx(0.425) and worse[1]["95 % interval"] == "[+0.11, +0.74]"


def test_figure5_without_sea_has_no_verdict():
    m = figure5.measures(_prior(with_sea=False))
    assert np.isnan(m["coastal − inland"]) and np.isnan(m["grid AUC inside"]) and np.isnan(m["grid AUC outside"])
    c = summary.figure5_claims(pd.DataFrame([m]))
    assert [x["verdict"] for x in c] == ["–", "not resolved at 1 seed", "–"]


def test_the_metadata_s_share_stands_beside_the_context_control():
    information = pd.Series({0: 2.0, 1: 1.0, 2: 3.0})  # a − p per seed: [-0.48, +4.48]
    gains = pd.DataFrame({"context_strength": [0.0] * 2 + [1.0] * 2, "seed": [0, 1] * 2, "gain": [0.0, 0.5, 2.0, 2.0]})
    claims = summary.frame(summary.metadata_information_claims(information) + summary.context_claims(gains))
    text = summary.metadata_share_sentence(claims)
    assert "Table 2's a − p): +2.00 points [-0.48, +4.48] (3/3 seeds ahead): not resolved at 3 seeds" in text
    assert "(gain at strength 1 exceeds the gain at 0): +1.75 points [-1.43, +4.93] (2/2 seeds ahead)" in text
    assert summary.metadata_information_claims(pd.Series(dtype=float)) == []
    assert "No permuted-metadata runs" in summary.metadata_share_sentence(claims[claims.page != "Metadata"])
