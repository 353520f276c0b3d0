"""Every cached run stays valid: the keys of every ``cpu`` page's runs are pinned.

``tests/data/run_keys_cpu.json`` holds the keys every page of a ``cpu`` book asked for (default
seeds) when they were pinned; a change to the config, a profile, a page's runs or the key itself
that would retrain (or silently reuse) runs fails here, naming the page. The own-data page's runs
hold the path of its GeoSynth export and the SHA-1 of its table, both of this machine: they are
stubbed to fixed values, so its keys are pinned as a function of them.
"""

import dataclasses
import json
from pathlib import Path

import pytest

from stssl.config import resolve
from stssl.data import registry
from stssl.experiments import PAGES, own_data, page_configs

PINNED = json.loads((Path(__file__).parent / "data" / "run_keys_cpu.json").read_text())


@pytest.fixture
def fixed_export(monkeypatch):
    monkeypatch.setattr(own_data, "data_folder", lambda profile="cpu", data_root=None: Path("/pinned/own-data"))
    folder = registry.get("folder")
    monkeypatch.setitem(
        registry._REGISTRY,
        "folder",
        dataclasses.replace(folder, fingerprint=lambda root, params: {"table_sha1": "0" * 40}),
    )


def test_every_cpu_page_asks_for_the_runs_it_asked_for_when_pinned(fixed_export):
    keys = {page.name: [f"{c.dataset}/{c.key()}" for c in page_configs(page, "cpu")] for page in PAGES}
    assert sorted(keys) == sorted(PINNED)
    for name, pinned in PINNED.items():
        assert keys[name] == pinned, f"page {name}: its runs' keys changed, so every cached run of it would retrain"


def test_how_data_are_read_is_not_part_of_a_run():
    """``workers`` and ``download`` change how a data set is read, not what: the same run."""
    base = resolve("paper", data_root="/data/ben")
    for params in ({"workers": 8}, {"download": True}, {"workers": 4, "download": True}):
        other = resolve("paper", data_root="/data/ben", dataset_params=params)
        assert other.dataset_params == params and other.key() == base.key()
    assert resolve("paper", data_root="/data/ben", dataset_params={"classes": 19}).key() != base.key()
