"""bf16 on a CPU: used where the CPU computes it in hardware, for training and evaluation alike;
elsewhere (emulated, several times slower than fp32) a ``paper``-profile run trains in fp32 and
says so once."""

import warnings

import pytest
import torch

import stssl.core.devices
import stssl.networks
import stssl.training.fit
from stssl.config import resolve
from stssl.data import load_data
from stssl.training import SSLModule, train
from stssl.training.fit import resolve_precision

# The paper profile's precision, at the smoke profile's sizes (the smoke data below).
CFG = resolve(
    "paper",
    dataset="geosynth",
    dataset_params={"n_samples": 2000},
    model="vit_micro_patch8",
    image_size=32,
    label_fraction=0.1,
    batch_lb=4,
    uratio=2,
    steps=2,
    eval_every=2,
    eval_batch_size=512,
    patience=None,
)


@pytest.fixture(scope="module")
def data():
    return load_data(CFG.dataset, None, CFG.dataset_params, CFG.label_fraction, CFG.seed)


def _train(data, monkeypatch) -> tuple[SSLModule, list[str], list[bool]]:
    """The trained module, the warnings about bf16, and whether each evaluation ran under bf16 autocast."""
    evaluations, predict = [], stssl.networks.predict

    def spy(*args, **kwargs):
        evaluations.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return predict(*args, **kwargs)

    monkeypatch.setattr(stssl.networks, "predict", spy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = train(CFG, progress=False, data=data)
    return module, [str(w.message) for w in caught if "bf16" in str(w.message)], evaluations


def test_paper_profile_on_a_cpu_without_bf16_hardware_trains_in_fp32_with_one_warning(monkeypatch, data):
    assert CFG.precision == "bf16-mixed"
    monkeypatch.setattr(stssl.core.devices, "cpu_has_bf16", lambda: False)
    module, messages, evaluations = _train(data, monkeypatch)
    assert module.trainer.precision == "32-true" and evaluations and not any(evaluations)
    assert len(messages) == 1 and "no bf16 hardware" in messages[0] and "fp32" in messages[0]


def test_bf16_is_kept_where_the_hardware_has_it(monkeypatch, data):
    monkeypatch.setattr(stssl.core.devices, "cpu_has_bf16", lambda: True)
    module, messages, evaluations = _train(data, monkeypatch)
    assert module.trainer.precision == "bf16-mixed" and not messages
    assert evaluations and all(evaluations)  # evaluated in the run's precision
    monkeypatch.setattr(stssl.core.devices, "cpu_has_bf16", lambda: False)
    assert resolve_precision("bf16-mixed", "cuda") == "bf16-mixed"  # a GPU's bf16 is never replaced
    assert resolve_precision("32-true", "cpu") == "32-true"
