"""Matting operations: pure functions on numpy arrays (composition, trimaps, unified semantics,
coarse-mask synthesis, foreground colour estimation).

Conventions: image float32 (H, W, 3) in [0, 1]; alpha float32 (H, W) in [0, 1]; trimap float32 (H, W) in
{0, 0.5, 1}; masks bool or float (H, W). Random functions take an explicit ``rng`` (Generator or int seed).
"""

from automatte.ops.coarse import (
    clean_segmentation,
    synthesize_coarse_mask,
    test_coarse_mask,
    tgn_input,
    two_channel_segmentation,
)
from automatte.ops.composition import composite
from automatte.ops.foreground import (
    estimate_foreground,
    estimate_foreground_blur_fusion,
    estimate_foreground_ml,
)
from automatte.ops.semantics import (
    IMAGE_TYPES,
    normalize_image_type,
    unified_classes,
    unified_representation,
)
from automatte.ops.trimap import (
    classes_to_trimap,
    quantize_trimap,
    random_trimap_from_alpha,
    random_trimap_from_mask,
    sample_kernel_size,
    trimap_from_alpha,
    trimap_from_mask,
    trimap_from_uint8,
    trimap_to_classes,
    trimap_to_uint8,
)

__all__ = [
    # composition
    "composite",
    # trimaps
    "trimap_from_alpha",
    "random_trimap_from_alpha",
    "trimap_from_mask",
    "random_trimap_from_mask",
    "sample_kernel_size",
    "quantize_trimap",
    "trimap_to_uint8",
    "trimap_from_uint8",
    "trimap_to_classes",
    "classes_to_trimap",
    # unified semantic representation (AIM-Net eq. 1)
    "IMAGE_TYPES",
    "normalize_image_type",
    "unified_representation",
    "unified_classes",
    # coarse segmentations (SPAMattNet/TGN Sec. IV-B1)
    "synthesize_coarse_mask",
    "clean_segmentation",
    "test_coarse_mask",
    "two_channel_segmentation",
    "tgn_input",
    # foreground colours
    "estimate_foreground",
    "estimate_foreground_ml",
    "estimate_foreground_blur_fusion",
]
