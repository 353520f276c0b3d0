"""Table 4, Figure 3, Figure 6 and the context-strength page: their runs, their arithmetic, their notebooks."""

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill as pm
import pytest

from stssl.config import resolve
from stssl.data import registry
from stssl.experiments import context, figure3, figure6, table1, table4
from stssl.report import tables
from stssl.runs import Run, runs_root

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _keys(cfgs) -> set[str]:
    return {c.key() for c in cfgs}


def _run(algo="fixmatch", st=False, seed=0, history=None, **metrics_and_config) -> Run:
    """A finished run made up for the arithmetic: config fields and metrics by name."""
    fields = {k: v for k, v in metrics_and_config.items() if not k.startswith("test_") and not k.startswith("teacher_")}
    metrics = {k: v for k, v in metrics_and_config.items() if k not in fields}
    cfg = resolve("smoke", algo=algo, st=st, seed=seed, **fields)
    return Run(cfg, metrics, pd.DataFrame(history or {"step": [10]}), Path("/nonexistent"))


# ----- which runs ----------------------------------------------------------------------------
def test_table4_runs_single_label_geosynth_at_the_papers_label_counts():
    cfgs = table4.configs("cpu", seeds=2)
    assert len(cfgs) == 4 * 3 * 2
    assert (
        sorted({c.num_labels for c in cfgs})
        == [10, 20, 40, 80]
        == list(registry.get("eurosat").label_budgets["num_labels"])
    )
    assert {(c.algo, c.st) for c in cfgs} == {("supervised", False), ("fixmatch", False), ("fixmatch", True)}
    assert all(c.dataset == "geosynth" and c.dataset_params == {"multilabel": False} for c in cfgs)
    assert all(c.steps == 1000 and c.model == "vit_tiny_patch8" for c in cfgs)  # the rest is the cpu profile
    smoke = table4.configs("smoke", seeds=1, budgets=[20])
    assert {c.num_labels for c in smoke} == {20}
    assert all(c.dataset_params == {"n_samples": 2000, "multilabel": False} for c in smoke)


def test_table4_paper_profile_is_eurosat_with_the_papers_settings():
    cfgs = table4.configs("paper", data_root="/x", seeds=1)
    assert {c.dataset for c in cfgs} == {"eurosat"} and {c.data_root for c in cfgs} == {"/x"}
    assert sorted({c.num_labels for c in cfgs}) == [10, 20, 40, 80]
    assert all(c.dataset_params == {} and c.model == "vit_small_patch2" and c.steps == 204_800 for c in cfgs)
    assert {c.lambda_d for c in cfgs if c.st} == {0.01}


def test_table4_refuses_multi_label_data():
    with pytest.raises(ValueError, match=r"single-label data set, got 'bigearthnet'; valid: geosynth, eurosat, folder"):
        table4.configs("paper", dataset="bigearthnet", data_root="/x")


def test_figure3_maps_the_papers_fractions_and_reuses_table1_at_the_table1_point():
    assert figure3.default_fractions("paper") == [0.005, 0.01, 0.02, 0.04, 0.08]
    assert figure3.default_fractions("cpu") == [0.025, 0.05, 0.4]  # the ends and Table 1's
    cfgs = figure3.configs("cpu", seeds=2)
    assert sorted({c.label_fraction for c in cfgs}) == [0.025, 0.05, 0.4]
    at_five = [c for c in cfgs if c.label_fraction == 0.05]
    assert at_five == table1.configs("cpu", seeds=2, algo="fixmatch")
    # the Table 1 notebook asks for all algorithms: these runs are among its, so they are cache hits
    assert _keys(at_five) <= _keys(table1.configs("cpu", seeds=2, algo="all"))
    assert not _keys(c for c in cfgs if c.label_fraction != 0.05) & _keys(table1.configs("cpu", seeds=2, algo="all"))


def test_figure3_paper_profile_is_bigearthnet_at_the_papers_fractions():
    cfgs = figure3.configs("paper", data_root="/x", seeds=1)
    assert {c.dataset for c in cfgs} == {"bigearthnet"} and {c.model for c in cfgs} == {"vit_small_patch16"}
    assert sorted({c.label_fraction for c in cfgs}) == list(registry.get("bigearthnet").label_budgets["label_fraction"])
    assert {c.num_labels for c in cfgs} == {None}


def test_figure3_refuses_a_data_set_budgeted_by_label_counts_and_bad_fractions():
    with pytest.raises(ValueError, match=r"'eurosat'.*number of labels \(10\), which Table 4 varies"):
        figure3.configs("paper", dataset="eurosat", data_root="/x")
    with pytest.raises(ValueError, match=r"fractions must lie in \(0, 1\], got \[0.1, 2.0\]"):
        figure3.configs("cpu", fractions=[0.1, 2])


def test_figure6_reads_table1s_fixmatch_runs():
    cfgs = figure6.configs("cpu", seeds=2)
    assert cfgs == [c for c in table1.configs("cpu", seeds=2, algo="fixmatch") if c.algo == "fixmatch"]
    assert {(c.st, c.seed) for c in cfgs} == {(False, 0), (False, 1), (True, 0), (True, 1)}


def test_context_strengths_and_the_strength_one_runs_are_table1s():
    cfgs = context.configs("cpu", seeds=2)
    assert len(cfgs) == 2 * 2 * 2 and {c.algo for c in cfgs} == {"fixmatch"}
    assert sorted({context.strength(c) for c in cfgs}) == [0.0, 1.0]
    assert {str(c.dataset_params) for c in cfgs} == {
        "{'context_strength': 0.0}",
        "{}",
    }
    full = [c for c in cfgs if context.strength(c) == 1.0]
    assert _keys(full) <= _keys(table1.configs("cpu", seeds=2, algo="all")) and len(full) == 4
    smoke = context.configs("smoke", seeds=1, strengths=[0.5, 1])
    assert [c.dataset_params for c in smoke] == [{"n_samples": 2000, "context_strength": 0.5}] * 2 + [
        {"n_samples": 2000}
    ] * 2


def test_context_needs_geosynth_and_strengths_in_range():
    with pytest.raises(ValueError, match=r"parameter of generated data; got dataset 'bigearthnet', valid: geosynth \("):
        context.configs("paper", data_root="/x")
    with pytest.raises(ValueError, match=r"strengths must lie in \[0, 1\], got \[1.5\]"):
        context.configs("cpu", strengths=[1.5])


# ----- arithmetic ------------------------------------------------------------------------------
def test_smooth_is_tensorboards_debiased_moving_average_skipping_nans():
    out = figure6.smooth([1.0, 2.0, np.nan, 4.0], weight=0.5)
    # s1 = 0.5, s2 = 0.25 + 1 = 1.25, s3 = 0.625 + 2 = 2.625; divided by 1 - 0.5^n
    np.testing.assert_allclose(out, [1.0, 1.25 / 0.75, np.nan, 2.625 / 0.875])
    np.testing.assert_allclose(figure6.smooth([3.0, 1.0, 2.0], weight=0), [3.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="smoothing weight must lie in"):
        figure6.smooth([1.0], weight=1)


def _pl_run(st, seed, precision, quantity):
    return _run(
        st=st,
        seed=seed,
        history={"step": [10, 20], "pl_precision": precision, "pl_quantity": quantity, "pl_pos_precision": [0.5, 0.5]},
    )


def test_figure6_curves_are_seed_means_then_smoothed():
    runs = [
        _pl_run(False, 0, [0.8, np.nan], [0.1, 0.3]),
        _pl_run(False, 1, [0.6, 0.9], [0.3, 0.5]),
        _pl_run(True, 0, [0.9, 0.9], [0.2, 0.4]),
    ]
    c = figure6.curves(runs, weight=0.5).set_index(["method", "metric", "step"])
    assert c.loc[("FixMatch", "pl_precision", 10), "mean"] == pytest.approx(0.7)
    assert c.loc[("FixMatch", "pl_precision", 20), "mean"] == pytest.approx(0.9)  # the NaN seed left out
    assert c.loc[("FixMatch", "pl_precision", 20), "count"] == 1
    assert c.loc[("FixMatch", "pl_quantity", 20), "smoothed"] == pytest.approx((0.5 * 0.5 * 0.2 + 0.5 * 0.4) / 0.75)
    assert c.loc[("FixMatch + ST-SSL", "pl_quantity", 20), "mean"] == pytest.approx(0.4)


def test_figure6_summary_words_follow_the_numbers():
    same_quantity = [_pl_run(False, 0, [0.8, 0.8], [0.5, 0.5]), _pl_run(True, 0, [0.9, 0.9], [0.51, 0.51])]
    text = figure6.summary(same_quantity)
    assert "higher (0.900 vs 0.800; paired by seed +0.10 (1/1 seeds ahead): not resolved at 1 seed) precision" in text
    assert "quantity was almost identical** (0.51 vs 0.5 passing the mask; paired by seed +2.00 % relative" in text
    assert "within ±5 %: not resolved at 1 seed)" in text
    fewer = [_pl_run(False, 0, [0.8, 0.8], [0.5, 0.5]), _pl_run(True, 0, [0.7, 0.7], [0.4, 0.4])]
    text = figure6.summary(fewer)
    assert "had lower (0.700 vs 0.800" in text and "quantity was lower** (0.4 vs 0.5" in text
    assert "-20.00 % relative" in text
    assert "recall" not in text  # runs without the positive metrics: no words about them


def _positive_run(st, seed, recall, f1, score_map):
    run = _pl_run(st, seed, [0.9, 0.9], [0.5, 0.5])
    return Run(
        run.config,
        run.metrics,
        run.history.assign(pl_pos_recall=recall, pl_pos_f1=f1, pl_mAP=score_map),
        Path(f"/runs/{int(st)}{seed}"),
    )


def test_figure6_shows_the_positive_pseudo_labels_and_names_runs_that_predate_them():
    runs = [_positive_run(False, 0, 0.4, 0.5, 0.6), _positive_run(True, 0, 0.6, 0.7, 0.8)]
    assert figure6.predating(runs) == ""
    c = figure6.curves(runs, weight=0).set_index(["method", "metric", "step"])
    assert c.loc[("FixMatch + ST-SSL", "pl_mAP", 20), "mean"] == pytest.approx(0.8)
    text = figure6.summary(runs)
    assert "their recall was higher (0.600 vs 0.400; paired by seed +0.20 (1/1 seeds ahead)" in text
    assert "their F1 was higher (0.700 vs 0.500" in text
    assert "the mAP of the weak scores they come from was higher (0.800 vs 0.600" in text
    old = _pl_run(True, 1, [0.9, 0.9], [0.5, 0.5])
    note = figure6.predating([*runs, old])
    assert note.startswith("1 of 3 runs predate the positive pseudo-label metrics (pl_pos_recall, pl_pos_f1, pl_mAP)")
    assert f"`rm -r {old.path}`" in note
    assert figure6.curves([*runs, old]).query("metric == 'pl_mAP'")["count"].max() == 1  # left out, not zero


def test_table4_table_gives_accuracy_and_paired_gain_beside_the_paper():
    runs = [_run("supervised", seed=s, num_labels=10, test_acc=a) for s, a in ((0, 0.4), (1, 0.5))]
    runs += [_run(seed=s, num_labels=10, test_acc=a) for s, a in ((0, 0.5), (1, 0.6))]
    runs += [_run(st=True, seed=s, num_labels=10, test_acc=a) for s, a in ((0, 0.6), (1, 0.8))]
    t = table4.table(runs)
    assert t.loc["FixMatch", ("10 labels", "ours")] == "55.00 ± 7.07"
    assert t.loc["FixMatch + ST-SSL", ("10 labels", "paper")] == "77.85"
    assert (
        t.loc[table4.GAIN_ROW, ("10 labels", "ours")] == "+15.00 [-48.53, +78.53] (2/2 seeds ahead)"
    )  # gains 10, 20: t(0.975, 1) 12.706 × 7.071 / √2 = 63.53
    assert t.loc[table4.GAIN_ROW, ("10 labels", "paper")] == "+13.66"
    text = table4.gain_summary(runs)
    assert "1 label budgets: 0 hold, 0 contradicted, 1 not resolved**" in text
    # 4 seeds at this spread: t(0.975, 3) 3.182 × 7.071 / 2 = 11.25 < 15; 3 give 17.57
    assert (
        "10 labels +15.00 [-48.53, +78.53] (2/2 seeds ahead): not resolved at 2 seeds (the observed spread would need 4)"
        in text
    )


def test_table1_sentence_gives_each_algorithm_s_verdict_over_seeds():
    runs = [_run(seed=s, test_mAP=m) for s, m in ((0, 0.30), (1, 0.40), (2, 0.50))]
    runs += [_run(st=True, seed=s, test_mAP=m) for s, m in ((0, 0.325), (1, 0.42), (2, 0.515))]  # +2.5, +2, +1.5
    runs += [_run("softmatch", seed=s, test_mAP=0.4) for s in (0, 1, 2)]
    runs += [_run("softmatch", st=True, seed=s, test_mAP=m) for s, m in ((0, 0.41), (1, 0.38), (2, 0.40))]
    text = tables.st_gain_summary(runs)
    assert "2 algorithms: 1 hold, 0 contradicted, 1 not resolved**" in text
    # FixMatch: mean 2, sd 0.5, 4.303 × 0.5 / √3 = 1.242; SoftMatch: +1, -2, 0, never resolved at this mean
    assert "FixMatch +2.00 [+0.76, +3.24] (3/3 seeds ahead): holds" in text
    assert (
        "SoftMatch -0.33 [-4.13, +3.46] (1/3 seeds ahead): not resolved at 3 seeds (the observed spread would need"
        in text
    )


def test_figure3_table_puts_the_papers_numbers_at_the_table1_fraction_only():
    runs = [_run(st=st, label_fraction=f, test_mAP=m) for f in (0.1, 0.2) for st, m in ((False, 0.3), (True, 0.32))]
    t = figure3.table(runs)  # smoke profile: 10 % stands for the paper's 1 %
    assert list(t["stands for paper (%)"]) == ["1.0%", "2.0%"]
    assert list(t["paper FixMatch + ST-SSL"]) == ["46.12", "–"] and list(t["paper Δ"]) == ["+3.56", "–"]
    assert list(t["ours Δ"]) == ["+2.00 (1/1 seeds ahead)"] * 2  # one seed: no interval


def test_context_gain_and_slope_by_hand():
    runs = [
        _run(seed=s, test_mAP=0.5, **params)
        for s in (0, 1)
        for params in ({"dataset_params": {"context_strength": 0.0}}, {"dataset_params": {"context_strength": 0.5}}, {})
    ]
    runs += [
        _run(st=True, seed=s, test_mAP=0.5 + g, teacher_test_mAP=0.6, **params)
        for s in (0, 1)
        for g, params in (
            (0.0, {"dataset_params": {"context_strength": 0.0}}),
            (0.01, {"dataset_params": {"context_strength": 0.5}}),
            (0.02, {}),
        )
    ]
    g = context.gains(runs)
    assert list(g.groupby("context_strength").gain.mean().round(6)) == [0.0, 1.0, 2.0]
    assert (
        context.table(runs).loc["0.5", "Δ (+ ST-SSL − FixMatch)"] == "+1.00 [+1.00, +1.00] (2/2 seeds ahead)"
    )  # no spread
    assert context.table(runs).loc["1", "teacher (with metadata)"] == "60.00 ± 0.00"
    text = context.summary(runs)
    assert "+0.00 [+0.00, +0.00] (0/2 seeds ahead) points at context strength 0 and +2.00 [+2.00, +2.00]" in text
    assert "the gain at 1 minus at 0: +2.00 [+2.00, +2.00] (2/2 seeds ahead): holds" in text  # no spread
    assert "slope of +2.00 points" in text


# ----- notebooks (smoke) -----------------------------------------------------------------------
def _execute(name, tmp_path, **parameters) -> tuple[str, bool]:
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out),
        parameters={"profile": "smoke", "seeds": 1, **parameters},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(str(o.get("data", o.get("text", ""))) for o in outputs)
    return text, any("image/png" in o.get("data", {}) for o in outputs)


def _run_dirs() -> set[str]:
    root = runs_root() / "geosynth"
    return {p.name for p in root.iterdir()} if root.exists() else set()


def test_table4_notebook(tmp_path):
    text, figure = _execute("table4", tmp_path, budgets=[10, 20])
    for expected in ("77.85", "64.19", "57.56", "90.56", "GeoSynth's single-label mode", "10, 20 labels", "smoke"):
        assert expected in text
    assert figure


def test_figure3_and_figure6_notebooks_share_table1s_runs(tmp_path):
    text, figure = _execute("figure3", tmp_path, fractions=[0.05, 0.1])
    for expected in ("42.56", "46.12", "× 10", "standing for the paper's 0.5%, 1.0%", "smoke"):
        assert expected in text
    assert figure
    before = _run_dirs()
    text, figure = _execute("figure6", tmp_path)
    assert _run_dirs() == before  # Figure 6 reads the 10 % (Table 1) runs Figure 3 just trained
    assert "TensorBoard" in text and "The paper: higher quality, almost identical quantity" in text and figure


def test_context_notebook(tmp_path):
    text, figure = _execute("context", tmp_path, strengths=[0.0, 1.0])
    assert (
        "Context strengths: 0, 1" in text and "at context strength 0 and" in text and "'context_strength'" not in text
    )
    assert figure


def test_context_notebook_fails_at_once_for_real_data(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match=r"parameter of generated data; got dataset 'eurosat'"):
        _execute("context", tmp_path, dataset="eurosat", data_root="/x")
