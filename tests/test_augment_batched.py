"""The real data sets' strong views, batched: each operation against kornia's (BigEarthNet) or
the kornia-based USB operations they replace (EuroSAT), the per-sample draws' frequencies, and
no host synchronisation inside a strong view."""

import contextlib

import pytest
import torch

from stssl.data import augment
from stssl.data.augment import USB_OPS, _apply_batched, _apply_indexed, _randaugment_policy, _usb_policy, views

GEOMETRY_ATOL = 2e-5  # bilinear taps from our grid against kornia's inverted normalised matrix
SHARPNESS_ATOL = 1e-6  # the 3 x 3 sum added in another order than kornia's conv2d
SELECTIONS = [_apply_indexed, _apply_batched]  # the CPU's and the accelerator's


def _atol(op):
    """Every other operation is bit for bit the reference's."""
    return GEOMETRY_ATOL if op.geometric else SHARPNESS_ATOL if op.name == "sharpness" else 0.0


KORNIA_SIGNED = {
    "rotate": "degrees",
    "shear_x": "shear_x",
    "shear_y": "shear_y",
    "translate_x": "translate_x",
    "translate_y": "translate_y",
}


def _images(b=12, size=24, seed=0):
    """Random images plus the cases the statistics care about: a low-contrast one, a flat one."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, size, size, generator=g)
    x[0] = 0.2 + 0.3 * x[0]
    x[1] = 0.5
    x[2] = (x[2] * 8).floor() / 8  # few levels
    return x


def _kornia_draws(name, params, b):
    """Our per-sample uniform draw that reproduces kornia's sampled sign or threshold."""
    if name in KORNIA_SIGNED:
        return torch.where(params[KORNIA_SIGNED[name]] > 0, 0.75, 0.25)
    if name == "solarize_add":
        return params["thresholds"]
    return torch.rand(b)  # unused by the operation


@pytest.mark.parametrize("apply", SELECTIONS)
@pytest.mark.parametrize("size", [24, 32])
def test_each_randaugment_operation_matches_kornias(size, apply):
    """kornia's RandAugment(n=1, m=5) restricted to one operation, with its sampled signs and
    thresholds: the same result (tolerances above)."""
    from kornia.augmentation.auto import RandAugment
    from kornia.augmentation.auto.rand_augment.rand_augment import default_policy

    torch.manual_seed(0)
    x = _images(size=size)
    policy = _randaugment_policy(5)
    assert [op.name for op in policy] == [entry[0][0] for entry in default_policy]
    for i, entry in enumerate(default_policy):
        kornia_op = RandAugment(n=1, m=5, policy=[entry])
        params = kornia_op.forward_parameters(x.shape)
        expected = kornia_op(x, params=params)
        u = _kornia_draws(policy[i].name, params[0].data[0].data, len(x))
        out = apply(x, policy, torch.full((len(x),), i), u)
        torch.testing.assert_close(out, expected, atol=_atol(policy[i]), rtol=0, msg=policy[i].name)


def _usb_reference(name, x, v):
    """The kornia-based USB operations that the batched ones replace (PIL semantics)."""
    import kornia

    geo = kornia.geometry.transform
    zero = torch.zeros_like(v)
    if name == "equalize":
        return kornia.enhance.equalize(x)
    if name == "posterize":
        return kornia.enhance.posterize(x, v.floor().to(torch.int64))
    if name == "rotate":
        return geo.rotate(x, v)
    if name == "sharpness":
        return kornia.enhance.sharpness(x, v)
    if name in ("shear_x", "shear_y"):
        return geo.shear(x, torch.stack([v, zero] if name == "shear_x" else [zero, v], dim=1))
    if name in ("translate_x", "translate_y"):
        shift = torch.stack([v, zero] if name == "translate_x" else [zero, v], dim=1)
        return geo.translate(x, shift * x.shape[-1])
    if name == "solarize":
        return kornia.enhance.solarize(x, v)
    base = {
        "brightness": torch.zeros_like(x),
        "color": augment._grey(x).expand_as(x),
        "contrast": augment._grey(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x),
    }
    if name in base:
        return (base[name] + v.view(-1, 1, 1, 1) * (x - base[name])).clamp(0, 1)
    if name == "autocontrast":
        return augment._autocontrast(x, v)
    assert name == "identity"
    return x


@pytest.mark.parametrize("apply", SELECTIONS)
def test_each_usb_operation_matches_its_kornia_based_reference(apply):
    """Same magnitudes, the same result (tolerances above)."""
    torch.manual_seed(0)
    x = _images()
    u = torch.rand(len(x))
    policy = _usb_policy()
    for i, (name, low, high) in enumerate(USB_OPS):
        expected = _usb_reference(name, x, low + (high - low) * u)
        out = apply(x, policy, torch.full((len(x),), i), u)
        torch.testing.assert_close(out, expected, atol=_atol(policy[i]), rtol=0, msg=name)


@pytest.mark.parametrize("policy", [_randaugment_policy(5), _usb_policy()], ids=["randaugment", "usb"])
def test_both_selections_apply_to_each_sample_the_operation_it_drew(policy):
    """The accelerator's (every operation on the whole batch, kept where drawn) equals the CPU's
    (each operation on its samples), and either on one sample alone."""
    x = _images(b=2 * len(policy))
    drawn = torch.arange(len(x)).flip(0) % len(policy)
    u = torch.rand(len(x))
    out = _apply_batched(x, policy, drawn, u)
    torch.testing.assert_close(_apply_indexed(x, policy, drawn, u), out, atol=1e-6, rtol=0)
    for i in range(len(x)):
        alone = _apply_indexed(x[i : i + 1], policy, drawn[i : i + 1], u[i : i + 1])
        torch.testing.assert_close(out[i : i + 1], alone, atol=1e-6, rtol=0)


def _recorded_draws(name, monkeypatch, b=400, rounds=5):
    """The operations each strong view's rounds drew, rounds x b, over ``rounds`` calls."""
    seen = []

    def spy(x, policy, drawn, u):
        seen.append(drawn)
        return _apply_indexed(x, policy, drawn, u)

    monkeypatch.setattr(augment, "_apply_round", spy)
    augment.views.cache_clear()
    try:
        strong = views(name)[1]
        torch.manual_seed(3)
        for _ in range(rounds):
            strong(torch.rand(b, 3, 8, 8))
    finally:
        augment.views.cache_clear()
    return torch.stack(seen)


def test_bigearthnet_draws_three_distinct_operations_uniformly(monkeypatch):
    drawn = _recorded_draws("randaugment", monkeypatch).view(5, 3, -1).transpose(0, 1).flatten(1)  # 3 x 2000
    assert all(len(set(sample.tolist())) == 3 for sample in drawn.T)  # without replacement
    counts = torch.bincount(drawn.flatten(), minlength=15).float()
    expected = drawn.numel() / 15  # 400 per operation
    assert ((counts - expected).abs() < 5 * expected**0.5).all(), counts  # within 5 sigma


def test_eurosat_draws_operations_uniformly_with_replacement(monkeypatch):
    drawn = _recorded_draws("usb", monkeypatch).view(5, 3, -1).transpose(0, 1).flatten(1)
    counts = torch.bincount(drawn.flatten(), minlength=14).float()
    expected = drawn.numel() / 14
    assert ((counts - expected).abs() < 5 * expected**0.5).all(), counts
    repeats = (drawn[0] == drawn[1]).float().mean()  # with replacement: 1/14 of samples repeat
    assert abs(repeats - 1 / 14) < 0.025


@contextlib.contextmanager
def _no_host_reads(monkeypatch):
    """Any read of a tensor's value on the host (what makes a GPU wait) raises."""

    def refuse(*args, **kwargs):
        raise AssertionError("host synchronisation")

    with monkeypatch.context() as patch:
        for method in ("nonzero", "item", "tolist", "__bool__", "__int__", "__float__", "__index__"):
            patch.setattr(torch.Tensor, method, refuse)
        patch.setattr(torch, "nonzero", refuse)
        yield


@pytest.mark.parametrize("name", ["randaugment", "usb"])
def test_strong_views_read_nothing_back_and_keep_shape_dtype_range(name, monkeypatch):
    """The accelerator's path, run here on the CPU with every host read refused."""
    strong = views(name)[1]
    x = torch.rand(16, 3, 24, 24)
    torch.manual_seed(0)
    monkeypatch.setattr(augment, "_host_reads_are_free", lambda device: False)
    with _no_host_reads(monkeypatch):
        out = strong(x)
    with pytest.raises(AssertionError, match="host"), _no_host_reads(monkeypatch):
        bool(x.sum() > 0)  # the guard does catch a read
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", ["randaugment", "usb"])
def test_accelerator_path_traces_as_one_graph(name, monkeypatch):
    """TorchDynamo captures the whole strong view without a graph break (a break is where a
    value would have to come back to the host), so ``torch.compile`` can fuse it."""
    monkeypatch.setattr(augment, "_host_reads_are_free", lambda device: False)
    strong = torch.compile(views(name)[1], backend="eager", fullgraph=True)
    x = torch.rand(8, 3, 24, 24)
    torch.manual_seed(0)
    assert strong(x).shape == x.shape
