"""Predicting with a finished run: stssl.predict and ``python -m stssl predict``."""

import io
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import stssl.config
from stssl.cache import RunFolder, find_run, load_run
from stssl.cli import main
from stssl.config import resolve
from stssl.evaluate import classification_metrics, predict
from stssl.networks import PredictError
from stssl.predict import predict_input
from stssl.runs import get_run

SIZE = 24  # the folder's images; the runs' are 32 px, so every read resizes


def write_folder(root, n=48):
    """``n`` PNGs (labels a, b, c), their locations, dates and splits, in ``table.csv``."""
    (root / "img").mkdir(parents=True)
    lines = ["image,lat,lon,date,label,split"]
    for i in range(n):
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(root / "img" / f"{i:03d}.png")
        lines.append(
            f"img/{i:03d}.png,{40 + i / 10},{-3 + i / 10},2018-{1 + i % 12:02d}-13,{'abc'[i % 3]},"
            f"{('train', 'train', 'val', 'test')[i % 4]}"
        )
    (root / "table.csv").write_text("\n".join(lines) + "\n")
    return root / "table.csv"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three finished smoke runs in one cache: + ST-SSL on GeoSynth, CDMAD on GeoSynth, + ST-SSL on a folder."""
    root = tmp_path_factory.mktemp("runs")
    folder = tmp_path_factory.mktemp("folder")
    table = write_folder(folder)
    smoke = dict(steps=10, eval_every=5)
    cfgs = {
        "st": resolve("smoke", algo="fixmatch", st=True, **smoke),
        "cdmad": resolve("smoke", algo="cdmad", **smoke),
        "folder": resolve(
            "smoke", algo="fixmatch", st=True, dataset="folder", data_root=str(folder), label_fraction=0.2, **smoke
        ),
    }
    out = {name: get_run(cfg, root=root, progress=False) for name, cfg in cfgs.items()}
    out.update(root=root, table=table)
    return out


def cli(capsys, *args):
    """``python -m stssl predict ARGS``: (exit code, stdout, stderr)."""
    capsys.readouterr()  # what came before (progress bars)
    try:
        main(["predict", *map(str, args), "--device", "cpu"])
        code = 0
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_predictor_gives_the_runs_own_test_metrics(runs):
    run = runs["st"]
    predictor, data = run.predictor("cpu"), run.data()
    labels = data.dataset.labels[data.test]
    student = predictor.dataset_logits(data.dataset, data.test)
    teacher = predictor.dataset_logits(data.dataset, data.test, "teacher")
    assert classification_metrics(student, labels, True)["mAP"] == run.metrics["test_mAP"]
    assert classification_metrics(teacher, labels, True)["mAP"] == run.metrics["teacher_test_mAP"]
    # from pixels (uint8 N x H x W x 3, or floats N x 3 x H x W in [0, 1]) and metadata: the same numbers
    pixels = data.dataset.pixels[data.test]
    probs = predictor.predict(pixels)
    np.testing.assert_allclose(probs, torch.sigmoid(torch.as_tensor(student).double()).numpy(), rtol=1e-6)
    floats = torch.as_tensor(pixels).permute(0, 3, 1, 2).float() / 255
    np.testing.assert_allclose(predictor.predict(floats), probs, rtol=1e-6)
    meta = {k: getattr(data.dataset, k)[data.test] for k in ("lat", "lon", "doy")}
    np.testing.assert_allclose(predictor.logits(pixels, meta, "teacher"), teacher, rtol=1e-5, atol=1e-6)
    with pytest.raises(PredictError, match="the teacher predicts from the image and its metadata"):
        predictor.predict(pixels, network="teacher")
    with pytest.raises(PredictError, match="has no model network; it has: teacher, student"):
        predictor.predict(pixels, network="model")


def test_cdmad_predictions_subtract_the_constant_image_logits(runs):
    run = runs["cdmad"]
    predictor, data = run.predictor("cpu"), run.data()
    net = predictor.network()
    assert net is predictor.nets["model"]
    raw = predict(net, data.dataset, data.test, batch_size=512)
    with torch.no_grad():
        constant = net(torch.ones(1, 3, 32, 32)).logits[0].numpy()
    shifted = predictor.dataset_logits(data.dataset, data.test)
    np.testing.assert_allclose(shifted, raw - constant, rtol=1e-5, atol=1e-6)
    assert np.abs(constant).max() > 1e-3  # the shift is there to see
    labels = data.dataset.labels[data.test]
    assert classification_metrics(shifted, labels, True)["mAP"] == run.metrics["test_mAP"]


def test_predict_on_a_folder_table_writes_every_row_and_matches_the_run(runs, capsys, tmp_path):
    run, table = runs["folder"], runs["table"]
    data = run.data()
    logits = run.predictor("cpu").dataset_logits(data.dataset, data.test)
    assert classification_metrics(logits, data.dataset.labels[data.test], False)["mAP"] == run.metrics["test_mAP"]

    frame = {}
    for network in ("student", "teacher"):
        out = tmp_path / f"{network}.csv"
        code, said, err = cli(capsys, run.path, table, "--out", out, "--network", network)
        assert code == 0, err
        assert f"48 predictions of the {network} of run {run.path.name}" in said and str(out) in said
        frame[network] = pd.read_csv(out, keep_default_na=False)
    truth = pd.read_csv(table)
    for network, df in frame.items():
        assert list(df.columns) == ["id", "lat", "lon", "doy", "p_a", "p_b", "p_c", "predicted", "label"]
        assert list(df.id) == list(truth.image) and list(df.label) == list(truth.label)
        np.testing.assert_allclose(df.lat, truth.lat, atol=1e-5)
        assert list(df.doy) == [pd.Timestamp(d).day_of_year for d in truth.date]
        probs = df[["p_a", "p_b", "p_c"]].to_numpy()
        assert ((probs >= 0) & (probs <= 1)).all()
        np.testing.assert_allclose(probs.sum(1), 1, atol=1e-9)
        assert list(df.predicted) == list(np.array(["a", "b", "c"])[probs.argmax(1)])
        test = (truth.split == "test").to_numpy()
        key = "test_acc" if network == "student" else "teacher_test_acc"
        assert (df.predicted[test] == df.label[test]).mean() == pytest.approx(run.metrics[key], abs=1e-12)
    assert not np.allclose(frame["student"][["p_a", "p_b", "p_c"]], frame["teacher"][["p_a", "p_b", "p_c"]])

    # the folder holding the table is the same input; without --out the CSV goes to standard output
    code, said, err = cli(capsys, run.path, table.parent)
    assert code == 0, err
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(said), keep_default_na=False), frame["student"])


def test_a_table_without_labels_and_a_folder_without_a_table(runs, capsys, tmp_path):
    run, table = runs["folder"], runs["table"]
    with_table = predict_input(run, table, device="cpu")
    # the same rows without their labels: the same predictions, and no label column
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(table.parent / "img", unlabelled / "img")
    pd.read_csv(table).drop(columns=["label", "split"]).to_csv(unlabelled / "rows.csv", index=False)
    teacher = predict_input(run, unlabelled / "rows.csv", "teacher", device="cpu")
    pd.testing.assert_frame_equal(teacher, predict_input(run, table, "teacher", device="cpu").drop(columns="label"))

    # a folder of images without a table: every PNG in name order, no metadata
    bare = tmp_path / "bare"
    shutil.copytree(table.parent / "img", bare / "pictures")
    code, said, err = cli(capsys, run.path, bare, "--out", tmp_path / "bare.csv")
    assert code == 0, err
    df = pd.read_csv(tmp_path / "bare.csv", keep_default_na=False)
    assert list(df.columns) == ["id", "p_a", "p_b", "p_c", "predicted"]
    assert list(df.id) == [f"pictures/{i:03d}.png" for i in range(48)]
    np.testing.assert_allclose(df[["p_a", "p_b", "p_c"]], with_table[["p_a", "p_b", "p_c"]], rtol=1e-6)
    assert list(df.predicted) == list(with_table.predicted)
    one = predict_input(run, bare / "pictures" / "007.png", device="cpu")  # one image
    assert list(one.id) == ["007.png"] and one.predicted[0] == with_table.predicted[7]

    code, said, err = cli(capsys, run.path, bare, "--network", "teacher")
    assert code == 1 and said == "" and len(err.strip().splitlines()) == 1
    assert "the teacher predicts from each image and its location and day" in err and "images without a table" in err


def test_runs_are_found_by_key_and_a_wrong_run_or_input_is_one_line(runs, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("STSSL_RUNS", str(runs["root"]))
    run = runs["st"]
    assert find_run(run.path.name).path == run.path
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ("0123456789ab", "geosynth", "no finished run with key 0123456789ab under"),
        ("not-a-run", "geosynth", "no run 'not-a-run': neither a run folder nor a 12-character run key"),
        (tmp_path, "geosynth", "is not a run folder (it has no config.yaml)"),
        (run.path.name, tmp_path / "nowhere", "neither a file, a folder nor a data set name"),
        (run.path.name, empty, "holds no table and no image"),
        (run.path.name, "eurosat", "data set 'eurosat' needs --data-root"),
        (runs["cdmad"].path, "geosynth", "has no teacher network; it has: model"),
    ]
    for key, source, message in cases:
        args = (key, source) + (("--network", "teacher") if key == runs["cdmad"].path else ())
        code, said, err = cli(capsys, *args)
        assert code == 1 and said == "" and len(err.strip().splitlines()) == 1, (args, err)
        assert err.startswith("stssl predict: error: ") and message in err, (args, err)


def test_a_data_set_name_and_a_run_from_before_task_json(runs, capsys, monkeypatch, tmp_path):
    """A run finished before ``task.json`` existed predicts, loading its data set once."""
    run = runs["st"]
    old = tmp_path / "runs" / "geosynth" / run.path.name
    shutil.copytree(run.path, old)
    RunFolder(old).task_file.unlink()
    loads = []
    real = stssl.config.load_data
    monkeypatch.setattr(stssl.config, "load_data", lambda *a, **k: loads.append(a[0]) or real(*a, **k))
    predictor = load_run(old).predictor("cpu")
    assert loads == ["geosynth"]
    assert predictor.task == run.predictor("cpu").task

    # the run's own data set by name: its test split, read once (it gives the predictor its classes too)
    loads.clear()
    code, said, err = cli(capsys, old, "geosynth", "--out", tmp_path / "test.csv", "--batch-size", "64")
    assert code == 0, err
    assert loads == ["geosynth"]
    df = pd.read_csv(tmp_path / "test.csv", keep_default_na=False)
    data = run.data()
    assert list(df.id) == list(data.dataset.ids[data.test])
    classes = data.dataset.task.class_names
    probs = df[[f"p_{c}" for c in classes]].to_numpy()
    assert classification_metrics(np.log(probs / (1 - probs)), data.dataset.labels[data.test], True)[
        "mAP"
    ] == pytest.approx(run.metrics["test_mAP"], abs=1e-12)
    names = np.array(classes)
    assert list(df.predicted) == [";".join(names[row >= 0.5]) for row in probs]
    assert list(df.label) == [";".join(names[row > 0]) for row in data.dataset.labels[data.test]]


def test_images_of_another_size_fail_clearly(runs):
    predictor = runs["st"].predictor("cpu")
    with pytest.raises(PredictError, match=r"images of 24 x 24 px, but the run was trained at 32 px: resize them"):
        predictor.predict(np.zeros((2, 24, 24, 3), np.uint8))
    with pytest.raises(PredictError, match="images must be uint8 N x H x W x 3"):
        predictor.predict(np.zeros((2, 32, 32, 3), np.float32))


def test_predicting_and_the_pages_that_predict_never_import_training():
    """Prediction is separate from training: none of these modules pulls in stssl.training (nor Lightning's loop)."""
    code = (
        "import sys, stssl.predict, stssl.experiments.explore, stssl.cli\n"
        "from stssl.experiments import table3, figure4, figure5, encoders, own_data\n"
        "print(sorted(m for m in sys.modules if m.startswith(('stssl.training', 'lightning.pytorch.trainer'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
