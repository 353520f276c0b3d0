"""A timm ViT with one extra token appended after the positional embedding (the authors'
``semilearn/nets/vit/fusion_vit.py``, ``EarlyFusionVisionTransformer.extract``).

``extra="meta"``    teacher: the token is ``MLP(meta) + e_meta`` (metadata ``meta_dim`` -> D -> D, GELU;
                    ``meta_dim`` is the size of the run's metadata encoding, 4 for the paper's).
``extra="distill"`` student: the token is one learned vector, the distillation token.
``extra="none"``    a plain ViT (baselines, and a student trained without distillation).

Two teachers of the paper's ablations (Table 2), which the authors' code does not have
(``book/implementation.md``, Table 2's ablations):

``extra="late"``    late fusion (d): a plain ViT sequence; the encoded metadata ``MLP(meta)`` is
                    added to the CLS output before the head. Its "token" (the distillation target)
                    is ``MLP(meta)``, the metadata's contribution to the representation.
``extra="shared"``  single model (e): one network plays both roles. With metadata it appends the
                    metatoken (teacher); without, its distillation token (student).

Every variant classifies from CLS (after the final norm) with its own linear head, and also
returns the extra token's output feature, which is the distillation target (teacher) or the
distilled feature (student). Only the networks that take metadata accept it: a student cannot
be handed metadata by mistake.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torch.utils.checkpoint import checkpoint

from stssl.meta import META_DIM

Extra = Literal["meta", "distill", "none", "late", "shared"]
TAKES_META = ("meta", "late", "shared")
FUSIONS = ("early", "late")


@dataclass(frozen=True)
class ViTSize:
    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int
    mlp_ratio: float = 4.0
    drop_path: float = 0.0


VIT_SIZES: dict[str, ViTSize] = {
    # The paper's ViT-S (the authors' ``vit.py``): patch 16 at 128 px (BigEarthNet), 2 at 32 px (EuroSAT).
    "vit_small_patch16": ViTSize(384, 12, 6, 16, drop_path=0.2),
    "vit_small_patch2": ViTSize(384, 12, 6, 2, drop_path=0.2),
    # Sized for 2 CPU cores (a feasibility probe before the project): 32 px / patch 8 = 16 tokens.
    "vit_tiny_patch8": ViTSize(64, 2, 2, 8, mlp_ratio=2.0),
    "vit_micro_patch8": ViTSize(32, 1, 2, 8, mlp_ratio=2.0),
}


class ViTOutput(NamedTuple):
    logits: torch.Tensor  # B x C, from CLS
    token: torch.Tensor | None  # B x D, output of the extra token (None without one)
    cls: torch.Tensor  # B x D, CLS output after the final norm


class LearnedMissing(nn.Module):
    """A learned embedding in place of each block of the metadata encoding (the place, the date) that
    is missing in a sample: NaN in the encoding (:data:`stssl.meta.MISSING_METADATA`, ``learned``)."""

    def __init__(self, parts: tuple[int, ...]):
        super().__init__()
        self.parts = tuple(parts)
        self.embeddings = nn.ParameterList([nn.Parameter(torch.randn(n) * 0.02) for n in self.parts])

    def forward(self, meta: torch.Tensor) -> torch.Tensor:
        blocks = meta.split(self.parts, dim=-1)
        return torch.cat(
            [torch.where(b.isnan().any(-1, keepdim=True), e.to(b.dtype), b) for b, e in zip(blocks, self.embeddings)],
            dim=-1,
        )


class Sine(nn.Module):
    """``sin(w0 x)``, the activation of a sinusoidal representation network (SIREN, Sitzmann et al. 2020)."""

    def __init__(self, w0: float = 1.0):
        super().__init__()
        self.w0 = w0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * x)


def meta_network(kind: str, meta_dim: int, d: int) -> nn.Sequential:
    """The teacher's network on the metadata encoding: the paper's ``mlp`` (meta_dim -> d -> d, GELU),
    or ``siren``, the same shape with sine activations and SIREN's initialisation (the first layer's
    weights uniform in +-1/fan_in, the next's in +-sqrt(6/fan_in)), as Rußwurm et al. put on spherical
    harmonics."""
    if kind == "mlp":
        return nn.Sequential(nn.Linear(meta_dim, d), nn.GELU(), nn.Linear(d, d))
    if kind != "siren":
        raise ValueError(f"unknown metadata network {kind!r}; valid: mlp, siren")
    net = nn.Sequential(nn.Linear(meta_dim, d), Sine(), nn.Linear(d, d))
    with torch.no_grad():
        net[0].weight.uniform_(-1 / meta_dim, 1 / meta_dim)
        net[2].weight.uniform_(-((6 / d) ** 0.5), (6 / d) ** 0.5)
    return net


class TokenViT(nn.Module):
    """timm ``VisionTransformer`` body + optional extra last token + a linear head on CLS."""

    def __init__(
        self,
        size: ViTSize,
        img_size: int,
        num_classes: int,
        extra: Extra,
        in_chans: int = 3,
        meta_dim: int = META_DIM,
        missing_parts: tuple[int, ...] | None = None,
        meta_net: str = "mlp",
    ):
        super().__init__()
        if img_size % size.patch_size:
            raise ValueError(f"image size {img_size} is not a multiple of patch size {size.patch_size}")
        self.extra = extra
        # Recompute each block's activations in the backward pass instead of storing them: about
        # a tenth of the activation memory for about a third more compute (the paper batch on a CPU).
        self.grad_checkpointing = False
        self.backbone = VisionTransformer(
            img_size=img_size,
            patch_size=size.patch_size,
            in_chans=in_chans,
            num_classes=0,
            embed_dim=size.embed_dim,
            depth=size.depth,
            num_heads=size.num_heads,
            mlp_ratio=size.mlp_ratio,
            drop_path_rate=size.drop_path,
            global_pool="token",
        )
        d = size.embed_dim
        self.head = nn.Linear(d, num_classes)
        if extra in ("meta", "distill", "shared"):
            # e_meta (teacher) or the distillation token itself (student): N(0, 0.02^2).
            self.token_embed = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        if extra == "shared":  # the student role's own distillation token
            self.distill_embed = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        if extra in TAKES_META:
            self.meta_mlp = meta_network(meta_net, meta_dim, d)
            if missing_parts is not None:  # a missing place or date: a learned embedding in its block
                self.missing = LearnedMissing(missing_parts)

    def _encode_meta(self, meta: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``MLP(meta)``, a missing block first replaced by its learned embedding (when it has them)."""
        meta = meta.to(dtype)
        return self.meta_mlp(self.missing(meta) if hasattr(self, "missing") else meta)

    def compile_blocks(self) -> None:
        """``torch.compile`` each transformer block in place (regional compilation). Every block
        of every network (teacher, student, their EMAs) is the same code on the same shapes, so
        one compiled graph serves them all: compiled once, not once per network. Parameter
        names, and so checkpoints, are unchanged."""
        for block in self.backbone.blocks:
            block.compile()

    @property
    def num_tokens(self) -> int:
        """Sequence length seen by the transformer blocks (with metadata, for a teacher)."""
        return 1 + self.backbone.patch_embed.num_patches + (self.extra not in ("none", "late"))

    def _extra_token(self, meta: torch.Tensor | None, batch: int, dtype: torch.dtype) -> torch.Tensor | None:
        """The token appended to the sequence, or None: the metatoken when metadata is given,
        the distillation token of a student (or of the single model's student role)."""
        if self.extra in ("meta", "shared") and meta is not None:
            return self.token_embed.expand(batch, -1, -1) + self._encode_meta(meta, dtype).unsqueeze(1)
        if self.extra == "distill":
            return self.token_embed.expand(batch, -1, -1)
        if self.extra == "shared":
            return self.distill_embed.expand(batch, -1, -1)
        return None

    def forward(self, x: torch.Tensor, meta: torch.Tensor | None = None, *, without_meta: bool = False) -> ViTOutput:
        """``without_meta=True`` runs a teacher with no metatoken at all (the authors'
        ``always_meta_token=False``): its prior on an image alone, e.g. CDMAD's constant image.
        It drops only the metatoken: a student keeps its distillation token, and the single
        model becomes its student role."""
        if self.extra in ("meta", "late") and meta is None and not without_meta:
            raise ValueError("the teacher needs metadata features (B x meta_dim)")
        if self.extra not in TAKES_META and meta is not None:
            raise ValueError("this network takes no metadata: only a teacher (extra='meta', 'late' or 'shared') does")
        if without_meta:
            meta = None
        bb = self.backbone
        tokens = bb.norm_pre(bb.patch_drop(bb._pos_embed(bb.patch_embed(x))))
        extra = self._extra_token(meta, x.shape[0], tokens.dtype)
        if extra is not None:
            tokens = torch.cat([tokens, extra], dim=1)
        if self.grad_checkpointing and torch.is_grad_enabled():
            for block in bb.blocks:
                tokens = checkpoint(block, tokens, use_reentrant=False)
        else:
            tokens = bb.blocks(tokens)
        out = bb.norm(tokens)
        cls = out[:, 0]
        if self.extra == "late" and meta is not None:
            encoded = self._encode_meta(meta, cls.dtype)
            return ViTOutput(self.head(cls + encoded), encoded, cls)
        return ViTOutput(self.head(cls), out[:, -1] if extra is not None else None, cls)


def build_model(
    size: str | ViTSize,
    img_size: int,
    num_classes: int,
    extra: Extra = "none",
    meta_dim: int = META_DIM,
    missing_parts: tuple[int, ...] | None = None,
    meta_net: str = "mlp",
) -> TokenViT:
    if isinstance(size, str):
        if size not in VIT_SIZES:
            raise ValueError(f"unknown model size {size!r}; valid: {', '.join(VIT_SIZES)}")
        size = VIT_SIZES[size]
    return TokenViT(
        size, img_size, num_classes, extra, meta_dim=meta_dim, missing_parts=missing_parts, meta_net=meta_net
    )


def build_teacher_student(
    size: str | ViTSize,
    img_size: int,
    num_classes: int,
    distill: bool = True,
    fusion: str = "early",
    single_model: bool = False,
    meta_dim: int = META_DIM,
    missing_parts: tuple[int, ...] | None = None,
    meta_net: str = "mlp",
) -> tuple[TokenViT, TokenViT]:
    """A teacher and a student whose ViT bodies start from identical weights (as the authors' ``set_model``).

    Only the extra parameters (metatoken MLP and embedding, distillation token) and the heads
    are initialised independently. ``fusion="late"`` makes a late-fusion teacher; with
    ``single_model`` the two are one and the same network (``extra="shared"``). ``meta_dim``: the
    size of the teacher's metadata input (:attr:`stssl.meta.MetaEncoding.dim`); ``missing_parts``: the
    sizes of its blocks when a missing one gets a learned embedding (:class:`LearnedMissing`);
    ``meta_net``: the teacher's network on the metadata (:func:`meta_network`).
    """
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
    if single_model:
        if fusion != "early":
            raise ValueError("single_model shares one network with a metatoken: it needs fusion='early'")
        net = build_model(size, img_size, num_classes, "shared", meta_dim, missing_parts, meta_net)
        return net, net
    teacher = build_model(
        size, img_size, num_classes, "meta" if fusion == "early" else "late", meta_dim, missing_parts, meta_net
    )
    student = build_model(size, img_size, num_classes, "distill" if distill else "none")
    student.backbone = copy.deepcopy(teacher.backbone)
    return teacher, student


def load_pretrained(model: TokenViT, path: str) -> list[str]:
    """Initialise ``model``'s ViT body from a local timm-style checkpoint (as the authors'
    ``semilearn/nets/utils.py``, ``load_checkpoint``).

    The positional embedding is resized to the model's grid by bicubic interpolation, keeping the
    CLS position (e.g. an ImageNet ViT-S/16 at 224 px, 14 x 14, -> 8 x 8 at 128 px). Weights whose
    shape still differs (the classification head) are skipped; their names are returned. The
    checkpoint may be a bare state dict or hold one under ``model``/``state_dict``, with or
    without a ``module.``/``backbone.`` prefix. Nothing is downloaded.
    """
    from timm.layers import resample_abs_pos_embed

    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    state = {k.removeprefix("module.").removeprefix("backbone."): v for k, v in state.items()}
    own = model.backbone.state_dict()
    if "pos_embed" in state and state["pos_embed"].shape != own["pos_embed"].shape:
        grid = model.backbone.patch_embed.grid_size
        state["pos_embed"] = resample_abs_pos_embed(
            state["pos_embed"], list(grid), num_prefix_tokens=1, interpolation="bicubic", antialias=False
        )
    matching = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    missing = sorted(set(own) - set(matching))
    if missing:
        raise ValueError(
            f"{path}: {len(missing)} weight(s) of the ViT body are missing or of another shape, "
            f"e.g. {missing[:3]} (expected a timm ViT of the same width and depth)"
        )
    model.backbone.load_state_dict(matching, strict=False)
    return sorted(set(state) - set(matching))
