"""Joint inference of TGN and SPAMattNet (Zhou et al., IEEE TCSVT 2023, Sec. IV-B3, Fig. 2, eq. 13-15).

Coarse mask -> :class:`~automatte.models.tgn.TGN` trimap -> :class:`~automatte.models.spamattnet.SPAMattNet`
(image, trimap) -> fused alpha. SPAMattNet receives the TGN *argmax* trimap in {0, 0.5, 1} (the trimap it was
trained on is quantised; its region masks are thresholds, so no gradient would pass through a soft one anyway).
Its raw alpha is only trusted in the unknown region, so the TGN probabilities decide the rest:

* **soft fusion** (:func:`soft_fusion`, eq. 13-15): with the TGN softmax probabilities ``F, B, U``,
  ``alpha = (1 - U) F / (F + B) + U alpha_hat`` (eq. 13) with ``U = 1 - (F + B)`` (eq. 14), which simplifies
  to ``alpha = F + U alpha_hat`` (eq. 15). We compute eq. 15 (no division; identical when F + B + U = 1, as
  softmax guarantees). It is differentiable in the TGN logits: training through it (real-data adaptation,
  eq. 16-17) updates both networks.
* **hard fusion** (:func:`hard_fusion`): the argmax trimap decides: foreground -> 1, background -> 0,
  unknown -> ``alpha_hat``.

Output: ``alpha`` (fused), ``trimap_logits`` (TGN), ``coarse_alpha`` (SPAMattNet's coarse alpha), ``features``
(SPAMattNet's encoder), ``extras``: ``trimap`` (TGN soft trimap), ``tgn_trimap`` (the argmax trimap given to
SPAMattNet) and ``matting_alpha`` (SPAMattNet's refined alpha before fusion).

Example:
    >>> import torch
    >>> net = tgn_spamattnet_test().eval()
    >>> out = net(image=torch.rand(1, 3, 64, 64), mask=torch.rand(1, 1, 64, 64))
    >>> tuple(out.alpha.shape), tuple(out.trimap_logits.shape)
    ((1, 1, 64, 64), (1, 3, 64, 64))
"""

from __future__ import annotations

from torch import Tensor, nn

from automatte.models.fusion import hard_fusion, soft_fusion
from automatte.models.output import MattingOutput
from automatte.models.registry import register_model
from automatte.models.spamattnet import SPAMattNet, spamattnet, spamattnet_test
from automatte.models.tgn import TGN, load_checkpoint, tgn, tgn_test

__all__ = ["TwoStageMatting", "soft_fusion", "hard_fusion", "tgn_spamattnet", "tgn_spamattnet_test"]


class TwoStageMatting(nn.Module):
    """TGN + SPAMattNet joint inference (see the module docstring).

    Args:
        tgn: a trimap network taking ``(image, mask)`` and returning ``trimap_logits`` (bg, unknown, fg).
        matting: a trimap-based matting network taking ``(image, trimap)``.
        fusion: ``"soft"`` (eq. 13-15) or ``"hard"``.
    """

    def __init__(self, tgn: nn.Module, matting: nn.Module, fusion: str = "soft"):
        super().__init__()
        if fusion not in ("soft", "hard"):
            raise ValueError(f"TwoStageMatting: fusion must be 'soft' or 'hard', got {fusion!r}")
        self.tgn, self.matting, self.fusion = tgn, matting, fusion

    def forward(self, image: Tensor, mask: Tensor) -> MattingOutput:
        """image (B, 3, H, W) in [0, 1], mask (B, 1, H, W) coarse segmentation in [0, 1]."""
        first = self.tgn(image=image, mask=mask)
        logits = first.trimap_logits
        trimap = logits.argmax(dim=1, keepdim=True).to(image.dtype) * 0.5  # classes 0, 1, 2 -> 0, 0.5, 1
        second = self.matting(image=image, trimap=trimap)
        fuse = soft_fusion if self.fusion == "soft" else hard_fusion
        extras = {
            "trimap": first.extras.get("trimap", first.alpha),
            "tgn_trimap": trimap,
            "matting_alpha": second.alpha,
        }
        return MattingOutput(
            alpha=fuse(logits, second.alpha),
            trimap_logits=logits,
            coarse_alpha=second.coarse_alpha,
            features=second.features,
            extras=extras,
        )


def _split(kw: dict) -> tuple[dict, dict, str]:
    """Keyword overrides: ``tgn={...}``, ``matting={...}``, ``fusion=``; ``pretrained`` is a full checkpoint."""
    unknown = set(kw) - {"tgn", "matting", "fusion", "pretrained"}
    if unknown:
        raise ValueError(
            f"tgn_spamattnet: unknown keyword(s) {sorted(unknown)}; expected tgn={{...}}, matting={{...}}, fusion="
        )
    return dict(kw.get("tgn") or {}), dict(kw.get("matting") or {}), kw.get("fusion", "soft")


def _build(tgn_net: TGN, matting_net: SPAMattNet, fusion: str, pretrained) -> TwoStageMatting:
    model = TwoStageMatting(tgn_net, matting_net, fusion)
    if pretrained is not None:
        load_checkpoint(model, pretrained, backbone=None)
    return model


@register_model(
    "tgn_spamattnet",
    family="twostage",
    inputs=("image", "mask"),
    description="TGN + SPAMattNet joint inference with soft fusion (eq. 13-15)",
)
def tgn_spamattnet(**kw) -> TwoStageMatting:
    """TGN + SPAMattNet, soft fusion. Keywords: ``tgn={...}``, ``matting={...}`` (each may hold
    ``pretrained``), ``fusion="soft"|"hard"``, ``pretrained`` (a checkpoint of the whole model)."""
    t, m, fusion = _split(kw)
    return _build(tgn(**t), spamattnet(**m), fusion, kw.get("pretrained"))


@register_model(
    "tgn_spamattnet_test", family="twostage", inputs=("image", "mask"), description="tiny TGN + SPAMattNet for tests"
)
def tgn_spamattnet_test(**kw) -> TwoStageMatting:
    """Tiny TGN + SPAMattNet for tests (the two ``*_test`` networks), soft fusion."""
    t, m, fusion = _split(kw)
    return _build(tgn_test(**t), spamattnet_test(**m), fusion, kw.get("pretrained"))
