"""Real-data adaptation of TGN + SPAMattNet (paradigm ``adapt``; spamattnet-tgn Sec. IV-B4, Fig. 7, eq. 16-17).

Two stages. Stage 1 trains TGN (``tgn`` recipe, coarse mask -> trimap) and SPAMattNet (``spamattnet``
recipe, image + trimap -> alpha) on composites with exact alpha. Stage 2, this module, adapts the joint
model to real photos that have only a coarse segmentation S:

* generator G: ``tgn_spamattnet`` (TGN + SPAMattNet with soft fusion, eq. 13-15, differentiable in both
  networks), initialised from stage 1 (``model.kwargs`` ``tgn.pretrained`` / ``matting.pretrained``, or
  ``model.init_from``); G(I, S) gives the trimap logits T̂ and the alpha α̂;
* pseudo labels: the pseudo trimap T̃ is S binarised at 0.5, eroded / dilated by a square kernel of
  ``adapt.pseudo_trimap_kernel`` px (unknown band between the two); the pseudo alpha α̃ = G'(I, T̃) with G' a
  frozen copy of G's SPAMattNet as it was at the start (the paper's "human-finetuned SPAMattNet"; load another
  one with ``model.kwargs.matting.pretrained`` before the copy is taken);
* discriminator D: :class:`PatchDiscriminator`, an LSGAN PatchGAN on ``α̂ I + (1 - α̂) B̄`` (fake) against the
  photo I (real). B̄ is the batch's ``bg`` of *another* sample (the batch rolled by one) when the data has
  backgrounds, else another photo of the batch: the local batch must hold at least two samples;
* G minimises eq. 16: ``(D(fake) - 1)^2 + λ (L_ce(T̃, T̂) + L_α(α̃, α̂))`` (:func:`adaptation_generator_losses`,
  L_α over the whole image) with λ = ``adapt.lam`` halved every ``adapt.halve_every`` steps; D's parameters
  take no gradient from it. Then D minimises eq. 17 on the detached fake and the photo (Adam,
  ``adapt.disc_lr`` / ``disc_betas``; our choice, the paper gives none).

The checkpoints store G as the model and D, D's optimiser and G' as extra state.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from automatte.losses import adaptation_generator_losses, adaptation_lambda, lsgan_discriminator_loss, recomposite
from automatte.train.config import Config
from automatte.train.task import Task, model_inputs

__all__ = ["PatchDiscriminator", "pseudo_trimap", "AdaptTask"]


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (Isola et al. 2017): a grid of real / fake scores, one per overlapping patch.

    ``layers`` stride-2 4x4 convolutions (widths ``channels * 2^i``, capped at 8x), then a stride-1 4x4
    convolution and a 1-channel 4x4 output convolution; LeakyReLU(0.2); instance normalisation on every layer
    but the first and the last. No sigmoid (least-squares GAN). The input image in [0, 1] is mapped to
    [-1, 1] first.

    Args:
        in_channels: input channels (3: RGB composites / photos).
        channels: width of the first layer.
        layers: number of stride-2 layers (3: 70x70 receptive field).

    Shapes: (B, C, H, W) -> (B, 1, H / 2^layers - 2, W / 2^layers - 2).

    Example:
        >>> PatchDiscriminator(channels=8)(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 1, 6, 6])
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, layers: int = 3):
        super().__init__()
        if layers < 1 or channels < 1:
            raise ValueError(f"PatchDiscriminator: need layers >= 1 and channels >= 1, got {layers}, {channels}")
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        width = channels
        for i in range(1, layers + 1):
            out = channels * min(2**i, 8)
            stride = 2 if i < layers else 1
            blocks += [
                nn.Conv2d(width, out, 4, stride, 1, bias=False),
                nn.InstanceNorm2d(out, affine=True),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width = out
        blocks.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image * 2 - 1)


def pseudo_trimap(mask: Tensor, kernel_size: int) -> Tensor:
    """T̃ from a soft coarse segmentation: 1 = erode(S >= 0.5), 0.5 = dilate minus erode, 0 elsewhere.

    A ``kernel_size`` x ``kernel_size`` square structuring element (max pooling), odd sizes centred.

    Args:
        mask: (B, 1, H, W) in [0, 1].
        kernel_size: >= 1.

    Returns:
        (B, 1, H, W) in {0, 0.5, 1}, same dtype as ``mask``.

    Example:
        >>> m = torch.zeros(1, 1, 1, 7); m[..., 2:5] = 1
        >>> pseudo_trimap(m, 3).flatten().tolist()
        [0.0, 0.5, 0.5, 1.0, 0.5, 0.5, 0.0]
    """
    if kernel_size < 1:
        raise ValueError(f"pseudo_trimap: kernel_size must be >= 1, got {kernel_size}")
    binary = (mask >= 0.5).to(mask.dtype)
    lo, hi = (kernel_size - 1) // 2, kernel_size // 2

    def pool(x: Tensor) -> Tensor:
        return F.max_pool2d(F.pad(x, (lo, hi, lo, hi), mode="replicate"), kernel_size, stride=1)

    outer = pool(binary)
    inner = 1 - pool(1 - binary)
    return 0.5 * (outer + inner)


class AdaptTask(Task):
    """The ``adapt`` paradigm (module docstring)."""

    def __init__(self, cfg: Config, device: torch.device):
        super().__init__(cfg, device)
        if self.inputs != ("image", "mask") or not hasattr(self.model, "matting"):
            raise ValueError(
                f"model.name: the adapt paradigm trains a TGN + matting generator such as 'tgn_spamattnet' "
                f"(inputs image, mask), got {cfg.model.name!r} with inputs {self.inputs}"
            )
        a = cfg.adapt
        self.pseudo = copy.deepcopy(self.model.matting).eval()
        for p in self.pseudo.parameters():
            p.requires_grad_(False)
        self.disc = PatchDiscriminator(3, a.disc_channels, a.disc_layers).to(device)
        self.disc_ddp: nn.Module = self.disc
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=a.disc_lr, betas=a.disc_betas)
        fp16 = device.type == "cuda" and cfg.train.amp == "fp16"
        self.disc_scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        self._pending: tuple[Tensor, Tensor] | None = None

    def wrap(self, wrap: Callable[[nn.Module], nn.Module]) -> nn.Module:
        self.disc_ddp = wrap(self.disc)
        return wrap(self.module)

    def train_mode(self, module: nn.Module) -> None:
        super().train_mode(module)
        self.disc_ddp.train()
        self.pseudo.eval()

    def _backgrounds(self, batch: Mapping) -> Tensor:
        source = batch.get("bg")
        if source is None or ("has_bg" in batch and not bool(batch["has_bg"].all())):
            source = batch["image"]
        if source.shape[0] < 2:
            raise ValueError("adapt: the random backgrounds come from the other samples of the batch; "
                             "data.batch_size per process must be >= 2")  # fmt: skip
        return torch.roll(source, shifts=1, dims=0)

    def losses(self, module: nn.Module, batch: Mapping, step: int) -> dict[str, Tensor]:
        inputs = model_inputs(batch, self.inputs)
        image = inputs["image"]
        with torch.no_grad():
            trimap = pseudo_trimap(inputs["mask"], self.cfg.adapt.pseudo_trimap_kernel)
            pseudo = {"pseudo_trimap": trimap, "pseudo_alpha": self.pseudo(image=image, trimap=trimap).alpha}
        out = module(**inputs)
        fake = recomposite(out.alpha, image, self._backgrounds(batch))
        self.disc.requires_grad_(False)  # eq. 16 updates G only
        try:
            d_fake = self.disc(fake)
        finally:
            self.disc.requires_grad_(True)
        lam = adaptation_lambda(step, self.cfg.adapt.lam, self.cfg.adapt.halve_every)
        parts = adaptation_generator_losses(out, pseudo, d_fake, lam=lam, percent=self.cfg.adapt.percent)
        self._pending = (fake.detach(), image)
        parts["lambda"] = torch.tensor(lam, device=image.device)
        return parts

    def after_step(self, batch: Mapping, step: int, autocast) -> dict[str, Tensor]:
        fake, real = self._pending
        self._pending = None
        with autocast():
            scores = self.disc_ddp(torch.cat([fake, real]))
            d_fake, d_real = scores[: len(fake)], scores[len(fake) :]
            loss = lsgan_discriminator_loss(d_fake, d_real)  # eq. 17
        self.disc_opt.zero_grad(set_to_none=True)
        self.disc_scaler.scale(loss).backward()
        self.disc_scaler.step(self.disc_opt)
        self.disc_scaler.update()
        return {
            "disc": loss.detach(),
            "d_real": d_real.detach().float().mean(),
            "d_fake": d_fake.detach().float().mean(),
        }

    def state_dict(self) -> dict:
        return {
            "discriminator": self.disc.state_dict(),
            "disc_optimizer": self.disc_opt.state_dict(),
            "disc_scaler": self.disc_scaler.state_dict() if self.disc_scaler.is_enabled() else None,
            "pseudo": self.pseudo.state_dict(),
        }

    def load_state_dict(self, state: Mapping) -> None:
        if not state:
            raise ValueError("adapt: the checkpoint has no discriminator state (not an adapt run?)")
        self.disc.load_state_dict(state["discriminator"])
        self.disc_opt.load_state_dict(state["disc_optimizer"])
        if state.get("disc_scaler"):
            self.disc_scaler.load_state_dict(state["disc_scaler"])
        self.pseudo.load_state_dict(state["pseudo"])
