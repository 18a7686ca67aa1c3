"""ONNX export with dynamic height and width (torch.export-based exporter, ONNX Runtime checked)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from automatte.io import atomic_write

__all__ = ["AlphaOnly", "export_onnx", "example_inputs"]

DEFAULT_OPSET = 18  # the torch.export exporter's native opset (>= 17 as the ONNX contract asks)


class AlphaOnly(nn.Module):
    """Wraps a matting model so that ``forward(*inputs)`` returns the alpha tensor only (for export)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.model_inputs = tuple(getattr(model, "model_inputs", ("image",)))

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.model(**dict(zip(self.model_inputs, inputs))).alpha


def example_inputs(model_inputs: tuple[str, ...], height: int = 64, width: int = 64, batch: int = 1, seed: int = 0):
    """Random inputs following the tensor contract: image in [0, 1], trimap in {0, 0.5, 1}, mask in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for name in model_inputs:
        if name == "image":
            out.append(torch.rand(batch, 3, height, width, generator=g))
        elif name == "trimap":
            out.append(torch.randint(0, 3, (batch, 1, height, width), generator=g).float() / 2)
        elif name == "mask":
            out.append(torch.rand(batch, 1, height, width, generator=g))
        else:
            raise ValueError(f"unknown model input {name!r}")
    return tuple(out)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    height: int = 64,
    width: int = 64,
    opset: int = DEFAULT_OPSET,
    multiple: int = 32,
) -> Path:
    """Export a matting model's alpha to ONNX with dynamic batch, height and width; written atomically.

    Args:
        model: a registry model (its ``model_inputs`` name the inputs), in eval mode after this call.
        path: output ``.onnx`` file.
        height, width: the example size traced (a multiple of ``multiple``).
        opset: ONNX opset (>= 17).
        multiple: the spatial sizes the exported graph accepts are multiples of this.

    Returns:
        The written path. Inputs are named as ``model.model_inputs``; the output is ``alpha``.
    """
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    wrapper = AlphaOnly(model.eval()).eval()
    inputs = example_inputs(wrapper.model_inputs, height, width, batch=2)  # batch 2: not specialised to 1
    b = torch.export.Dim("batch", min=1, max=1024)
    h = torch.export.Dim("height", min=1, max=8192)
    w = torch.export.Dim("width", min=1, max=8192)
    shapes = tuple({0: b, 2: multiple * h, 3: multiple * w} for _ in inputs)
    path = Path(path)
    with atomic_write(path) as tmp:
        program = torch.onnx.export(
            wrapper,
            inputs,
            dynamo=True,
            opset_version=opset,
            input_names=list(wrapper.model_inputs),
            output_names=["alpha"],
            dynamic_shapes=(shapes,),  # one entry: the *inputs of AlphaOnly.forward
            external_data=False,
            verbose=False,
        )
        program.save(str(tmp))
    return path
