"""Teacher (metatoken) and student (distillation token) ViTs built on timm."""

from stssl.models.vit import VIT_SIZES, TokenViT, ViTOutput, ViTSize, build_model, build_teacher_student

__all__ = ["VIT_SIZES", "TokenViT", "ViTOutput", "ViTSize", "build_model", "build_teacher_student"]
