"""The encoders page (beyond the paper): its runs, and its paired comparisons computed by hand."""

from pathlib import Path

import pandas as pd
import pytest

from stssl.config import resolve
from stssl.experiments import encoders, table1
from stssl.runs import Run


def test_configs_share_table1_runs_for_the_paper_encoding():
    cfgs = encoders.configs("cpu", seeds=3)
    plain = [c for c in cfgs if not c.st]
    assert [c.seed for c in plain] == [0, 1, 2] and {c.algo for c in cfgs} == {"fixmatch"}
    by_encoding = {e: [c for c in cfgs if c.st and c.meta_encoding == e] for e in encoders.ENCODINGS}
    assert [len(v) for v in by_encoding.values()] == [3, 3]
    t1 = {c.key() for c in table1.configs("cpu", seeds=3, algo="fixmatch")}
    assert {c.key() for c in by_encoding["paper"] + plain} <= t1  # the cache trains them once
    assert not {c.key() for e in encoders.ENCODINGS[1:] for c in by_encoding[e]} & t1
    with pytest.raises(ValueError, match="unknown encoding.*valid: paper, fourier, sphere"):
        encoders.configs("cpu", encodings=["paper", "hexagons"])


def _run(st: bool, seed: int, test: float, teacher: float = float("nan"), encoding: str = "paper", f1=(0.4, 0.6)):
    cfg = resolve("cpu", algo="fixmatch", st=st, seed=seed, **({"meta_encoding": encoding} if st else {}))
    history = pd.DataFrame({"step": [100, 200], "pl_precision": [0.9, 0.95], "pl_pos_f1": list(f1)})
    return Run(cfg, {"test_mAP": test, "teacher_test_mAP": teacher}, history, Path("/nonexistent"))


def test_paired_gains_and_summary_by_hand():
    runs = (
        [_run(False, s, v) for s, v in enumerate((0.40, 0.50, 0.60))]
        + [_run(True, s, v, t) for s, v, t in zip(range(3), (0.50, 0.60, 0.70), (0.55, 0.65, 0.75))]
        + [
            _run(True, s, v, t, "fourier", (0.5, 0.7))
            for s, v, t in zip(range(3), (0.52, 0.61, 0.69), (0.60, 0.70, 0.80))
        ]
    )
    frame = encoders.per_run(runs, probes=False)
    fourier = frame[frame.encoding == "fourier"].set_index("seed")
    assert fourier["gain"].round(6).tolist() == [0.12, 0.11, 0.09]  # minus the same seed's FixMatch
    assert fourier["pl_pos_f1"].tolist() == [pytest.approx(0.6)] * 3  # the mean over the evaluations
    table = encoders.table(frame)
    assert (
        table.loc["fourier", "gain over FixMatch (points)"] == "+10.67 [+6.87, +14.46] (3/3 seeds ahead)"
    )  # 4.303 × 1.528 / √3 = 3.79
    assert table.loc["none (FixMatch)", "gain over FixMatch (points)"] == "–"
    assert "prior AUC" not in table  # not probed
    text = encoders.summary(frame)
    # student: +2, +1, -1 points -> mean +0.667, std 1.53: noise; teacher: +5 on every seed
    # 4.303 × 1.528 / √3 = 3.79 around +0.67; at this spread 23 seeds would be needed (t(0.975, 22) 2.074 × 1.528 / √23 = 0.661 < 0.667)
    assert (
        "student test mAP +0.67 points [-3.13, +4.46] (2/3 seeds ahead), not resolved at 3 seeds (the observed spread would need 23)"
        in text
    )
    assert "teacher test mAP +5.00 points [+5.00, +5.00] (3/3 seeds ahead), resolved" in text
    assert "F1 of the teacher's positive pseudo-labels +0.10 [+0.10, +0.10] (3/3 seeds ahead), resolved" in text
    assert "best student on average is the one taught with the **fourier** encoding" in text
