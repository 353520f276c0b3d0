"""A local ViT checkpoint initialises the body, with the positional embedding resized (the authors'
``semilearn/nets/utils.py``, ``load_checkpoint``)."""

import pytest
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer

from stssl.models.vit import ViTSize, build_model, load_pretrained


def test_checkpoint_at_224_loads_into_a_128_px_model(tmp_path):
    torch.manual_seed(0)
    source = VisionTransformer(img_size=224, patch_size=16, embed_dim=32, depth=1, num_heads=2, num_classes=1000)
    path = tmp_path / "vit.pth"
    torch.save({"model": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    model = build_model(ViTSize(32, 1, 2, 16), img_size=128, num_classes=43, extra="meta")
    skipped = load_pretrained(model, str(path))
    assert skipped == ["head.bias", "head.weight"]
    body = model.backbone.state_dict()
    torch.testing.assert_close(body["blocks.0.attn.qkv.weight"], source.state_dict()["blocks.0.attn.qkv.weight"])
    # independently: CLS position kept, the 14 x 14 grid resized bicubically to 8 x 8
    pos = source.pos_embed.detach()
    grid = pos[:, 1:].reshape(1, 14, 14, 32).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(8, 8), mode="bicubic", align_corners=False).permute(0, 2, 3, 1).reshape(1, 64, 32)
    torch.testing.assert_close(body["pos_embed"], torch.cat([pos[:, :1], grid], dim=1))


def test_a_checkpoint_of_another_width_is_refused(tmp_path):
    other = VisionTransformer(img_size=32, patch_size=16, embed_dim=64, depth=1, num_heads=2)
    torch.save(other.state_dict(), tmp_path / "wide.pth")
    with pytest.raises(ValueError, match=r"wide.pth: \d+ weight\(s\) of the ViT body are missing or of another shape"):
        load_pretrained(build_model(ViTSize(32, 1, 2, 16), 32, 10), str(tmp_path / "wide.pth"))
