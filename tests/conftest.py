"""Every test session gets its own GeoSynth cache and run cache (never the user's)."""

import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):  # two test processes on two cores: one thread each
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def isolated_caches(tmp_path_factory):
    root = tmp_path_factory.mktemp("stssl-cache")
    old = {k: os.environ.get(k) for k in ("STSSL_CACHE", "STSSL_RUNS")}
    os.environ["STSSL_CACHE"] = str(root / "data")
    os.environ["STSSL_RUNS"] = str(root / "runs")
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


class SimulatedCrash(RuntimeError):
    """Stands for a killed training process."""


@pytest.fixture
def crash_after_evaluation(monkeypatch):
    """``arm(step)``: training raises :class:`SimulatedCrash` right after the evaluation and its
    checkpoint at ``step`` (Lightning's ``ModelCheckpoint`` runs after every other callback);
    ``disarm()`` restores it, for the resume."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    original = ModelCheckpoint.on_train_batch_end

    def arm(at: int) -> None:
        def on_train_batch_end(self, trainer, *args, **kwargs):
            original(self, trainer, *args, **kwargs)
            if trainer.global_step == at:
                raise SimulatedCrash(f"simulated crash after the evaluation at step {at}")

        monkeypatch.setattr(ModelCheckpoint, "on_train_batch_end", on_train_batch_end)

    arm.disarm = lambda: monkeypatch.setattr(ModelCheckpoint, "on_train_batch_end", original)
    return arm
