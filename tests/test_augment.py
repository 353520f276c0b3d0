"""The authors' augmentation pipelines, batched: per-sample randomness, operation semantics."""

import pytest
import torch

from stssl.data import augment, registry
from stssl.data.augment import (
    GEOMETRIC_OPS,
    USB_CUTOUT_FILL,
    bigearthnet_views,
    reflect_crop_flip,
    strong_view,
    views,
    weak_view,
)


def _flips(x):
    return [x, x.flip(-1), x.flip(-2), x.flip(-1).flip(-2)]


def test_geosynth_keeps_its_fused_views():
    assert views(registry.get("geosynth").augmentation) == views("fused") == (weak_view, strong_view)
    with pytest.raises(ValueError, match="valid: fused, randaugment, usb"):
        views("nope")


def test_weak_view_is_a_crop_and_flips_drawn_per_sample():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 16, 16).expand(64, -1, -1, -1).contiguous()
    out = reflect_crop_flip(x, crop_ratio=1.0)  # no padding: only the flips remain
    kinds = [next(k for k, f in enumerate(_flips(x[0])) if torch.allclose(o, f)) for o in out]
    assert set(kinds) == {0, 1, 2, 3}  # all four flip combinations occur within one batch


def _which_crop(views: torch.Tensor, image: torch.Tensor, pad: int) -> torch.Tensor:
    """For each view, the index of the (offset, flips) of ``image`` reflect-padded by ``pad`` it is."""
    padded = torch.nn.functional.pad(image[None], (pad,) * 4, mode="reflect")[0]
    size = image.shape[-1]
    crops = [
        f
        for dy in range(2 * pad + 1)
        for dx in range(2 * pad + 1)
        for f in _flips(padded[:, dy : dy + size, dx : dx + size])
    ]
    distance, index = torch.cdist(
        views.flatten(1), torch.stack(crops).flatten(1), compute_mode="donot_use_mm_for_euclid_dist"
    ).min(dim=1)
    assert (distance < 1e-5).all()  # every view is exactly one of them
    return index


def test_weak_view_crops_the_reflect_padded_image_as_kornia_does_over_every_offset():
    """Spec 5.1/5.2 through kornia's RandomCrop(padding_mode="reflect") and flips: both give crops
    of the same padded image (reflect, not symmetric), and ours draws every offset and flip."""
    import kornia.augmentation as K

    torch.manual_seed(0)
    image = torch.rand(3, 16, 16)
    kornia_weak = K.AugmentationSequential(
        K.RandomCrop((16, 16), padding=2, padding_mode="reflect"),
        K.RandomHorizontalFlip(p=0.5),
        K.RandomVerticalFlip(p=0.5),
    )
    _which_crop(kornia_weak(image.expand(64, -1, -1, -1)), image, pad=2)
    drawn = _which_crop(reflect_crop_flip(image.expand(2000, -1, -1, -1)), image, pad=2)
    assert len(set(drawn.tolist())) == 5 * 5 * 4  # every offset of 0..4 on both axes, with every flip


@pytest.mark.parametrize("name", ["randaugment", "usb"])
def test_strong_views_draw_their_operations_per_sample(name):
    x = torch.rand(1, 3, 16, 16).expand(16, -1, -1, -1).contiguous()
    weak, strong = views(name)
    torch.manual_seed(1)
    out = strong(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert len({tuple(o.flatten()[:64].tolist()) for o in out}) == 16  # no two samples alike
    torch.manual_seed(1)
    torch.testing.assert_close(strong(x), out)  # reproducible from torch's seed


def test_eurosat_strong_view_ends_with_usb_cutout():
    torch.manual_seed(0)
    out = views("usb")[1](torch.zeros(32, 3, 16, 16))
    fill = torch.tensor(USB_CUTOUT_FILL).view(1, 3, 1, 1)
    assert (out == fill).all(dim=1).any()


def test_bigearthnet_strong_view_has_no_cutout():
    torch.manual_seed(0)
    _, strong = bigearthnet_views(crop_ratio=1.0)
    out = strong(torch.full((32, 3, 16, 16), 0.25))
    fill = torch.tensor(USB_CUTOUT_FILL).view(1, 3, 1, 1)
    assert not (out == fill).all(dim=1).any()


def _usb_op(name, x, v):
    """One USB operation with magnitudes ``v`` on the whole batch."""
    out = augment._USB_FNS[name](x, v)
    return augment._warp(x, out) if name in GEOMETRIC_OPS else out


def test_usb_operations_follow_pil_semantics():
    x = torch.rand(2, 3, 16, 16)
    v = torch.tensor([0.5, 0.25])
    torch.testing.assert_close(_usb_op("brightness", x, v), x * v.view(-1, 1, 1, 1))
    torch.testing.assert_close(_usb_op("solarize", x, v), torch.where(x < v.view(-1, 1, 1, 1), x, 1 - x))
    shifted = _usb_op("translate_x", x, torch.tensor([0.25, 0.25]))  # 4 of 16 pixels to the right
    torch.testing.assert_close(shifted[..., 4:], x[..., :-4])
    assert (shifted[..., :4] < 1e-6).all()  # zeros shifted in (up to the sampling grid's rounding)
    grey = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    torch.testing.assert_close(_usb_op("color", x, torch.zeros(2)), grey.unsqueeze(1).expand_as(x))
