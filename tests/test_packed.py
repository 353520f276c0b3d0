"""The packed fast path: same samples as the GeoTIFFs, resumable, atomic, and used by load_data."""

import json
from dataclasses import dataclass

import numpy as np
import pytest
from data_fixtures import make_ben_root, make_eurosat_ms

from stssl.cli import main
from stssl.data import load_data
from stssl.data.bigearthnet import BigEarthNetSource, load_bigearthnet, source
from stssl.data.geo import DataError
from stssl.data.packed import ARRAYS, open_packed, pack

pytestmark = pytest.mark.filterwarnings("ignore:the (train|val|test) split list")


@pytest.fixture(scope="module")
def ben_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ben")
    make_ben_root(root)
    return root


def _same(a, b):
    for name in ("pixels", "labels", "lat", "lon", "doy", "ids"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)), err_msg=name)
    assert a.task == b.task
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.std, b.std)


def test_packed_and_unpacked_give_identical_samples(ben_root, tmp_path):
    out = pack(source(ben_root), tmp_path / "packed", workers=2, chunk=4)
    packed, unpacked = open_packed(out), load_bigearthnet(ben_root)
    assert isinstance(packed.pixels, np.memmap)
    _same(packed, unpacked)
    a, b = packed.raw_batch(np.array([4, 0, 2])), unpacked.raw_batch(np.array([4, 0, 2]))
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["count"] == 6 and manifest["per_class"]["Mixed forest"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["packed"]  # no .partial left behind


@dataclass
class FlakySource(BigEarthNetSource):
    """Fails on one sample (an interruption), and counts what it reads."""

    fail_at: int = -1
    reads: int = 0

    def read(self, i):
        if i == self.fail_at:
            raise KeyboardInterrupt
        self.reads += 1
        return super().read(i)


def test_interrupted_packing_resumes_and_leaves_nothing_half_written(ben_root, tmp_path):
    src = source(ben_root)
    flaky = FlakySource(src.root, src.ids, fail_at=4)
    out = tmp_path / "packed"
    with pytest.raises(KeyboardInterrupt):
        pack(flaky, out, chunk=2)
    assert not out.exists()  # only the .partial folder, never a half-written result
    assert json.loads((tmp_path / "packed.partial" / "progress.json").read_text())["done"] == 4
    resumed = FlakySource(src.root, src.ids)
    pack(resumed, out, chunk=2)
    assert resumed.reads == 2  # only the two rows not yet written
    assert not (tmp_path / "packed.partial").exists()
    _same(open_packed(out), load_bigearthnet(ben_root))


def test_out_holding_another_data_set_is_refused(ben_root, tmp_path):
    out = pack(source(ben_root), tmp_path / "packed")
    assert pack(source(ben_root), out) == out  # already done: nothing to do
    with pytest.raises(DataError, match="already holds a different packed data set"):
        pack(source(ben_root, image_size=64), out)
    with pytest.raises(DataError, match=r"image_size: packed 128, wanted 64"):
        open_packed(out, {"image_size": 64})
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="exists and is not a packed data set"):
        pack(source(ben_root), tmp_path / "other")


def test_prepare_data_cli_and_load_data_reads_the_packed_form(ben_root, tmp_path, capsys):
    main(["prepare-data", "bigearthnet", "--root", str(ben_root)])
    assert "packed 6 bigearthnet images" in capsys.readouterr().out
    data = load_data("bigearthnet", str(ben_root), label_fraction=0.34)
    assert isinstance(data.dataset.pixels, np.memmap)
    assert {f"{a}.npy" for a in ARRAYS} <= {p.name for p in (ben_root / "stssl-packed-128").iterdir()}


def test_prepare_data_eurosat_and_a_bad_root(tmp_path, capsys):
    make_eurosat_ms(tmp_path, 2, 8)
    main(["prepare-data", "eurosat", "--root", str(tmp_path), "--image-size", "8", "--out", str(tmp_path / "p")])
    assert "packed 20 eurosat images" in capsys.readouterr().out
    assert len(open_packed(tmp_path / "p")) == 20
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare-data", "bigearthnet", "--root", str(tmp_path / "nowhere")])
    assert (
        exit_info.value.code == 1 and "no BigEarthNet-S2 v1.0 patches" in capsys.readouterr().err
    )  # data, not a setting
