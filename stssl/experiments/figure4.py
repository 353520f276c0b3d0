"""Figure 4: where FixMatch, the ST-SSL teacher and its student predict "Sea and ocean" on the test set.

The paper maps one class to show what the metadata buy: FixMatch calls many inland images
"sea & ocean" (e.g. in Eastern Finland), the teacher, which sees the location, largely does not,
and the student inherits this. We reuse Table 1's FixMatch and FixMatch + ST-SSL runs of the
first seed (identical configs: the run cache trains nothing new) and count a test image as
predicted positive when the class's probability exceeds :data:`THRESHOLD` (sigmoid of its logit
for multi-label data, softmax for single-label data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stssl.cache import Run
from stssl.config import RunConfig, seed_list
from stssl.data.base import TaskInfo
from stssl.experiments import table1
from stssl.experiments.page import Page
from stssl.paper import method_name
from stssl.report.maps import outcomes

SEA_AND_OCEAN = "Sea and ocean"
THRESHOLD = 0.5
OUTCOMES = ("TP", "FP", "FN", "TN")
_NEAREST = {
    # what other nomenclatures call the sea, for the error message
    "Marine waters": "the 19-class BigEarthNet nomenclature's name for it",
    "SeaLake": "EuroSAT's single-label class, sea and lakes together: EuroSAT has no 'Sea and ocean'",
}


def has_class(labels, task: TaskInfo, k: int) -> np.ndarray:
    """Whether each sample of ``labels`` (multi-hot rows or class indices) has class ``k``."""
    labels = np.asarray(labels)
    return labels[:, k] > 0 if task.multilabel else labels == k


def class_index(task: TaskInfo, class_name: str) -> int:
    """Position of ``class_name`` in the data set's classes; an absent name fails listing them."""
    names = list(task.class_names)
    if class_name in names:
        return names.index(class_name)
    hints = [f"{n!r} is {why}" for n, why in _NEAREST.items() if n in names and n != class_name]
    raise ValueError(
        f"class {class_name!r} is not in this data set; its classes are: "
        f"{', '.join(map(repr, names))}" + (f" ({'; '.join(hints)})" if hints else "")
    )


def class_probability(logits: np.ndarray, multilabel: bool, k: int) -> np.ndarray:
    """Probability of class ``k``: sigmoid of its logit (multi-label) or its softmax share."""
    logits = np.asarray(logits, dtype=np.float64)
    if multilabel:
        return 1 / (1 + np.exp(-logits[:, k]))
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z[:, k] / z.sum(1)


def configs(
    profile: str = "cpu",
    dataset: str | None = None,
    data_root: str | None = None,
    seeds=3,
    device: str = "auto",
    config: dict | None = None,
) -> list[RunConfig]:
    """Table 1's FixMatch and FixMatch + ST-SSL runs of the first of ``seeds`` (plain first);
    ``config`` overrides run settings as in Table 1's notebook."""
    first = seed_list(seeds)[:1]  # seed_list refuses seeds that name none
    return [
        c
        for c in table1.configs(profile, dataset, data_root, first, device, algo="fixmatch", config=config)
        if c.algo == "fixmatch"
    ]


def model_names() -> tuple[str, str, str]:
    """Column names of the three mapped networks."""
    st = method_name("fixmatch", True)
    return method_name("fixmatch", False), f"{st} teacher", f"{st} student"


def predictions(runs: list[Run], class_name: str = SEA_AND_OCEAN, device: str = "auto") -> pd.DataFrame:
    """One row per test image: ``lat``, ``lon``, ``doy``, ``truth`` (has the class), ``is_sea``
    where the data set knows it (GeoSynth), and the class probability of FixMatch, of the
    teacher (with its real metadata, less any component the run hid from it) and of the student
    (image only)."""
    plain = [r for r in runs if not r.config.st]
    st = [r for r in runs if r.config.st]
    if len(plain) != 1 or len(st) != 1:
        raise ValueError(
            f"need one plain and one + ST-SSL run, got {len(plain)} and {len(st)}: pass the runs of figure4.configs()"
        )
    plain, st = plain[0], st[0]
    st_data, plain_data = st.data(), plain.data()
    ds, test = st_data.dataset, st_data.test
    if not np.array_equal(plain_data.test, test):
        raise ValueError("the plain and the + ST-SSL run have different test sets")
    k = class_index(ds.task, class_name)
    frame = pd.DataFrame(
        {"lat": ds.lat[test], "lon": ds.lon[test], "doy": ds.doy[test], "truth": has_class(ds.labels[test], ds.task, k)}
    )
    if hasattr(ds, "is_sea"):
        frame["is_sea"] = np.asarray(ds.is_sea)[test]
    st_pred, plain_pred = st.predictor(device, ds), plain.predictor(device, plain_data.dataset)
    # the teacher with the metadata the run gave it (all of it, unless ablated)
    named = zip(model_names(), ((plain_pred, "model"), (st_pred, "teacher"), (st_pred, "student")))
    for name, (predictor, network) in named:
        logits = predictor.dataset_logits(ds, test, network)
        frame[name] = class_probability(logits, ds.task.multilabel, k)
    frame.attrs["class_name"] = class_name
    return frame


def outcome_counts(truth: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    found = outcomes(truth, predicted)
    return {o: int((found == o).sum()) for o in OUTCOMES}


def error_table(frame: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Per model: predicted positives, TP, FP (and FP on land where ``is_sea`` is known), FN,
    precision and recall of the class (NaN where undefined)."""
    rows = {}
    for name in model_names():
        predicted = frame[name].to_numpy() > threshold
        c = outcome_counts(frame["truth"], predicted)
        row = {"predicted positive": int(predicted.sum()), "TP": c["TP"], "FP": c["FP"]}
        if "is_sea" in frame:
            row["FP on land"] = int((predicted & ~frame["truth"] & ~frame["is_sea"]).sum())
        row["FN"] = c["FN"]
        row["precision"] = c["TP"] / (c["TP"] + c["FP"]) if c["TP"] + c["FP"] else np.nan
        row["recall"] = c["TP"] / (c["TP"] + c["FN"]) if c["TP"] + c["FN"] else np.nan
        rows[name] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "model"
    return out


def errors_by_seed(runs: list[Run], class_name: str = SEA_AND_OCEAN, device: str = "auto") -> dict[int, pd.DataFrame]:
    """:func:`error_table` of each seed's FixMatch pair among ``runs`` (Table 1's, say): the map's
    comparison repeated on every seed, for the summary's verdict."""
    pairs: dict[int, list[Run]] = {}
    for r in runs:
        if r.config.algo == "fixmatch":
            pairs.setdefault(r.config.seed, []).append(r)
    return {seed: error_table(predictions(pair, class_name, device)) for seed, pair in sorted(pairs.items())}


def summary(table: pd.DataFrame, class_name: str = SEA_AND_OCEAN, threshold: float = THRESHOLD) -> str:
    """A sentence computed from :func:`error_table`: each model's false positives (on land where
    known) and whether teacher and student make fewer than FixMatch, as in the paper."""
    fixmatch, teacher, student = model_names()
    col = "FP on land" if "FP on land" in table else "FP"
    what = "false positives on land" if col == "FP on land" else "false positives"
    fp = table[col]

    def versus(name: str) -> str:
        diff = fp[name] - fp[fixmatch]
        return "as many as" if diff == 0 else f"{abs(diff)} {'fewer' if diff < 0 else 'more'} than"

    agrees = fp[teacher] < fp[fixmatch] and fp[student] < fp[fixmatch]
    return (
        f'With a probability above {threshold} counted as "{class_name}", FixMatch makes {fp[fixmatch]} '
        f"{what}, the + ST-SSL teacher {fp[teacher]} ({versus(teacher)} FixMatch) and its student "
        f"{fp[student]} ({versus(student)} FixMatch). "
        + (
            "As in the paper, the teacher and the student both avoid part of FixMatch's errors."
            if agrees
            else "Unlike the paper, teacher and student do not both make fewer of these errors than FixMatch here."
        )
    )


PAGE = Page("figure4", 3, configs=configs)
