"""The data-set registry: a data set is one declaration, and nothing else switches on its name."""

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import stssl
from stssl.config import resolve
from stssl.core.checks import ConfigError
from stssl.data import canonical_params, load_data, registry
from stssl.data.augment import views
from stssl.runs import get_run

# A user's data set, written as a user would: one file, one registration.
USER_FILE = '''
import numpy as np

from stssl.core.checks import Number
from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.registry import DatasetSpec, register


def open_stripes(root, params, split):
    """Vertical stripes (class 1) or horizontal ones (class 0), with a place and a date each."""
    n, size = params.get("n", 96), params["image_size"]
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    grid = np.arange(size)
    pixels = np.empty((n, size, size, 3), np.uint8)
    for i, y in enumerate(labels):
        stripes = (grid // 2 % 2).astype(np.uint8) * 200
        pixels[i] = (stripes[None, :] if y else stripes[:, None])[..., None]
    ds = MetaDataset(pixels, labels.astype(np.int64), rng.uniform(40, 60, n), rng.uniform(-5, 20, n),
                     rng.integers(1, 366, n).astype(float), np.array([f"s{i}" for i in range(n)]),
                     TaskInfo(("horizontal", "vertical"), multilabel=False), (0.5,) * 3, (0.5,) * 3)
    order = np.arange(n)
    return ds, {"train": order[: n // 2], "val": order[n // 2: 3 * n // 4], "test": order[3 * n // 4:]}


register(DatasetSpec("stripes", open_stripes, params={"image_size": Number(8, integer=True),
                                                      "n": Number(8, integer=True)},
                     augmentation="fused", needs_root=False, single_label={},
                     profile_overrides={"smoke": {"label_fraction": 0.25}}))
'''


@pytest.fixture
def stripes(tmp_path):
    path = tmp_path / "stripes_data.py"
    path.write_text(textwrap.dedent(USER_FILE))
    spec = importlib.util.spec_from_file_location("stripes_data", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    yield registry.get("stripes")
    registry.unregister("stripes")


def test_a_data_set_in_one_file_trains_through_the_whole_library(stripes, tmp_path):
    """Config checks, the profile settings it declares, its augmentation, loading, training and
    the run cache all take the new data set by its name alone."""
    cfg = resolve(
        "smoke",
        dataset="stripes",
        dataset_params={"n": 64},
        algo="fixmatch",
        st=True,
        steps=6,
        eval_every=3,
        batch_lb=4,
        uratio=2,
    )
    assert cfg.label_fraction == 0.25  # its smoke-profile override
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) colour for stripes; valid: image_size, n"):
        resolve("smoke", dataset="stripes", dataset_params={"colour": 1})
    with pytest.raises(ConfigError, match="invalid split='geographic' for stripes; valid: standard"):
        resolve("smoke", dataset="stripes", split="geographic")
    data = load_data("stripes", None, {"image_size": 32, "n": 64}, 0.25, seed=0)
    assert len(data.train) == 32 and len(data.labelled) == 8 and set(data.labelled) <= set(data.train)
    run = get_run(cfg, root=tmp_path / "runs", progress=False)
    assert run.path.parent.name == "stripes" and np.isfinite(run.metrics["test_acc"])


def test_names_declarations_and_unknown_names():
    assert registry.names()[:3] == ("geosynth", "eurosat", "bigearthnet")
    assert {"folder", "copernicus-bigearthnet", "copernicus-eurosat"} <= set(registry.names())
    with pytest.raises(ConfigError, match=r"unknown data set 'nope'; valid: geosynth, eurosat, bigearthnet"):
        registry.get("nope")
    with pytest.raises(ConfigError, match=r"invalid dataset='nope'; valid: geosynth, eurosat"):
        resolve("smoke", dataset="nope")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get("eurosat"))
    for name in registry.names():  # every pipeline a data set names exists
        spec = registry.get(name)
        assert callable(views(spec.augmentation_for({}))[0]), name
        assert "image_size" in spec.params


def test_declared_settings_replace_the_old_switches():
    assert resolve("paper", dataset="eurosat", data_root="/x").model == "vit_small_patch2"  # profile override
    assert resolve("paper", data_root="/x").model == "vit_small_patch16"
    assert registry.get("bigearthnet").stratified_labels and not registry.get("geosynth").stratified_labels
    assert canonical_params("geosynth", {"context_strength": 1.0, "image_size": 32, "seed": 1}) == {
        "image_size": 32,
        "seed": 1,
    }
    assert canonical_params("eurosat", {"image_size": 32, "workers": 2}) == {"image_size": 32, "workers": 2}
    with pytest.raises(ConfigError, match="invalid split='geographic' for eurosat; valid: standard"):
        resolve("smoke", dataset="eurosat", data_root="/x", split="geographic")


def test_no_string_switch_on_a_data_set_name_outside_its_declaration():
    """Comparing a data set with a built-in name is what the registry replaced: only the data sets'
    own modules and their declarations may spell their names in a test (pages named like a data
    set, such as the "geosynth" page, are not data sets)."""
    names = "|".join(re.escape(n) for n in ("geosynth", "eurosat", "bigearthnet", "folder"))
    switch = re.compile(rf"""data(set)?\w*\s*(==|!=|\bin|\bnot in)\s*\(?["']({names})["']""")
    own = {"data/geosynth/dataset.py", "data/eurosat.py", "data/bigearthnet.py", "data/folder.py", "data/copernicus.py"}
    offenders = [
        f"{path.relative_to(Path(stssl.__file__).parent)}:{i}"
        for path in Path(stssl.__file__).parent.rglob("*.py")
        if path.relative_to(Path(stssl.__file__).parent).as_posix() not in own
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if switch.search(line)
    ]
    assert offenders == []


def test_the_command_line_and_worker_processes_find_a_data_set_named_in_STSSL_DATASETS(tmp_path):
    """A fresh process (the CLI here; the same holds for training workers) registers the file on its first look-up."""
    path = tmp_path / "stripes_data.py"
    path.write_text(textwrap.dedent(USER_FILE))
    env = {**os.environ, "STSSL_DATASETS": str(path), "STSSL_RUNS": str(tmp_path / "runs")}
    cmd = [
        sys.executable,
        "-m",
        "stssl",
        "train",
        "--profile",
        "smoke",
        "--quiet",
        "--set",
        "dataset=stripes",
        "--set",
        "steps=4",
        "--set",
        "eval_every=2",
        "--set",
        "batch_lb=4",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "test_acc" in done.stdout and any((tmp_path / "runs" / "stripes").iterdir())
    env["STSSL_DATASETS"] = str(tmp_path / "missing.py")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert (
        done.returncode == 1 and f"STSSL_DATASETS names {tmp_path / 'missing.py'}, which does not exist" in done.stderr
    )
