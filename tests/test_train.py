import math

import numpy as np
import pytest
import torch

from stssl.config import resolve
from stssl.data import load_data
from stssl.data.augment import weak_view
from stssl.evaluate import classification_metrics, predict
from stssl.models import build_model
from stssl.training import train
from stssl.training.feed import IndexStream
from stssl.training.module import lr_factor, param_groups


def test_lr_schedule_values():
    # no warm-up: cos(7 pi/16 * t/T); ends at cos(7 pi/16) = 0.1951 of the base LR (the authors'
    # ``semilearn/core/utils/build.py``, ``get_cosine_schedule_with_warmup``)
    assert lr_factor(0, 0, 100) == 1.0
    assert lr_factor(50, 0, 100) == pytest.approx(math.cos(7 * math.pi / 32))
    assert lr_factor(100, 0, 100) == pytest.approx(0.19509, abs=1e-5)
    # linear warm-up over 10 steps, then the cosine over the remaining 90
    assert lr_factor(5, 10, 100) == pytest.approx(0.5)
    assert lr_factor(10, 10, 100) == 1.0
    assert lr_factor(55, 10, 100) == pytest.approx(math.cos(7 * math.pi / 32))


def test_no_weight_decay_on_biases_and_1d_parameters():
    model = build_model("vit_micro_patch8", 32, 5)
    decay, no_decay = param_groups(model, 5e-4)
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"])
    assert any(p is model.head.bias for p in no_decay["params"])
    assert any(p is model.backbone.norm.weight for p in no_decay["params"])
    assert sum(p.numel() for g in (decay, no_decay) for p in g["params"]) == sum(p.numel() for p in model.parameters())


def test_index_stream_covers_every_sample_each_epoch_and_is_addressable():
    s = IndexStream(np.arange(10, 20), batch=4, seed=3, stream=0)
    first_epoch = np.concatenate([s.at(0), s.at(1), s.at(2)])[:10]
    assert sorted(first_epoch) == list(range(10, 20))
    fresh = IndexStream(np.arange(10, 20), batch=4, seed=3, stream=0)
    assert np.array_equal(fresh.at(2), s.at(2))  # a resumed run draws the same batch


@pytest.fixture(scope="module")
def smoke_data():
    cfg = resolve("smoke")
    return load_data(cfg.dataset, None, cfg.dataset_params, cfg.label_fraction, cfg.seed)


def test_tiny_training_run_learns(smoke_data):
    cfg = resolve("smoke", algo="fixmatch", st=True, steps=120, eval_every=40)
    module = train(cfg, progress=False, data=smoke_data)
    losses = [row["train_loss"] for row in module.history]
    assert losses[-1] < losses[0]
    trained = module.final_metrics()["test_mAP"]
    torch.manual_seed(0)
    untrained = build_model(cfg.model, cfg.image_size, smoke_data.dataset.task.num_classes)
    ds = smoke_data.dataset
    base = classification_metrics(predict(untrained, ds, smoke_data.test), ds.labels[smoke_data.test], True)["mAP"]
    assert trained > base + 0.05, (trained, base)
    # pseudo-label quality and quantity are recorded at every evaluation, with the teacher's weak scores' mAP
    assert all(0 <= row["pl_quantity"] <= 1 and 0 < row["pl_mAP"] <= 1 for row in module.history)
    assert all({"pl_pos_precision", "pl_pos_recall", "pl_pos_f1"} <= row.keys() for row in module.history)


def test_same_seed_same_metrics(smoke_data):
    cfg = resolve("smoke", algo="fixmatch", st=True, steps=10, eval_every=5)
    a = train(cfg, progress=False, data=smoke_data).final_metrics()
    b = train(cfg, progress=False, data=smoke_data).final_metrics()
    a.pop("train_seconds"), b.pop("train_seconds")
    assert a == b


@pytest.mark.filterwarnings("ignore:the (train|val|test) split list")  # a 6-patch fixture vs the official lists
@pytest.mark.parametrize("dataset", ["bigearthnet", "eurosat"])
def test_training_runs_on_the_real_data_layouts(tmp_path, dataset):
    """Real readers, the data set's own augmentation pipeline and the run's image size, end to end
    (on the small files the data tests write: this checks the wiring, not the learning)."""
    from data_fixtures import make_ben_root, make_eurosat_ms

    if dataset == "bigearthnet":
        make_ben_root(tmp_path)
        overrides = dict(label_fraction=0.34, algo="cdmad")
    else:
        make_eurosat_ms(tmp_path, per_class=5)
        overrides = dict(num_labels=10, algo="defixmatch")
    cfg = resolve(
        "smoke",
        dataset=dataset,
        data_root=str(tmp_path),
        st=True,
        steps=4,
        eval_every=2,
        batch_lb=2,
        uratio=2,
        **overrides,
    )
    module = train(cfg, progress=False)
    assert module.data.dataset.pixels.shape[1] == 32 and module.weak_view is not weak_view
    assert all(np.isfinite(row["train_loss"]) for row in module.history)
