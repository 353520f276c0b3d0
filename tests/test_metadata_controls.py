"""What the teacher is told can be made to say less: another sample's metadata (the control of what
the metadata bring), or a missing place or date standing in as a learned embedding."""

import math

import numpy as np
import pytest
import torch

from stssl.config import resolve, run_data
from stssl.core.checks import ConfigError
from stssl.meta import MetaEncoding, encode_meta
from stssl.models import build_teacher_student
from stssl.training.feed import StepBatches

CFG = resolve("smoke", algo="fixmatch", st=True)


@pytest.fixture(scope="module")
def data():
    return run_data(CFG)


def _meta(cfg, data, step=0):
    batches = StepBatches(data, cfg, True, lambda: step)
    lb = batches.lb.at(step)
    return lb, batches._raw(lb, step, 0)["meta"], batches


def test_permuted_metadata_are_another_training_sample_s_and_change_nothing_else(data):
    cfg = resolve("smoke", algo="fixmatch", st=True, permute_metadata=True)
    assert (
        cfg.key() != CFG.key() and resolve("smoke", algo="fixmatch", st=True, permute_metadata=False).key() == CFG.key()
    )
    indices, meta, batches = _meta(cfg, data)
    donor = batches.donor
    assert sorted(donor[data.train]) == sorted(data.train)  # a permutation of the training split
    outside = np.setdiff1d(np.arange(len(data.dataset)), data.train)
    assert (donor[outside] == outside).all() and (donor[data.train] != data.train).mean() > 0.99
    ds = data.dataset
    expected = encode_meta(ds.lat[donor[indices]], ds.lon[donor[indices]], ds.doy[donor[indices]])
    torch.testing.assert_close(meta, expected)
    _, same_images, _ = _meta(CFG, data)
    assert not torch.allclose(meta, same_images)  # the images' own metadata, for the method
    assert (StepBatches(data, cfg, True, lambda: 0).donor == donor).all()  # fixed by the seed
    with pytest.raises(ConfigError, match="permute_metadata change\\(s\\) the teacher"):
        resolve("smoke", permute_metadata=True)


def test_dropped_metadata_are_nan_blocks_in_the_share_asked_and_the_same_at_a_step(data):
    cfg = resolve("smoke", algo="fixmatch", st=True, meta_missing="learned", meta_dropout=0.5, batch_lb=512)
    _, meta, _ = _meta(cfg, data, step=3)
    place, date = meta[:, :2].isnan().all(1), meta[:, 2:].isnan().all(1)
    assert meta[:, :2].isnan().any(1).equal(place) and meta[:, 2:].isnan().any(1).equal(date)  # whole blocks
    assert 0.4 < place.float().mean() < 0.6 and 0.4 < date.float().mean() < 0.6 and not place.equal(date)
    assert torch.equal(meta.isnan(), _meta(cfg, data, step=3)[1].isnan())  # a function of the seed and the step
    assert not torch.equal(meta.isnan(), _meta(cfg, data, step=4)[1].isnan())
    with pytest.raises(ConfigError, match="meta_dropout hide\\(s\\) metadata during training: it needs meta_missing"):
        resolve("smoke", algo="fixmatch", st=True, meta_dropout=0.5)


def test_a_missing_place_or_date_is_a_learned_embedding_in_its_block():
    encoding = MetaEncoding(missing="learned")
    lat, lon, doy = (
        torch.tensor([45.0, math.nan, 10.0]),
        torch.tensor([5.0, 3.0, 20.0]),
        torch.tensor([10.0, 40.0, math.nan]),
    )
    meta = encode_meta(lat, lon, doy, encoding=encoding)
    assert meta[0].isfinite().all() and meta[1, :2].isnan().all() and meta[1, 2:].isfinite().all()
    assert meta[2, :2].isfinite().all() and meta[2, 2:].isnan().all()
    with pytest.raises(ValueError, match="every sample needs a location \\(or meta_missing='learned'\\)"):
        encode_meta(lat, lon, doy)
    torch.manual_seed(0)
    teacher, _ = build_teacher_student("vit_micro_patch8", 32, 5, meta_dim=4, missing_parts=encoding.parts)
    place, date = teacher.missing.embeddings
    filled = meta.clone()
    filled[1, :2], filled[2, 2:] = place.detach(), date.detach()
    x = torch.randn(3, 3, 32, 32)
    teacher.eval()
    torch.testing.assert_close(teacher(x, meta).logits, teacher(x, filled).logits)
    teacher(x, meta).logits.sum().backward()
    assert (
        place.grad.abs().sum() > 0
        and date.grad.abs().sum() > 0
        and all(p.grad is None or p.grad.isfinite().all() for p in teacher.parameters())
    )


def test_spherical_harmonics_of_degree_40_feed_a_sinusoidal_network():
    from stssl.encoders import LOCATION_ENCODERS
    from stssl.models.vit import Sine

    encoding = MetaEncoding("sphere-siren")
    assert LOCATION_ENCODERS["sphere-siren"].dim == 41**2 and encoding.dim == 41**2 + 2 and encoding.network == "siren"
    teacher, student = build_teacher_student("vit_micro_patch8", 32, 5, meta_dim=encoding.dim, meta_net="siren")
    first, act, second = teacher.meta_mlp
    assert isinstance(act, Sine) and first.weight.abs().max() <= 1 / encoding.dim
    assert second.weight.abs().max() <= (6 / 32) ** 0.5 and not hasattr(student, "meta_mlp")
    paper, _ = build_teacher_student("vit_micro_patch8", 32, 5)
    assert isinstance(paper.meta_mlp[1], torch.nn.GELU)  # the paper's network is unchanged


def test_geoclip_needs_its_optional_extra_and_says_so_in_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "geoclip" else real(name, *a))
    with pytest.raises(
        ConfigError,
        match=r"^meta_encoding='geoclip' needs the package geoclip, an optional extra: "
        r"pip install 'stssl\[geoclip\]'$",
    ):
        resolve("smoke", algo="fixmatch", st=True, meta_encoding="geoclip")


def test_geoclip_s_pretrained_encoder_loads_offline_when_installed(monkeypatch):
    pytest.importorskip("geoclip", reason="GeoCLIP is an optional extra: pip install 'stssl[geoclip]'")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from stssl.encoders import LOCATION_ENCODERS

    encoder = LOCATION_ENCODERS["geoclip"]
    lat, lon = torch.tensor([[45.0, 60.0], [-33.9, 0.0]]), torch.tensor([[5.0, 25.0], [151.2, 0.0]])
    features = encoder(lat, lon)
    assert features.shape == (2, 2, 512) and features.isfinite().all()
    torch.testing.assert_close(features[0, 0], encoder(lat[:1, :1], lon[:1, :1])[0, 0])  # one place, one feature
    assert not torch.allclose(features[0, 0], features[1, 0])  # places apart, features apart


def test_an_archive_that_lost_places_or_dates_hides_them_for_good_in_the_share_asked(data):
    cfg = resolve("smoke", algo="fixmatch", st=True, meta_missing="learned", hide_place=0.5, hide_date=0.25)
    batches = StepBatches(data, cfg, True, lambda: 0)
    train = data.train
    assert 0.45 < batches.no_place[train].float().mean() < 0.55 and 0.2 < batches.no_date[train].float().mean() < 0.3
    for step in (0, 7):  # the same images at every step: a fixed subset, not a dropout
        indices = batches.lb.at(step)
        meta = batches._raw(indices, step, 0)["meta"]
        assert torch.equal(meta[:, :2].isnan().all(1), batches.no_place[indices])
        assert torch.equal(meta[:, 2:].isnan().all(1), batches.no_date[indices])
    with pytest.raises(ConfigError, match="hide_place hide\\(s\\) metadata during training: it needs meta_missing"):
        resolve("smoke", algo="fixmatch", st=True, hide_place=0.5)
