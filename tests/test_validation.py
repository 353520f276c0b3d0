"""Every run setting is checked before anything is created, loaded or trained: one line naming
the field, the value and what is valid (issue 12, item 5)."""

import dataclasses
import inspect
from pathlib import Path

import nbformat
import papermill as pm
import pytest
import torch

import stssl.training.fit
from stssl import cli, training
from stssl.algorithms import ALGORITHMS, hyper_parameters
from stssl.config import PROFILES, RunConfig, field_rules, resolve, seed_list
from stssl.core.checks import ConfigError
from stssl.core.devices import check_device, trainer_devices
from stssl.data import registry
from stssl.data.bigearthnet import load_bigearthnet
from stssl.data.eurosat import load_eurosat
from stssl.data.geosynth import GeoSynthConfig
from stssl.experiments import context, figure3, figure4, figure5, figure6, table1, table2, table3, table4

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SEED = "an integer in [0, 4294967295]"
COUNT = "an integer >= 1"
SIZES = "vit_small_patch16, vit_small_patch2, vit_tiny_patch8, vit_micro_patch8"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A run cache that must stay empty, on a machine without a GPU, where loading data fails the test."""
    root = tmp_path / "runs"
    monkeypatch.setenv("STSSL_RUNS", str(root))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def no_data(cfg):
        raise AssertionError("data were loaded for an invalid setting")

    monkeypatch.setattr(stssl.training.fit, "run_data", no_data)
    yield root
    assert not root.exists() or not any(root.rglob("*")), "a folder was created for an invalid setting"


# As a new user types them (issue 12): each failed late, or trained and was cached.
@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "-1"], f"invalid seed=-1; valid: {SEED}"),
        (["--set", "steps=0"], f"invalid steps=0; valid: {COUNT}"),
        (["--set", "steps=-5"], f"invalid steps=-5; valid: {COUNT}"),
        (["--set", "steps=2.5"], f"invalid steps=2.5; valid: {COUNT}"),
        (["--set", "lr=-1"], "invalid lr=-1; valid: a number in (0, 1]"),
        (["--set", "lr=1e3"], "invalid lr=1000.0; valid: a number in (0, 1]"),
        (["--set", "label_fraction=0"], "invalid label_fraction=0; valid: a number in (0, 1]"),
        (["--set", "label_fraction=2"], "invalid label_fraction=2; valid: a number in (0, 1]"),
        (["--set", "batch_lb=0"], f"invalid batch_lb=0; valid: {COUNT}"),
        (["--set", "uratio=0"], f"invalid uratio=0; valid: {COUNT}"),
        (["--set", "eval_every=0"], f"invalid eval_every=0; valid: {COUNT}"),
        (
            ["--set", "image_size=33"],
            "invalid image_size=33; valid: a multiple of 8, the patch size of vit_micro_patch8",
        ),
        (["--set", "model=nosuch"], f"invalid model='nosuch'; valid: {SIZES}"),
        (["--set", "ema=1.5"], "invalid ema=1.5; valid: a number in [0, 1)"),
        (["--set", "algo_params={threshold: 5}"], "invalid fixmatch threshold=5; valid: a number in [0, 1], a pair"),
        (["--device", "bogus"], "invalid device='bogus'; valid: auto, cpu, cuda, cuda:N, mps"),
        (["--device", "cuda"], "device='cuda', but this machine has no CUDA GPU"),
    ],
)
def test_stssl_train_refuses_in_one_line_before_any_folder_or_data(empty_cache, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--profile", "smoke", *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(steps=True), f"invalid steps=True; valid: {COUNT}"),  # a bool is no count
        (dict(st="yes"), "invalid st='yes'; valid: True, False"),
        (dict(eval_teacher=1), "invalid eval_teacher=1; valid: True, False"),
        (dict(lr="1e-3"), "invalid lr='1e-3'; valid: a number in (0, 1]"),
        (dict(lr=float("nan")), "invalid lr=nan; valid: a number in (0, 1]"),
        (dict(weight_decay=-1e-4), "invalid weight_decay=-0.0001; valid: a number >= 0"),
        (dict(warmup_steps=-1), "invalid warmup_steps=-1; valid: an integer >= 0"),
        (dict(lambda_d=-1), "invalid lambda_d=-1; valid: a number >= 0"),
        (dict(eval_batch_size=0), f"invalid eval_batch_size=0; valid: {COUNT}"),
        (dict(patience=0), "invalid patience=0; valid: an integer >= 1, or None"),
        (dict(num_labels=2.5), "invalid num_labels=2.5; valid: an integer >= 1, or None"),
        (dict(precision="fp8"), "invalid precision='fp8'; valid: 32-true, 16-mixed, bf16-mixed"),
        (dict(split="random"), "invalid split='random'; valid: standard, geographic, seco"),
        (dict(dataset="mnist"), "invalid dataset='mnist'; valid: geosynth, eurosat, bigearthnet"),
        (dict(data_root=3), "invalid data_root=3; valid: a path, or None"),
        (dict(dataset_params=[1]), "invalid dataset_params=[1]; valid: a dict"),
        (dict(seed=2**32), f"invalid seed=4294967296; valid: {SEED}"),
        (dict(seed=10**400), "; valid: an integer in [0, 4294967295]"),  # beyond any float
        (dict(device="cuda:x"), "invalid device='cuda:x'; valid: auto, cpu, cuda, cuda:N, mps"),
        (
            dict(model="vit_small_patch16", image_size=40),
            "image_size=40; valid: a multiple of 16, the patch size of vit_small_patch16",
        ),
    ],
)
def test_resolve_checks_every_field_type_and_range(overrides, message):
    with pytest.raises(ConfigError) as err:
        resolve("smoke", **overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


# The algorithms' own parameters: thresholds in [0, 1], momenta in [0, 1), fractions of the run
# in [0, 1], positive sizes (FixMatch with threshold 5 used to train and be cached).
@pytest.mark.parametrize(
    "algo, params, message",
    [
        ("fixmatch", {"threshold": 5}, "invalid fixmatch threshold=5; valid: a number in [0, 1], a pair"),
        ("fixmatch", {"threshold": [0.7, 0.05]}, "(negative <= positive)"),
        ("defixmatch", {"threshold": -0.1}, "invalid defixmatch threshold=-0.1"),
        ("cdmad", {"debias_start": 1.5}, "invalid cdmad debias_start=1.5; valid: a number in [0, 1]"),
        ("udal", {"a_min": -1}, "invalid udal a_min=-1; valid: a number in [0, 1]"),
        ("udal", {"k": 0}, "invalid udal k=0; valid: a number > 0"),
        ("udal", {"ema_p": 1.0}, "invalid udal ema_p=1.0; valid: a number in [0, 1), or None"),
        ("softmatch", {"n_sigma": 0}, "invalid softmatch n_sigma=0; valid: a number > 0"),
        ("softmatch", {"ema_p": -0.1}, "invalid softmatch ema_p=-0.1; valid: a number in [0, 1), or None"),
        ("freematch", {"lambda_e": -1}, "invalid freematch lambda_e=-1; valid: a number >= 0"),
        ("freematch", {"warmup": 2}, "invalid freematch warmup=2; valid: a number in [0, 1]"),
        ("cap", {"queue_size": 0}, "invalid cap queue_size=0; valid: an integer >= 1, or None"),
        ("cap", {"queue_size": 2.5}, "invalid cap queue_size=2.5"),
        ("cap", {"clip": 1.5}, "invalid cap clip=1.5; valid: a number in [0, 1]"),
        ("cap", {"eps": 0}, "invalid cap eps=0; valid: a number > 0"),
        ("cap", {"gamma_neg": -4}, "invalid cap gamma_neg=-4; valid: a number >= 0"),
    ],
)
def test_resolve_checks_the_algorithms_parameters(algo, params, message):
    with pytest.raises(ConfigError) as err:
        resolve("smoke", algo=algo, algo_params=params)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "dataset, params, message",
    [
        ("geosynth", {"n_samples": 0}, "invalid geosynth n_samples=0; valid: an integer >= 1"),
        ("geosynth", {"context_strength": 1.5}, "invalid geosynth context_strength=1.5; valid: a number in [0, 1]"),
        ("geosynth", {"nsamples": 2000}, "unknown parameter(s) nsamples for geosynth; valid: n_samples, image_size, "),
        ("bigearthnet", {"classes": 20}, "invalid bigearthnet classes=20; valid: 43, 19"),
        ("eurosat", {"workers": -1}, "invalid eurosat workers=-1; valid: an integer >= 0"),
    ],
)
def test_resolve_checks_the_data_set_s_parameters(dataset, params, message):
    with pytest.raises(ConfigError) as err:
        resolve("smoke", dataset=dataset, dataset_params=params)
    assert message in str(err.value)


def test_every_field_and_every_parameter_has_a_rule():
    """A new setting cannot skip the checks: it must say what is valid."""
    assert set(field_rules()) == {f.name for f in dataclasses.fields(RunConfig)}
    for name, cls in ALGORITHMS.items():
        assert set(cls.param_rules) == set(hyper_parameters(name)), name
    assert set(registry.get("geosynth").params) == {f.name for f in dataclasses.fields(GeoSynthConfig)}
    assert set(registry.get("eurosat").params) == set(inspect.signature(load_eurosat).parameters) - {"root"}
    assert set(registry.get("bigearthnet").params) == set(inspect.signature(load_bigearthnet).parameters) - {"root"} | {
        "split_files"
    }  # taken by load_data


@pytest.mark.parametrize(
    "overrides",
    [
        dict(algo_params={"threshold": [0.05, 0.7]}),
        dict(algo_params={"threshold": 0.0}),
        dict(ema=0.0),
        dict(label_fraction=1),
        dict(seed=2**32 - 1),
        dict(device="cuda:1"),
        dict(device="mps"),
        dict(lr=1),
        dict(algo="cap", algo_params={"queue_size": None}),
        dict(algo="udal", algo_params={"ema_p": None, "a_min": 1}),
        dict(num_labels=None, patience=None),
    ],
)
def test_edge_values_are_valid(overrides):
    """Inclusive bounds, None where the default is None, and devices this machine lacks (checked where trained)."""
    cfg = resolve("smoke", **overrides)
    assert all(getattr(cfg, k) == v for k, v in overrides.items())


def test_every_profile_and_every_page_s_runs_still_resolve():
    for profile in PROFILES:
        for algo in ALGORITHMS:
            resolve(profile, algo=algo, data_root="/data")
    for dataset in registry.names():
        for profile in registry.get(dataset).profile_overrides:
            resolve(profile, dataset=dataset, data_root="/data")
    pages = (table1, table2, table3, table4, figure3, figure4, figure5, figure6, context)
    for profile in ("cpu", "smoke"):
        assert all(page.configs(profile) for page in pages)
    assert all(page.configs("paper", data_root="/data") for page in pages if page is not context)


@pytest.mark.parametrize("seeds", [0, -1, "a,b", "", "1,1", [0, -2], True, 2.5, None])
def test_notebook_seeds_are_checked(seeds):
    with pytest.raises(
        ConfigError,
        match=r"^invalid seeds=.*; valid: a count >= 1 \(3: seeds 0, 1, 2\), a text "
        r"'0,1,2' or a list of distinct seeds, each an integer in \[0, 4294967295\]$",
    ):
        table1.configs("smoke", seeds=seeds)


def test_notebook_seeds_in_each_form():
    assert seed_list(3) == [0, 1, 2] and seed_list("0, 2") == [0, 2] and seed_list([5, 1]) == [5, 1]


def test_check_device_asks_this_machine(monkeypatch):
    """Availability is checked where a run trains, not in resolve (a login node prepares GPU jobs)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert check_device("auto") == "cpu" and check_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match=r"^device='cuda:0', but this machine has no CUDA GPU .*use device='cpu'"):
        check_device("cuda:0")
    with pytest.raises(ConfigError, match=r"^invalid device='gpu'; valid: auto, cpu, cuda, cuda:N, mps$"):
        check_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("auto") == "cuda" and check_device("cuda:1") == "cuda:1"
    with pytest.raises(
        ConfigError,
        match=r"^device='cuda:2', but this machine has 2 CUDA GPU\(s\): valid: cuda:0 to "
        r"cuda:1$",
    ):
        check_device("cuda:2")
    assert trainer_devices("cuda:1") == {"accelerator": "gpu", "devices": [1]}  # not GPU 0
    assert trainer_devices("cpu") == {"accelerator": "cpu", "devices": 1}


def test_train_checks_the_device_before_loading_data(empty_cache):
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        training.train(resolve("smoke", device="cuda"), empty_cache / "run")


def test_notebook_shows_a_bad_setting_in_one_line_and_fails(tmp_path, monkeypatch):
    """No traceback in the page (papermill still fails), and no run is started."""
    monkeypatch.setenv("STSSL_RUNS", str(tmp_path / "runs"))
    out = tmp_path / "table1.ipynb"
    with pytest.raises(pm.PapermillExecutionError, match="invalid seeds='a,b'"):
        pm.execute_notebook(
            str(NOTEBOOKS / "table1.ipynb"),
            str(out),
            parameters={"profile": "smoke", "seeds": "a,b"},
            cwd=str(NOTEBOOKS),
            progress_bar=False,
        )
    errors = [
        o
        for c in nbformat.read(out, as_version=4).cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert len(errors) == 1 and errors[0].ename == "ConfigError"
    assert errors[0].traceback == [f"ConfigError: {errors[0].evalue}"]
    assert errors[0].evalue.startswith("invalid seeds='a,b'; valid: a count >= 1")
    assert not (tmp_path / "runs").exists()
