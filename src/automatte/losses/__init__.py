"""Matting losses: pure functions (:mod:`.functional`, :mod:`.distill`, :mod:`.adversarial`), thin
``nn.Module`` wrappers (:mod:`.modules`) and per-paper recipes (:mod:`.recipes`) returning dicts with
``"total"``.

Example:
    >>> import torch
    >>> from automatte.losses import charbonnier_loss, laplacian_loss
    >>> p, t = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    >>> bool(charbonnier_loss(p, t) > 0 and laplacian_loss(p, t) > 0)
    True
"""

from automatte.losses.adversarial import (
    adaptation_lambda,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    recomposite,
)
from automatte.losses.distill import (
    ald_attention_loss,
    ald_feature_loss,
    ald_loss,
    clsd_loss,
    spatial_softmax,
    transition_region,
)
from automatte.losses.functional import (
    affinity_loss,
    charbonnier_loss,
    composition_loss,
    dc_loss,
    ddc_loss,
    gradient_loss,
    hard_mining_loss,
    image_gradients,
    known_loss,
    l1_loss,
    laplacian_loss,
    laplacian_pyramid,
    neighbour_distances,
    regional_scaling_loss,
    regional_scaling_parts,
    safe_mean,
    trimap_ce_loss,
    trimap_class_targets,
    unified_ce_loss,
    unified_class_targets,
)
from automatte.losses.modules import (
    AffinityLoss,
    ALDLoss,
    AlphaL1Loss,
    CharbonnierLoss,
    CLSDLoss,
    CompositionLoss,
    DCLoss,
    DDCLoss,
    GradientLoss,
    HardMiningLoss,
    KnownLoss,
    LaplacianLoss,
    LSGANDiscriminatorLoss,
    LSGANGeneratorLoss,
    RegionalScalingLoss,
    TrimapCELoss,
    UnifiedCELoss,
)
from automatte.losses.recipes import (
    RECIPES,
    adaptation_generator_losses,
    aimnet_losses,
    ddc_losses,
    dim_losses,
    ppid_losses,
    ppmatting_losses,
    spamattnet_losses,
)

__all__ = [
    # functional: alpha, composition, gradient, pyramid
    "l1_loss",
    "charbonnier_loss",
    "composition_loss",
    "image_gradients",
    "gradient_loss",
    "laplacian_pyramid",
    "laplacian_loss",
    # functional: classification, targets
    "trimap_class_targets",
    "unified_class_targets",
    "trimap_ce_loss",
    "unified_ce_loss",
    # functional: paper-specific
    "hard_mining_loss",
    "regional_scaling_loss",
    "regional_scaling_parts",
    "known_loss",
    "neighbour_distances",
    "affinity_loss",
    "dc_loss",
    "ddc_loss",
    "safe_mean",
    # distillation (PPID)
    "spatial_softmax",
    "transition_region",
    "clsd_loss",
    "ald_feature_loss",
    "ald_attention_loss",
    "ald_loss",
    # adversarial (TGN real-data adaptation)
    "recomposite",
    "lsgan_generator_loss",
    "lsgan_discriminator_loss",
    "adaptation_lambda",
    # modules
    "AlphaL1Loss",
    "CharbonnierLoss",
    "CompositionLoss",
    "GradientLoss",
    "LaplacianLoss",
    "TrimapCELoss",
    "UnifiedCELoss",
    "HardMiningLoss",
    "RegionalScalingLoss",
    "KnownLoss",
    "AffinityLoss",
    "DCLoss",
    "DDCLoss",
    "CLSDLoss",
    "ALDLoss",
    "LSGANGeneratorLoss",
    "LSGANDiscriminatorLoss",
    # recipes
    "aimnet_losses",
    "ppmatting_losses",
    "spamattnet_losses",
    "dim_losses",
    "ppid_losses",
    "ddc_losses",
    "adaptation_generator_losses",
    "RECIPES",
]
