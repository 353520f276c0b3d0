"""The explore notebook and its library (stssl.explore), and the book page "Running at paper scale
on a GPU": its commands name only notebook parameters and CLI options that exist, and its run
counts are those of the experiments' configs."""

import ast
import json
import math
import re
import shlex
from collections import Counter
from pathlib import Path

import nbformat
import numpy as np
import papermill as pm
import pytest

import stssl.runs
from stssl import cli
from stssl.evaluate import mean_average_precision
from stssl.experiments import explore, table1
from stssl.runs import get_runs

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
GPU_PAGE = ROOT / "book" / "gpu.md"


def _code_outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _text(outputs) -> str:
    return "\n".join(str(o.get("data", o.get("text", ""))) for o in outputs)


def _images(outputs) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)


@pytest.fixture(scope="module")
def smoke_run():
    """Table 1's smoke FixMatch + ST-SSL run, seed 0 (trained once for this module)."""
    return get_runs([explore.table1_config("smoke")], progress=False)[0]


def test_explore_smoke_shows_the_table1_run(tmp_path, smoke_run):
    out = tmp_path / "explore.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "explore.ipynb"),
        str(out),
        parameters={"profile": "smoke"},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    outputs = _code_outputs(nb)
    text = _text(outputs)
    assert f"Test mAP {smoke_run.metrics['test_mAP']:.2%}" in text
    assert f"its teacher with metadata {smoke_run.metrics['teacher_test_mAP']:.2%}" in text
    assert smoke_run.config.key() in text and "FixMatch + ST-SSL" in text
    assert _images(outputs) >= 4  # curves, sample grid, one sample, class maps
    # no live front end under papermill: the last cell draws static figures, no widget
    last = nb.cells[-1].outputs
    assert _images(last) == 2 and not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in last)


def test_explore_opens_run_dir(tmp_path, smoke_run):
    """``run_dir`` wins over the Table 1 settings (an unknown algo is never looked at)."""
    out = tmp_path / "explore.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "explore.ipynb"),
        str(out),
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        parameters={"profile": "smoke", "algo": "nope", "run_dir": str(smoke_run.path), "n_predict": 50},
    )
    assert smoke_run.config.key() in _text(_code_outputs(nbformat.read(out, as_version=4)))


def test_sample_picker_offers_every_predicted_sample_and_class(smoke_run):
    """The widget of a live front end, built here rather than under papermill: executing
    ``interact`` through nbclient can hang (jupyter/nbconvert#1921, #2029)."""
    import ipywidgets as widgets

    pred = explore.predict_test(smoke_run, n=50)
    shown = []
    picker = explore.sample_picker(pred, lambda sample, class_name: shown.append((sample, class_name)), 3)
    slider, dropdown = [w for w in picker.children if isinstance(w, (widgets.IntSlider, widgets.Dropdown))]
    assert (slider.min, slider.max, slider.value) == (0, 49, 3)
    assert list(dropdown.options) == pred.class_names and dropdown.value == pred.default_class()
    slider.value = 7
    assert shown[-1] == (7, pred.default_class())


def test_explore_missing_run_dir_names_it(tmp_path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(pm.PapermillExecutionError, match=re.escape(f"run_dir '{missing}' does not exist")):
        pm.execute_notebook(
            str(NOTEBOOKS / "explore.ipynb"),
            str(tmp_path / "out.ipynb"),
            cwd=str(NOTEBOOKS),
            parameters={"profile": "smoke", "run_dir": str(missing)},
            progress_bar=False,
        )


def test_open_run_rejects_an_unfinished_run(tmp_path):
    partial = tmp_path / "abc.partial"
    partial.mkdir()
    (partial / "config.yaml").write_text("profile: smoke\n")
    with pytest.raises(FileNotFoundError, match=r"abc.partial' holds no finished run.*resume"):
        explore.open_run(partial)


def test_table1_config_is_one_of_table1s():
    cfg = explore.table1_config("paper", data_root="/data/ben", seed=1, algo="softmatch", st=False)
    same = [
        c
        for c in table1.configs("paper", data_root="/data/ben", seeds=[1], algo="softmatch")
        if not c.st and c.algo == "softmatch"
    ]
    assert cfg == same[0] and cfg.key() == same[0].key()
    assert (cfg.dataset, cfg.steps, cfg.seed, cfg.precision) == ("bigearthnet", 64_000, 1, "bf16-mixed")
    assert explore.table1_config("smoke", config={"steps": 7}).steps == 7
    with pytest.raises(ValueError, match="no \\+ ST-SSL form"):
        explore.table1_config("smoke", algo="supervised", st=True)


def test_predictions_are_the_ones_the_run_was_evaluated_with(smoke_run):
    pred = explore.predict_test(smoke_run, n=10**6)  # every test sample
    labels = pred.dataset.label_matrix()[pred.indices]
    assert len(pred.indices) == len(set(pred.indices.tolist()))
    assert math.isclose(
        mean_average_precision(labels, pred.probs["student (image only)"]), smoke_run.metrics["test_mAP"], abs_tol=1e-6
    )
    assert math.isclose(
        mean_average_precision(labels, pred.probs["teacher (with metadata)"]),
        smoke_run.metrics["teacher_test_mAP"],
        abs_tol=1e-6,
    )
    # the teacher's metadata matters: same images, other probabilities
    assert np.abs(pred.probs["teacher (with metadata)"] - pred.probs["student (image only)"]).max() > 1e-3


def test_top_classes_and_hits_by_hand(smoke_run):
    pred = explore.predict_test(smoke_run, n=5)
    p = pred.probs["student (image only)"]
    names = pred.class_names
    true = set(np.flatnonzero(pred.dataset.labels[pred.indices[2]]).tolist())
    top = pred.top(2, k=4)["student (image only)"]
    order = sorted(range(len(names)), key=lambda c: -p[2, c])[:4]
    assert [t[0] for t in top] == [names[c] for c in order]
    assert [t[1] for t in top] == pytest.approx([p[2, c] for c in order])
    assert [t[2] for t in top] == [c in true for c in order]
    hits = sum(pred.dataset.labels[j][int(np.argmax(p[i]))] > 0 for i, j in enumerate(pred.indices))
    assert pred.top1_hits()["student (image only)"] == hits


def test_date_and_place_text():
    assert [explore.doy_to_date(d) for d in (1.0, 60.0, 365.0, float("nan"))] == ["1 Jan", "1 Mar", "31 Dec", "no date"]
    assert explore.place(-3.2, -8.1) == "3.20°S 8.10°W" and explore.place(42.07, 8.37) == "42.07°N 8.37°E"


# ----- book/gpu.md ---------------------------------------------------------------------------


def _code_lines(language: str) -> list[str]:
    """Lines of the page's ``language`` code blocks, backslash continuations joined."""
    blocks = re.findall(rf"```{language}\n(.*?)```", GPU_PAGE.read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def _parameters(notebook: Path) -> set[str]:
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return {t.id for node in ast.parse(cell.source).body for t in node.targets}


def test_gpu_page_papermill_commands_name_existing_parameters():
    lines = [line for line in _code_lines("bash") if line.startswith("papermill ")]
    assert lines
    for line in lines:
        name = re.search(r"notebooks/(\S+)\.ipynb", line).group(1)
        assert (NOTEBOOKS / f"{name}.ipynb").exists(), f"{line!r} names a notebook that does not exist"
        assert set(re.findall(r"-p (\w+)", line)) <= _parameters(NOTEBOOKS / f"{name}.ipynb"), line


def test_gpu_page_cli_commands_parse_and_train_table1s_run(monkeypatch, tmp_path):
    """Every ``python -m stssl ...`` line parses with the real CLI and resolves a valid config;
    the first train command asks the cache for exactly Table 1's FixMatch + ST-SSL run."""
    asked = []
    monkeypatch.setattr(
        stssl.runs, "get_run", lambda cfg, **kw: asked.append(cfg) or type("R", (), {"path": tmp_path, "metrics": {}})
    )
    packed = []

    def fake_prepare(dataset, root, out=None, image_size=None, workers=0, **options):
        packed.append((dataset, root, workers))
        (tmp_path / "manifest.json").write_text(json.dumps({"count": 1}))
        return tmp_path

    monkeypatch.setattr("stssl.data.prepare_data", fake_prepare)
    swept = []
    monkeypatch.setattr("stssl.sweep.sweep", lambda cfgs, executor, **kw: swept.append((cfgs, executor)) or [])
    monkeypatch.setenv("STSSL_RUNS", str(tmp_path / "runs"))
    commands = [
        shlex.split(line.split("#")[0])[3:] for line in _code_lines("bash") if line.startswith("python -m stssl ")
    ]
    assert {c[0] for c in commands} == {"train", "prepare-data", "plan", "sweep"}
    for argv in commands:
        cli.main(argv)
    (local, gpus), (slurm, array) = swept
    assert gpus.gpus == ["0", "1", "2", "3"] and array.partition == "gpu" and array.sbatch == {"account": "myproject"}
    assert local == slurm and explore.table1_config("paper", data_root="/data/bigearthnet") in local
    # the context page stays on GeoSynth, the own-data page on its GeoSynth export
    assert {c.dataset for c in local} == {"bigearthnet", "eurosat", "geosynth", "folder"}
    assert ("bigearthnet", "/data/bigearthnet", 8) in packed and ("eurosat", "/data/eurosat", 0) in packed
    assert asked[0] == explore.table1_config("paper", data_root="/data/bigearthnet", device="cuda")
    assert asked[0].key() == explore.table1_config("paper", data_root="/data/bigearthnet").key()
    eurosat = [c for c in asked if c.dataset == "eurosat"]
    assert eurosat and {c.num_labels for c in eurosat} >= {20} and all(c.model == "vit_small_patch2" for c in eurosat)


def test_gpu_page_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = {t for line in _code_lines("bash") for t in re.findall(r"\bmake (\w+)", line)}
    assert targets and all(re.search(rf"^{t}:", makefile, flags=re.M) for t in targets)


def test_gpu_page_run_counts_are_the_configs(monkeypatch, tmp_path):
    """The table of runs per notebook, and the totals under it, are what the configs give."""
    import importlib

    page = GPU_PAGE.read_text()
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| (\d+) \| (\d+) \|$", page, flags=re.M)
    assert rows and rows[0][0] == "table1"
    roots = {"BigEarthNet": "/data/bigearthnet", "EuroSAT": "/data/eurosat"}
    seen: dict[int, dict] = {1: {}, 2: {}}
    for name, data, runs, new in rows:
        for seeds in (1, 2):
            kw = dict(profile="paper", data_root=roots[data], seeds=seeds, device="cuda")
            if name == "explore":
                cfgs = [explore.table1_config("paper", data_root=roots[data], device="cuda")]
            else:
                cfgs = importlib.import_module(f"stssl.experiments.{name}").configs(**kw)
            fresh = {c.key(): c for c in cfgs if c.key() not in seen[seeds]}
            if seeds == 1:
                assert (len(cfgs), len(fresh)) == (int(runs), int(new)), name
            seen[seeds].update(fresh)
    one = Counter(
        (c.dataset, "supervised" if c.algo == "supervised" else "ST-SSL" if c.st else "plain SSL")
        for c in seen[1].values()
    )
    flat = " ".join(page.split())
    ben = {k: n for (d, k), n in one.items() if d == "bigearthnet"}
    assert (
        f"**{sum(ben.values())} BigEarthNet runs** ({ben['supervised']} supervised, {ben['plain SSL']} plain SSL, "
        f"{ben['ST-SSL']} ST-SSL)"
    ) in flat
    eur = [n for (d, _), n in one.items() if d == "eurosat"]
    assert f"**{sum(eur)} EuroSAT runs** ({eur[0]} of each)" in flat and len(set(eur)) == 1
    assert f"{len(seen[2])} runs with two seeds" in flat
    # and `stssl plan all` counts the same runs, shared runs once
    from stssl.config import distinct
    from stssl.experiments import BY_NAME, page_configs

    planned = distinct(
        [
            c
            for name in ("summary", "explore")
            for c in page_configs(BY_NAME[name], "paper", roots["BigEarthNet"], roots["EuroSAT"], 1)
        ]
    )
    assert {c.key() for c in planned if c.dataset in ("bigearthnet", "eurosat")} == set(seen[1])
