import pytest
import torch

from stssl.models import ViTSize, build_model, build_teacher_student

TINY16 = ViTSize(embed_dim=32, depth=1, num_heads=2, patch_size=16)


def test_token_counts_and_shapes_bigearthnet_layout():
    # the paper's ViT-S/16 at 128 px: 128 px / patch 16 -> 64 patches; CLS + 64 + (meta | distillation) = 66 tokens
    teacher, student = build_teacher_student(TINY16, 128, num_classes=43)
    plain = build_model(TINY16, 128, 43)
    assert (teacher.num_tokens, student.num_tokens, plain.num_tokens) == (66, 66, 65)
    x, meta = torch.randn(3, 3, 128, 128), torch.randn(3, 4)
    t, s, p = teacher(x, meta), student(x), plain(x)
    assert t.logits.shape == s.logits.shape == p.logits.shape == (3, 43)
    assert t.token.shape == s.token.shape == (3, 32)
    assert p.token is None


def test_extra_token_is_last_and_sees_metadata():
    teacher, _ = build_teacher_student(TINY16, 32, num_classes=5)
    teacher.eval()
    x = torch.randn(2, 3, 32, 32)
    a, b = teacher(x, torch.zeros(2, 4)), teacher(x, torch.ones(2, 4))
    assert not torch.allclose(a.token, b.token)  # the metatoken output depends on metadata
    assert not torch.allclose(a.logits, b.logits)  # and, through attention, so does CLS


def test_teacher_and_student_start_from_identical_backbones():
    teacher, student = build_teacher_student(TINY16, 32, num_classes=5)
    ts, ss = teacher.backbone.state_dict(), student.backbone.state_dict()
    assert ts.keys() == ss.keys()
    assert all(torch.equal(ts[k], ss[k]) for k in ts)
    assert teacher.backbone.blocks[0].attn.qkv.weight is not student.backbone.blocks[0].attn.qkv.weight
    assert not torch.equal(teacher.token_embed, student.token_embed)


def test_student_refuses_metadata_and_teacher_requires_it():
    teacher, student = build_teacher_student(TINY16, 32, num_classes=5)
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match="no metadata"):
        student(x, torch.zeros(1, 4))
    with pytest.raises(ValueError, match="needs metadata"):
        teacher(x)


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    teacher, _ = build_teacher_student(ViTSize(32, 2, 2, 16, drop_path=0.1), 32, num_classes=5)
    x, meta = torch.randn(4, 3, 32, 32), torch.randn(4, 4)
    calls, block = [], teacher.backbone.blocks[0]
    block_forward = block.forward

    def counting_forward(*args, **kwargs):
        calls.append(1)
        return block_forward(*args, **kwargs)

    block.forward = counting_forward
    grads, counts = [], []
    for flag in (False, True):
        teacher.grad_checkpointing = flag
        teacher.zero_grad()
        calls.clear()
        torch.manual_seed(1)  # the same stochastic-depth draws
        teacher(x, meta).logits.sum().backward()
        grads.append([p.grad.clone() for p in teacher.parameters()])
        counts.append(len(calls))
    assert counts == [1, 2]  # with checkpointing the block is recomputed during backward
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
