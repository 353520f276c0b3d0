"""``python -m stssl predict --out``: a missing folder is made, a folder or an existing file is refused in
one line (the latter unless ``--overwrite``), and a labelled table whose rows all share one class predicts."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stssl.cli import main
from stssl.config import resolve
from stssl.data.folder import source
from stssl.data.geo import DataError
from stssl.runs import get_run


def write_table(root, labels):
    """One 24-px PNG per label, with a location and a date, in ``root/table.csv``."""
    (root / "img").mkdir(parents=True)
    lines = ["image,lat,lon,date,label"]
    for i, label in enumerate(labels):
        pixels = np.random.default_rng(i).integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "img" / f"{i:02d}.png")
        lines.append(f"img/{i:02d}.png,{40 + i / 10},{-3 + i / 10},2018-05-{1 + i:02d},{label}")
    (root / "table.csv").write_text("\n".join(lines) + "\n")
    return root / "table.csv"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished smoke run (FixMatch + ST-SSL on GeoSynth)."""
    cfg = resolve("smoke", algo="fixmatch", st=True, steps=4, eval_every=2)
    return get_run(cfg, root=tmp_path_factory.mktemp("runs"), progress=False)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_table(tmp_path_factory.mktemp("table"), ["a", "b", "a", "b", "a", "b"])


def cli(capsys, *args):
    """``python -m stssl predict ARGS``: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(["predict", *map(str, args), "--device", "cpu"])
        code = 0
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def leftovers(folder):
    return sorted(p.name for p in folder.rglob("*.tmp"))


def test_out_into_a_missing_folder_makes_it(run, table, capsys, tmp_path):
    out = tmp_path / "new" / "deeper" / "preds.csv"
    code, said, err = cli(capsys, run.path, table, "--out", out)
    assert code == 0, err
    assert f"-> {out}" in said and len(pd.read_csv(out)) == 6
    parquet = tmp_path / "other" / "preds.parquet"
    code, said, err = cli(capsys, run.path, table, "--out", parquet)
    assert code == 0, err
    assert list(pd.read_parquet(parquet).id) == list(pd.read_csv(out).id)


def test_out_onto_a_folder_is_one_line_and_writes_nothing(run, table, capsys, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    for given in (folder, f"{folder}/", f"{tmp_path / 'missing'}/"):
        code, said, err = cli(capsys, run.path, table, "--out", given)
        assert code == 1 and said == "" and err.count("\n") == 1, err
        assert err.startswith(f"stssl predict: error: --out {given} is a folder: give a file name in it, e.g. ")
        assert err.rstrip().endswith("predictions.csv")
    assert list(folder.iterdir()) == [] and leftovers(tmp_path) == [] and not (tmp_path / "missing").exists()


def test_out_onto_an_existing_file_needs_overwrite(run, table, capsys, tmp_path):
    out = tmp_path / "preds.csv"
    out.write_text("my earlier results\n")
    code, said, err = cli(capsys, run.path, table, "--out", out)
    assert code == 1 and said == "" and err.count("\n") == 1
    assert err == f"stssl predict: error: --out {out} exists: give --overwrite to replace it, or another file name\n"
    assert out.read_text() == "my earlier results\n" and leftovers(tmp_path) == []  # nothing lost

    code, said, err = cli(capsys, run.path, table, "--out", out, "--overwrite")
    assert code == 0, err
    assert len(pd.read_csv(out)) == 6 and leftovers(tmp_path) == []


def test_out_below_a_file_is_one_line(run, table, capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub" / "preds.csv"
    code, said, err = cli(capsys, run.path, table, "--out", out)
    assert (
        code == 1 and err == f"stssl predict: error: cannot write {out}: {tmp_path / 'afile'} is a file, not a folder\n"
    )


def test_a_wrong_out_fails_before_anything_is_predicted(table, capsys, tmp_path):
    # not even the run is looked for: the --out error comes first
    code, said, err = cli(capsys, tmp_path / "no-such-run", table, "--out", tmp_path)
    assert code == 1 and "is a folder" in err


def test_a_labelled_table_of_one_class_predicts(run, capsys, tmp_path):
    table = write_table(tmp_path / "one", ["forest"] * 4)
    out = tmp_path / "preds.csv"
    code, said, err = cli(capsys, run.path, table, "--out", out)
    assert code == 0, err
    df = pd.read_csv(out, keep_default_na=False)
    assert len(df) == 4 and list(df.label) == ["forest"] * 4
    probs = df[[c for c in df.columns if c.startswith("p_")]].to_numpy()
    assert probs.shape[1] >= 2 and ((probs >= 0) & (probs <= 1)).all()  # the run's classes, not the table's one
    # training on it is still refused: a classifier needs two classes
    with pytest.raises(DataError, match="has 1 class .*two at least"):
        source(table.parent, 24)
