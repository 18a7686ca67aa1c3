"""Per-paper loss recipes: ``recipe(output, batch, **hyper_parameters) -> {"total": ..., part: ...}``.

``output`` is the model's :class:`~automatte.models.output.MattingOutput`; ``batch`` a dict of tensors:

* ``"image"`` (B, 3, H, W) in [0, 1]; ``"alpha"`` (B, 1, H, W) ground truth in [0, 1];
  ``"trimap"`` (B, 1, H, W) in {0, 0.5, 1} (from the ground-truth alpha, or the label itself for DDC);
* ``"fg"``, ``"bg"`` (B, 3, H, W) ground-truth layers, for the composition losses (rows where the
  collated ``"has_fg"`` / ``"has_bg"`` is False are left out of them);
* ``"composite"`` (optional, B, 3, H, W): the exact composite ``alpha F + (1 - alpha) B``. The composition
  losses compare against it, never against ``"image"``: the datasets degrade the image after compositing
  (blur, noise, JPEG: ``data.augment.degrade``), and DIM's / PP-Matting's / AIM's composition loss is defined
  on the exact composite. Without the key it is rebuilt from ``"alpha"``, ``"fg"``, ``"bg"`` (every
  dataset here composites exactly those arrays: ``ops.composition.composite``, a clip that is the identity
  on [0, 1] inputs); a dataset whose layers do not reproduce its image must supply ``"composite"``;
* ``"type"``: 'SO' / 'STM' / 'NS', one string or one per sample (AIM-Net);
* ``"pseudo_alpha"``, ``"pseudo_trimap"``: the labels of TGN's real-data adaptation.

Every value of the returned dict is a scalar tensor; ``"total"`` is the one to back-propagate, the other
entries are its (unweighted) parts for logging. Sizes come from the tensors: a 3-class ``trimap_logits``
map smaller than the image is upsampled bilinearly to the label size before the cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from automatte.losses.adversarial import lsgan_generator_loss
from automatte.losses.distill import ald_loss, clsd_loss
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
    regional_scaling_parts,
    trimap_ce_loss,
    trimap_class_targets,
    unified_class_targets,
)
from automatte.models.output import MattingOutput
from automatte.ops.trimap import trimap_masks

__all__ = [
    "exact_composite",
    "aimnet_losses",
    "ppmatting_losses",
    "spamattnet_losses",
    "dim_losses",
    "ppid_losses",
    "ddc_losses",
    "adaptation_generator_losses",
    "tgn_losses",
    "vitmatte_losses",
    "mixed_losses",
    "segment_losses",
    "RECIPES",
]


def _get(batch: Mapping, key: str, recipe: str):
    if key not in batch or batch[key] is None:
        raise ValueError(f"{recipe}: the batch has no {key!r} (keys: {sorted(batch)})")
    return batch[key]


def _region_mask(batch: Mapping, region: str, recipe: str) -> Tensor | None:
    """(B, 1, H, W) bool mask of the unknown region of ``batch["trimap"]`` (``"unknown"``), or None (``"all"``)."""
    if region == "unknown":
        return (trimap_class_targets(_get(batch, "trimap", recipe)) == 1).unsqueeze(1)
    if region == "all":
        return None
    raise ValueError(f"{recipe}: region must be 'unknown' or 'all', got {region!r}")


def _field(output: MattingOutput, name: str, recipe: str) -> Tensor:
    value = getattr(output, name)
    if value is None:
        raise ValueError(f"{recipe}: the model output has no {name!r}, which this recipe supervises")
    return value


def _at_label_size(logits: Tensor, label: Tensor) -> Tensor:
    """3-class logits (B, 3, h, w) bilinearly resized to a (B, ·, H, W) label's size (unchanged if equal)."""
    if logits.shape[-2:] == label.shape[-2:]:
        return logits
    return F.interpolate(logits, size=label.shape[-2:], mode="bilinear", align_corners=False)


def exact_composite(batch: Mapping, recipe: str = "exact_composite") -> Tensor:
    """``batch["composite"]`` if present, else ``alpha F + (1 - alpha) B`` from the labels (module docstring):
    the composite before the image degradations. (B, 3, H, W).

    Example:
        >>> import torch
        >>> batch = {"alpha": torch.full((1, 1, 1, 1), 0.25), "fg": torch.ones(1, 3, 1, 1),
        ...          "bg": torch.zeros(1, 3, 1, 1), "image": torch.full((1, 3, 1, 1), 0.9)}  # noisy: not the composite
        >>> exact_composite(batch).flatten().tolist()
        [0.25, 0.25, 0.25]
    """
    if batch.get("composite") is not None:
        return batch["composite"]
    alpha, fg, bg = (_get(batch, k, recipe) for k in ("alpha", "fg", "bg"))
    return alpha * fg + (1 - alpha) * bg  # I = alpha F + (1 - alpha) B, DIM / PP-Matting eq. 11


def _composition(output_alpha: Tensor, batch: Mapping, recipe: str, eps: float, weight: Tensor | None = None) -> Tensor:
    """Composition loss of ``output_alpha`` against the exact composite, on the rows that have F and B."""
    fg, bg = _get(batch, "fg", recipe), _get(batch, "bg", recipe)
    rows = [batch[k].view(-1, 1, 1, 1).to(output_alpha.dtype) for k in ("has_fg", "has_bg") if batch.get(k) is not None]
    for row in rows:  # zero-filled layers of collated samples without F / B
        weight = row.expand_as(output_alpha) if weight is None else weight * row
    return composition_loss(output_alpha, fg, bg, exact_composite(batch, recipe), weight=weight, eps=eps)


def aimnet_losses(
    output: MattingOutput,
    batch: Mapping,
    *,
    semantic_weight: float = 1.0,
    detail_weight: float = 1.0,
    fused_weight: float = 1.0,
    composition_weight: float = 1.0,
    detail_region: str = "transition",
    levels: int = 5,
    eps: float = 1e-6,
    semantic_target: str = "unified",
) -> dict[str, Tensor]:
    """AIM-Net (Li, Zhang, Tao 2021, sec. 3.2-3.3).

    * ``semantic``: cross-entropy of ``output.trimap_logits`` against the unified representation of
      ``batch["trimap"]`` for ``batch["type"]`` (trimap / duomap / unimap, eq. 1); with
      ``semantic_target="trimap"`` against the traditional trimap for every type (Table 3's rows without
      UNI; the transition class of ``detail_region`` follows the same target);
    * ``detail_alpha`` + ``detail_laplacian``: DIM alpha loss (Charbonnier) and Laplacian loss on the
      matting decoder's ``M`` (``output.detail``). ``detail_region="transition"`` (default) restricts them to
      the transition class of the unified representation, the only place where eq. 2 uses ``M`` (its
      weight ``1 - 2|U - 0.5|`` is 0 elsewhere; GFM / AIM code does the same); ``"all"``: the whole image;
    * ``fused_alpha`` + ``fused_laplacian``: the same on the fused ``output.alpha`` (eq. 2), whole image;
    * ``composition``: DIM composition loss on ``output.alpha`` (needs ``fg``, ``bg``; skipped when
      ``composition_weight == 0``).

    ``total = semantic_weight * semantic + detail_weight * (detail_alpha + detail_laplacian)
    + fused_weight * (fused_alpha + fused_laplacian) + composition_weight * composition``.

    Example:
        >>> import torch
        >>> batch = {"image": torch.rand(1, 3, 8, 8), "alpha": torch.rand(1, 1, 8, 8), "fg": torch.rand(1, 3, 8, 8),
        ...          "bg": torch.rand(1, 3, 8, 8), "trimap": torch.full((1, 1, 8, 8), 0.5), "type": "STM"}
        >>> out = MattingOutput(alpha=torch.rand(1, 1, 8, 8), trimap_logits=torch.zeros(1, 3, 4, 4),
        ...                     detail=torch.rand(1, 1, 8, 8))
        >>> losses = aimnet_losses(out, batch)
        >>> sorted(losses)[:3], bool(losses["total"] > 0)
        (['composition', 'detail_alpha', 'detail_laplacian'], True)
    """
    name = "aimnet_losses"
    alpha_gt, trimap = _get(batch, "alpha", name), _get(batch, "trimap", name)
    if semantic_target == "unified":
        classes = unified_class_targets(trimap, _get(batch, "type", name))  # eq. 1
    elif semantic_target == "trimap":  # Table 3, "w/o UNI"
        classes = trimap_class_targets(trimap)
    else:
        raise ValueError(f"{name}: semantic_target must be 'unified' or 'trimap', got {semantic_target!r}")
    logits = _at_label_size(_field(output, "trimap_logits", name), trimap)
    detail = _field(output, "detail", name)
    if detail_region == "transition":
        region = (classes == 1).unsqueeze(1)
    elif detail_region == "all":
        region = None
    else:
        raise ValueError(f"{name}: detail_region must be 'transition' or 'all', got {detail_region!r}")
    parts = {
        "semantic": trimap_ce_loss(logits, classes),
        "detail_alpha": charbonnier_loss(detail, alpha_gt, region, eps),
        "detail_laplacian": laplacian_loss(detail, alpha_gt, region, levels),
        "fused_alpha": charbonnier_loss(output.alpha, alpha_gt, None, eps),
        "fused_laplacian": laplacian_loss(output.alpha, alpha_gt, None, levels),
    }
    total = (
        semantic_weight * parts["semantic"]
        + detail_weight * (parts["detail_alpha"] + parts["detail_laplacian"])
        + fused_weight * (parts["fused_alpha"] + parts["fused_laplacian"])
    )
    if composition_weight:
        parts["composition"] = _composition(output.alpha, batch, name, eps)
        total = total + composition_weight * parts["composition"]
    return {"total": total, **parts}


def ppmatting_losses(
    output: MattingOutput,
    batch: Mapping,
    *,
    lambda_s: float = 1.0,
    lambda_d: float = 1.0,
    lambda_f: float = 1.0,
    eps: float = 1e-6,
    gradient_operator: str = "sobel",
) -> dict[str, Tensor]:
    """PP-Matting (Chen et al. 2022, eq. 4-12): ``total = λ1 L_s + λ2 L_d + λ3 L_f`` (all λ = 1 in the paper).

    * ``semantic`` L_s (eq. 4): 3-class CE of ``output.trimap_logits`` against ``batch["trimap"]``;
    * ``detail`` L_d (eq. 6-8): Charbonnier + gradient-magnitude loss of ``output.detail``, mean over the
      transition pixels of the trimap (eq. 6's sum over Ω^t, normalised);
    * ``fusion`` L_f (eq. 9-11): Charbonnier + gradient + composition loss of ``output.alpha`` over the
      image (needs ``fg``, ``bg``).

    The sub-terms are returned too (``detail_alpha``, ``detail_grad``, ``fusion_alpha``, ``fusion_grad``,
    ``fusion_comp``).

    Example:
        >>> import torch
        >>> batch = {"image": torch.rand(1, 3, 8, 8), "alpha": torch.rand(1, 1, 8, 8), "fg": torch.rand(1, 3, 8, 8),
        ...          "bg": torch.rand(1, 3, 8, 8), "trimap": torch.full((1, 1, 8, 8), 0.5)}
        >>> out = MattingOutput(alpha=torch.rand(1, 1, 8, 8), trimap_logits=torch.zeros(1, 3, 8, 8),
        ...                     detail=torch.rand(1, 1, 8, 8))
        >>> round(ppmatting_losses(out, batch)["semantic"].item(), 4)  # uniform logits: log 3
        1.0986
    """
    name = "ppmatting_losses"
    alpha_gt, trimap = _get(batch, "alpha", name), _get(batch, "trimap", name)
    classes = trimap_class_targets(trimap)
    transition = (classes == 1).unsqueeze(1)
    detail = _field(output, "detail", name)
    sub = {
        "detail_alpha": charbonnier_loss(detail, alpha_gt, transition, eps),  # eq. 7
        "detail_grad": gradient_loss(detail, alpha_gt, transition, gradient_operator, eps=eps),  # eq. 8
        "fusion_alpha": charbonnier_loss(output.alpha, alpha_gt, None, eps),
        "fusion_grad": gradient_loss(output.alpha, alpha_gt, None, gradient_operator, eps=eps),
        "fusion_comp": _composition(output.alpha, batch, name, eps),  # eq. 10-11
    }
    semantic = trimap_ce_loss(_at_label_size(_field(output, "trimap_logits", name), trimap), classes)  # eq. 4
    detail_loss = sub["detail_alpha"] + sub["detail_grad"]  # eq. 6
    fusion = sub["fusion_alpha"] + sub["fusion_grad"] + sub["fusion_comp"]  # eq. 9
    total = lambda_s * semantic + lambda_d * detail_loss + lambda_f * fusion  # eq. 12
    return {"total": total, "semantic": semantic, "detail": detail_loss, "fusion": fusion, **sub}


def _spamattnet_alpha(pred: Tensor, target: Tensor, mask: Tensor | None, percent: float, hard_weight: float) -> Tensor:
    return l1_loss(pred, target, mask) + hard_weight * hard_mining_loss(pred, target, mask, percent)  # eq. 11 + 12


def spamattnet_losses(
    output: MattingOutput,
    batch: Mapping,
    *,
    percent: float = 50.0,
    region: str = "unknown",
    hard_weight: float = 1.0,
) -> dict[str, Tensor]:
    """SPAMattNet (Zhou et al. 2023, eq. 10-12): ``L_α = L_coarse + L_refined``.

    Each term is ``L_alpha + hard_weight * L_hard`` on its prediction: the L1 of eq. 11 and the hard-mining
    L1 of eq. 12 over the top ``percent`` % (p = 50) errors, both over M = the unknown region of
    ``batch["trimap"]`` (``region="unknown"``) or over the whole image (``"all"``: the P3M / adaptation
    setting). ``output.coarse_alpha`` is α_coarse and ``output.alpha`` is α_refined; a model without the
    refinement module (no ``coarse_alpha``) gets only the ``refined`` term on ``output.alpha``.

    Example:
        >>> import torch
        >>> batch = {"alpha": torch.zeros(1, 1, 2, 2), "trimap": torch.full((1, 1, 2, 2), 0.5)}
        >>> out = MattingOutput(alpha=torch.tensor([[[[0.1, 0.2], [0.3, 0.4]]]]), coarse_alpha=torch.zeros(1, 1, 2, 2))
        >>> round(spamattnet_losses(out, batch)["refined"].item(), 6)  # L1 0.25 + hard-mining 0.35
        0.6
    """
    name = "spamattnet_losses"
    alpha_gt = _get(batch, "alpha", name)
    mask = _region_mask(batch, region, name)
    parts = {"refined": _spamattnet_alpha(output.alpha, alpha_gt, mask, percent, hard_weight)}
    if output.coarse_alpha is not None:
        parts["coarse"] = _spamattnet_alpha(output.coarse_alpha, alpha_gt, mask, percent, hard_weight)
    return {"total": sum(parts.values()), **parts}  # eq. 10


def dim_losses(
    output: MattingOutput,
    batch: Mapping,
    *,
    alpha_weight: float = 0.5,
    composition_weight: float = 0.5,
    refine_weight: float = 1.0,
    region: str = "unknown",
    eps: float = 1e-6,
) -> dict[str, Tensor]:
    """Deep Image Matting (Xu et al. 2017): ``w_l L_alpha + (1 - w_l) L_comp`` (w_l = 0.5) on the
    encoder-decoder stage, plus the alpha loss of the refinement stage.

    Both stage-1 terms are Charbonnier losses (``alpha``: the alpha; ``composition``: the composite
    ``alpha F + (1 - alpha) B`` against the exact composite, :func:`exact_composite`) on ``output.coarse_alpha`` (``output.alpha`` when there is
    none). When the model has a refinement stage (``output.alpha`` is another tensor than
    ``output.coarse_alpha``), ``refined`` is the Charbonnier alpha loss of ``output.alpha``, weighted by
    ``refine_weight`` (DIM trains the refinement with the alpha loss only; set the weights to 0 to train the
    stages separately). All over the unknown region of ``batch["trimap"]`` (DIM's choice) or, with
    ``region="all"``, the whole image.

    Example:
        >>> import torch
        >>> batch = {"alpha": torch.ones(1, 1, 2, 2), "trimap": torch.full((1, 1, 2, 2), 0.5),
        ...          "image": torch.ones(1, 3, 2, 2), "fg": torch.ones(1, 3, 2, 2), "bg": torch.zeros(1, 3, 2, 2)}
        >>> round(dim_losses(MattingOutput(alpha=torch.full((1, 1, 2, 2), 0.5)), batch)["total"].item(), 5)
        0.5
    """
    name = "dim_losses"
    alpha_gt = _get(batch, "alpha", name)
    mask = _region_mask(batch, region, name)
    stage1 = output.alpha if output.coarse_alpha is None else output.coarse_alpha
    parts = {"alpha": charbonnier_loss(stage1, alpha_gt, mask, eps)}
    total = alpha_weight * parts["alpha"]
    if composition_weight:
        parts["composition"] = _composition(stage1, batch, name, eps, mask)
        total = total + composition_weight * parts["composition"]
    if output.coarse_alpha is not None and output.alpha is not output.coarse_alpha:
        parts["refined"] = charbonnier_loss(output.alpha, alpha_gt, mask, eps)
        total = total + refine_weight * parts["refined"]
    return {"total": total, **parts}


def ppid_losses(
    output: MattingOutput,
    batch: Mapping,
    teacher: MattingOutput | None = None,
    *,
    gamma: float = 1.0,
    lambda1: float = 0.2,
    lambda2: float = 1.0,
    ald_alpha: float = 0.02,
    ald_beta: float = 0.002,
    l1_weights: tuple[float, float] = (1.0, 2.0),
    ce_weights: tuple[float, float] = (1.0, 0.5),
    clsd_reduction: str = "mean",
    attention_reduction: str = "sum",
    eps: float = 1e-6,
) -> dict[str, Tensor]:
    """PPID (eq. 18): ``total = L_alpha + γ (L_CLSD + L_ALD)``; defaults are table 5's DIM pair.

    * ``alpha`` (eq. 11-17): :func:`~automatte.losses.functional.regional_scaling_loss` of ``output.alpha``
      with the regions of ``batch["trimap"]``; its parts ``alpha_l1``, ``alpha_ce``, ``alpha_grad``;
    * ``clsd`` (eq. 3-4) and ``ald`` (eq. 5-9) from the student's output of
      :class:`automatte.models.ppid.PPIDStudent` and ``teacher`` = ``PPIDStudent.teacher_features(...)``:
      ``features`` (``Gc(F^n)``), ``extras["clsd_cross_i"]``, ``extras["ald_feature"]`` and
      ``extras["attention"]`` (see that class).

    ``teacher`` may be omitted only with ``gamma=0`` (the trimap-free baseline).

    Example:
        >>> import torch
        >>> batch = {"alpha": torch.ones(1, 1, 2, 2), "trimap": torch.ones(1, 1, 2, 2)}
        >>> out = MattingOutput(alpha=torch.full((1, 1, 2, 2), 0.75))
        >>> round(ppid_losses(out, batch, gamma=0)["alpha_l1"].item(), 6)
        0.25
    """
    name = "ppid_losses"
    alpha_gt, trimap = _get(batch, "alpha", name), _get(batch, "trimap", name)
    sub = regional_scaling_parts(output.alpha, alpha_gt, trimap, l1_weights, ce_weights, eps)
    parts = {"alpha": sub["l1"] + sub["ce"] + sub["grad"]}
    parts.update({f"alpha_{k}": v for k, v in sub.items()})
    if not gamma:
        return {"total": parts["alpha"], **parts}
    if teacher is None:
        raise ValueError(f"{name}: gamma={gamma} needs the teacher's distillation tensors (teacher=...)")
    k = len(output.features)
    try:
        cross = [output.extras[f"clsd_cross_{i}"] for i in range(1, k)]
        s_feat, s_att = output.extras["ald_feature"], output.extras["attention"]
        t_feat, t_att = teacher.extras["ald_feature"], teacher.extras["attention"]
    except KeyError as err:
        missing = err.args[0]
        raise ValueError(
            f"{name}: missing distillation tensor extras[{missing!r}] (see models.ppid.PPIDStudent)"
        ) from None
    parts["clsd"] = clsd_loss(teacher.features, output.features, cross, lambda1, lambda2, clsd_reduction)  # eq. 3
    parts["ald"] = ald_loss(t_feat, s_feat, t_att, s_att, trimap, ald_alpha, ald_beta, attention_reduction)  # eq. 9
    total = parts["alpha"] + gamma * (parts["clsd"] + parts["ald"])  # eq. 18 (eq. 10: L_distn = CLSD + ALD)
    return {"total": total, **parts}


def ddc_losses(
    output: MattingOutput,
    batch: Mapping,
    *,
    weight: float = 10.0,
    kernel_size: int = 11,
    consistency: str | None = "ddc",
    neighbour_reduction: str = "mean",
    chunk_rows: int | None = None,
    consistency_region: str = "whole",
    label: str = "trimap",
) -> dict[str, Tensor]:
    """Trimap-only training (DDC paper eq. 11): ``total = L_known + λ L_consistency`` (λ = 10, K = 11).

    ``consistency``: ``"ddc"`` (eq. 9, Listing 1), or the baselines of table 4: ``"dc"`` (eq. 8),
    ``"affinity"`` (eq. 3-4; ``neighbour_reduction`` does not apply), ``None`` (known loss only).
    ``consistency_region``: ``"whole"`` (default, the paper's: the term covers the whole alpha matte) or
    ``"unknown"`` (table 5's other rows: only the centre pixels in the unknown region of the trimap).
    ``L_known`` is the N / N_known-scaled L1 on the known pixels of ``batch["trimap"]`` (the only label).
    Needs ``batch["image"]`` and ``batch["trimap"]``.

    ``label="alpha"``: table 1's finely supervised baseline ("supervised using fine alpha mattes with an l1
    loss ... other settings keep the same"): ``total = alpha_l1``, the mean L1 to ``batch["alpha"]`` over the
    whole image, no consistency term; same model (image only), data, steps and optimiser as the trimap run.

    Example:
        >>> import torch
        >>> batch = {"image": torch.full((1, 3, 6, 6), 0.5), "trimap": torch.full((1, 1, 6, 6), 0.5)}
        >>> ddc_losses(MattingOutput(alpha=torch.full((1, 1, 6, 6), 0.5)), batch, kernel_size=3)["total"].item()
        0.0
    """
    name = "ddc_losses"
    if label == "alpha":  # DDC table 1, row 1
        parts = {"alpha_l1": l1_loss(output.alpha, _get(batch, "alpha", name))}
        return {"total": parts["alpha_l1"], **parts}
    if label != "trimap":
        raise ValueError(f"{name}: label must be 'trimap' (the paradigm) or 'alpha' (table 1 baseline), got {label!r}")
    image, trimap = _get(batch, "image", name), _get(batch, "trimap", name)
    if consistency_region not in ("whole", "unknown"):
        raise ValueError(f"{name}: consistency_region must be 'whole' or 'unknown', got {consistency_region!r}")
    region = _region_mask(batch, "all" if consistency_region == "whole" else "unknown", name)  # table 5
    parts = {"known": known_loss(output.alpha, trimap)}
    if consistency == "ddc":
        parts["ddc"] = ddc_loss(image, output.alpha, kernel_size, neighbour_reduction, chunk_rows, region)
    elif consistency == "dc":
        parts["dc"] = dc_loss(image, output.alpha, kernel_size, neighbour_reduction, chunk_rows, region)
    elif consistency == "affinity":
        parts["affinity"] = affinity_loss(image, output.alpha, kernel_size, chunk_rows=chunk_rows, region=region)
    elif consistency is not None:
        raise ValueError(f"{name}: consistency must be 'ddc', 'dc', 'affinity' or None, got {consistency!r}")
    total = parts["known"] + sum(weight * v for k, v in parts.items() if k != "known")  # eq. 11
    return {"total": total, **parts}


def adaptation_generator_losses(
    output: MattingOutput,
    batch: Mapping,
    d_fake: Tensor,
    *,
    lam: float = 0.5,
    percent: float = 50.0,
) -> dict[str, Tensor]:
    """TGN + SPAMattNet real-data adaptation, generator side (eq. 16).

    ``total = E[(D(α̂ I + (1 - α̂) B̄) - 1)^2] + λ [L_ce(T̃, T̂) + L_α(α̃, α̂)]`` with ``d_fake`` = D's output on
    :func:`~automatte.losses.adversarial.recomposite` of ``output.alpha``, T̂ = ``output.trimap_logits``
    against the pseudo trimap T̃ = ``batch["pseudo_trimap"]``, and L_α the SPAMattNet loss against the
    pseudo alpha α̃ = ``batch["pseudo_alpha"]`` over the whole image (as the paper notes). Use
    :func:`~automatte.losses.adversarial.adaptation_lambda` for λ's schedule.

    Example:
        >>> import torch
        >>> batch = {"pseudo_alpha": torch.rand(1, 1, 4, 4), "pseudo_trimap": torch.full((1, 1, 4, 4), 0.5)}
        >>> out = MattingOutput(alpha=torch.rand(1, 1, 4, 4), trimap_logits=torch.zeros(1, 3, 4, 4))
        >>> sorted(adaptation_generator_losses(out, batch, torch.ones(1, 1), lam=0.25))
        ['adversarial', 'alpha', 'ce', 'total']
    """
    name = "adaptation_generator_losses"
    pseudo_trimap = _get(batch, "pseudo_trimap", name)
    pseudo = {"alpha": _get(batch, "pseudo_alpha", name), "trimap": pseudo_trimap}
    logits = _at_label_size(_field(output, "trimap_logits", name), pseudo_trimap)
    parts = {
        "adversarial": lsgan_generator_loss(d_fake),
        "ce": trimap_ce_loss(logits, trimap_class_targets(pseudo_trimap)),
        "alpha": spamattnet_losses(output, pseudo, percent=percent, region="all")["total"],
    }
    total = parts["adversarial"] + lam * (parts["ce"] + parts["alpha"])  # eq. 16
    return {"total": total, **parts}


def tgn_losses(
    output: MattingOutput, batch: Mapping, *, class_weights: tuple[float, float, float] | None = None
) -> dict:
    """TGN (spamattnet-tgn Sec. III-A / IV-B1, ``L_ce``): 3-class CE of ``trimap_logits`` against
    ``batch["trimap"]`` (the ground-truth trimap); logits smaller than the trimap are upsampled first.

    Example:
        >>> import torch
        >>> out = MattingOutput(alpha=torch.zeros(1, 1, 2, 2), trimap_logits=torch.zeros(1, 3, 2, 2))
        >>> round(tgn_losses(out, {"trimap": torch.full((1, 1, 2, 2), 0.5)})["total"].item(), 4)  # log 3
        1.0986
    """
    trimap = _get(batch, "trimap", "tgn_losses")
    logits = _at_label_size(_field(output, "trimap_logits", "tgn_losses"), trimap)
    weights = None if class_weights is None else logits.new_tensor(class_weights)
    ce = trimap_ce_loss(logits, trimap_class_targets(trimap), class_weights=weights)
    return {"total": ce, "ce": ce}


def vitmatte_losses(
    output: MattingOutput,
    batch: Mapping,
    *,
    l1_weight: float = 1.0,
    laplacian_weight: float = 1.0,
    gradient_weight: float = 1.0,
    gp_weight: float = 0.01,
) -> dict:
    """The finely supervised ViTMatte baseline of the DDC paper, with ViTMatte's losses: L1 over the unknown
    and over the known region (each a mean over its pixels), the Laplacian loss, and ``|grad p - grad t|`` plus
    ``gp_weight * |grad p|`` (Sobel, whole image). ``total = l1_weight (unknown_l1 + known_l1) +
    laplacian_weight laplacian + gradient_weight (gradient + gp_weight penalty)``.

    Example:
        >>> import torch
        >>> batch = {"alpha": torch.ones(1, 1, 8, 8), "trimap": torch.full((1, 1, 8, 8), 0.5)}
        >>> parts = vitmatte_losses(MattingOutput(alpha=torch.ones(1, 1, 8, 8)), batch)
        >>> parts["total"].item(), parts["unknown_l1"].item()
        (0.0, 0.0)
    """
    alpha_gt, trimap = _get(batch, "alpha", "vitmatte_losses"), _get(batch, "trimap", "vitmatte_losses")
    pred = output.alpha
    unknown = (trimap_class_targets(trimap) == 1).unsqueeze(1)
    gxp, gyp = image_gradients(pred)
    gxt, gyt = image_gradients(alpha_gt)
    parts = {
        "unknown_l1": l1_loss(pred, alpha_gt, unknown),  # an empty mask gives 0
        "known_l1": l1_loss(pred, alpha_gt, ~unknown),
        "laplacian": laplacian_loss(pred, alpha_gt),
        "gradient": (gxp - gxt).abs().mean() + (gyp - gyt).abs().mean(),
        "penalty": gxp.abs().mean() + gyp.abs().mean(),
    }
    total = (
        l1_weight * (parts["unknown_l1"] + parts["known_l1"])
        + laplacian_weight * parts["laplacian"]
        + gradient_weight * (parts["gradient"] + gp_weight * parts["penalty"])
    )
    return {"total": total, **parts}


def _rows(value, keep: Tensor, batch_size: int):
    """``value`` restricted to the samples ``keep`` (bool (B,)): tensors whose first dimension is the batch,
    recursively through lists, tuples, dicts and :class:`MattingOutput`; anything else unchanged."""
    if isinstance(value, Tensor):
        return value[keep] if value.dim() > 0 and value.shape[0] == batch_size else value
    if isinstance(value, MattingOutput):
        return MattingOutput(**{f: _rows(getattr(value, f), keep, batch_size) for f in value.__dataclass_fields__})
    if isinstance(value, (list, tuple)) and not isinstance(value, str):
        rows = [_rows(v, keep, batch_size) for v in value]
        if len(value) == batch_size and not any(isinstance(v, Tensor) for v in value):  # per-sample names, types
            rows = [v for v, k in zip(value, keep.tolist()) if k]
        return type(value)(rows)
    if isinstance(value, Mapping):
        return {k: _rows(v, keep, batch_size) for k, v in value.items()}
    return value


def mixed_losses(
    output: MattingOutput,
    batch: Mapping,
    *extra,
    alpha_recipe: str = "dim",
    trimap_weight: float = 1.0,
    ddc: Mapping | None = None,
    **alpha_kwargs,
) -> dict[str, Tensor]:
    """Mixed supervision for batches of exact-alpha and trimap-only samples (the default models' recipe).

    Samples with ``batch["has_alpha"]`` (procedural composites) get ``alpha_recipe`` (``alpha_kwargs`` and the
    extra positional arguments, e.g. PPID's teacher output, go to it); the others (real photos with trimaps
    from coarse masks, copy-paste composites) get the DDC paradigm's ``L_known + λ L_DDC`` (:func:`ddc_losses`
    with ``ddc`` as its keyword arguments). Each part is weighted by its share of the batch:
    ``total = n_a / n * alpha_total + trimap_weight * n_t / n * ddc_total``. PPID's distillation terms are
    therefore computed on the alpha-labelled samples only (our choice: the PPID paper trains on alpha labels).

    Example:
        >>> import torch
        >>> out = MattingOutput(alpha=torch.full((2, 1, 6, 6), 0.5))
        >>> batch = {"image": torch.full((2, 3, 6, 6), 0.5), "trimap": torch.full((2, 1, 6, 6), 0.5),
        ...          "alpha": torch.full((2, 1, 6, 6), 0.5), "fg": torch.full((2, 3, 6, 6), 0.5),
        ...          "bg": torch.full((2, 3, 6, 6), 0.5), "has_alpha": torch.tensor([True, False])}
        >>> parts = mixed_losses(out, batch, alpha_recipe="dim", ddc={"kernel_size": 3})
        >>> sorted(k for k in parts if "/" not in k), round(parts["total"].item(), 4)
        (['total'], 0.0)
    """
    if alpha_recipe not in RECIPES or alpha_recipe == "mixed":
        raise ValueError(
            f"mixed_losses: alpha_recipe must be one of {sorted(set(RECIPES) - {'mixed'})}, got {alpha_recipe!r}"
        )
    n = output.alpha.shape[0]
    has = batch.get("has_alpha")
    has = torch.ones(n, dtype=torch.bool, device=output.alpha.device) if has is None else has.to(torch.bool).view(-1)
    total = output.alpha.sum() * 0
    parts: dict[str, Tensor] = {}
    for keep, name in ((has, "alpha"), (~has, "trimap")):
        count = int(keep.sum())
        if count == 0:
            continue
        sub_out, sub_batch = _rows(output, keep, n), _rows(dict(batch), keep, n)
        if name == "alpha":
            result = RECIPES[alpha_recipe](sub_out, sub_batch, *_rows(list(extra), keep, n), **alpha_kwargs)
            scale = count / n
        else:
            result = ddc_losses(sub_out, sub_batch, **dict(ddc or {}))
            scale = trimap_weight * count / n
        total = total + scale * result["total"]
        parts.update({f"{name}/{k}": v for k, v in result.items()})
    return {"total": total, **parts}


def segment_losses(
    output: MattingOutput,
    batch: Mapping,
    *,
    bce_weight: float = 1.0,
    iou_weight: float = 1.0,
    edge_weight: float = 2.0,
    edge_radius: int = 3,
) -> dict[str, Tensor]:
    """Binary foreground segmentation (stage 1 of the two-stage pipeline; our recipe, not a paper's).

    ``total = bce_weight BCE + iou_weight (1 - soft IoU)`` on ``output.extras["fg_logit"]`` (the logit of
    ``alpha``; ``logit(alpha)`` when a model gives none). Targets per sample: an exact ``alpha`` where
    ``has_alpha`` (soft BCE target, every pixel), else the known pixels of ``trimap`` (1 -> foreground,
    0 -> background; its unknown band is not supervised: train coarse sources with a thin band, e.g.
    ``augment.trimap_k_range: [1, 3]``). BCE pixels within ``edge_radius`` px of the target's edge weigh
    ``1 + edge_weight`` (mask edges are what the trimap band and the boundary F of the validation depend on).

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 8, 8); t[..., 2:6, 2:6] = 1
        >>> good = MattingOutput(alpha=t, extras={"fg_logit": (t - 0.5) * 40})
        >>> bad = MattingOutput(alpha=1 - t, extras={"fg_logit": (0.5 - t) * 40})
        >>> batch = {"trimap": t, "image": torch.zeros(1, 3, 8, 8)}
        >>> bool(segment_losses(good, batch)["total"] < 0.01 < segment_losses(bad, batch)["total"])
        True
    """
    name = "segment_losses"
    logit = output.extras.get("fg_logit") if output.extras else None
    if logit is None:
        logit = torch.logit(output.alpha.clamp(1e-6, 1 - 1e-6))
    logit = logit.float()  # the sums below in fp32 under a bf16 autocast (``train.cpu_amp``)
    trimap = _get(batch, "trimap", name)
    bg, _, fg = trimap_masks(trimap)
    target, weight = fg.to(logit.dtype), (bg | fg).to(logit.dtype)  # known pixels
    has_alpha = batch.get("has_alpha")
    if has_alpha is not None and batch.get("alpha") is not None and bool(has_alpha.any()):
        rows = has_alpha.view(-1, 1, 1, 1).to(torch.bool)
        target = torch.where(rows, batch["alpha"].to(logit.dtype), target)
        weight = torch.where(rows, torch.ones_like(weight), weight)
    if edge_weight > 0 and edge_radius > 0:
        k = 2 * edge_radius + 1
        hard = (target > 0.5).to(logit.dtype)
        edge = F.max_pool2d(hard, k, 1, edge_radius) - (-F.max_pool2d(-hard, k, 1, edge_radius))  # dilate - erode
        pixel = weight * (1 + edge_weight * edge)
    else:
        pixel = weight
    bce = F.binary_cross_entropy_with_logits(logit, target, weight=pixel, reduction="sum") / pixel.sum().clamp_min(1)
    prob = torch.sigmoid(logit)
    inter = (weight * prob * target).sum(dim=(1, 2, 3))
    union = (weight * (prob + target - prob * target)).sum(dim=(1, 2, 3))
    iou = 1 - (inter + 1) / (union + 1)  # soft Jaccard per sample, smoothed
    parts = {"bce": bce, "iou": iou.mean()}
    return {"total": bce_weight * parts["bce"] + iou_weight * parts["iou"], **parts}


RECIPES: dict[str, Callable[..., dict[str, Tensor]]] = {
    "aimnet": aimnet_losses,
    "ppmatting": ppmatting_losses,
    "spamattnet": spamattnet_losses,
    "dim": dim_losses,
    "ppid": ppid_losses,
    "ddc": ddc_losses,
    "tgn": tgn_losses,
    "vitmatte": vitmatte_losses,
    "mixed": mixed_losses,
    "segment": segment_losses,
}
