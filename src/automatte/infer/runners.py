"""Runners: a network behind one call contract, ``runner(image, trimap=None, mask=None) -> MattingOutput``,
in PyTorch or ONNX Runtime (its exported graph cached on disk, keyed by the weights); array <-> tensor helpers."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = ["TorchRunner", "OnnxRunner", "onnx_cache_path", "make_runner", "to_tensor", "plane", "to_numpy"]


class TorchRunner:
    """Calls a registry network under inference mode: ``runner(image, trimap=None, mask=None) -> MattingOutput``."""

    def __init__(self, net, device: str = "cpu"):
        import torch

        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.inputs = tuple(getattr(net, "model_inputs", ("image",)))
        self.name = getattr(net, "model_name", type(net).__name__)

    def __call__(self, image, trimap=None, mask=None):
        import torch

        feeds = {"image": image, "trimap": trimap, "mask": mask}
        with torch.inference_mode():
            args = {k: feeds[k].to(self.device, torch.float32) for k in self.inputs}
            out = self.net(**args)
        out.alpha = out.alpha.float().cpu()
        if out.trimap_logits is not None:
            out.trimap_logits = out.trimap_logits.float().cpu()
        return out


class OnnxRunner:
    """The same contract through ONNX Runtime (alpha only; no trimap logits)."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu", name: str | None = None):
        import onnxruntime as ort

        providers = (
            ["CUDAExecutionProvider", "CPUExecutionProvider"]
            if str(device).startswith("cuda")
            else ["CPUExecutionProvider"]
        )
        self.session = ort.InferenceSession(str(path), providers=providers)
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        unknown = set(self.inputs) - {"image", "trimap", "mask"}
        if unknown:
            raise ValueError(f"{path}: ONNX inputs must be named image / trimap / mask, got {', '.join(self.inputs)}")
        self.name = name or Path(path).stem

    def __call__(self, image, trimap=None, mask=None):
        import torch

        from automatte.models.output import MattingOutput

        feeds = {"image": image, "trimap": trimap, "mask": mask}
        arrays = {k: feeds[k].detach().cpu().float().numpy() for k in self.inputs}
        alpha = self.session.run(["alpha"], arrays)[0]
        return MattingOutput(alpha=torch.from_numpy(alpha))


def onnx_cache_path(net, tag: str) -> Path:
    """Where ``backend="onnx"`` keeps the exported graph of a network (keyed by its weights)."""
    digest = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().numpy().tobytes()[:4096])
        digest.update(str(tuple(value.shape)).encode())
    root = Path(os.environ.get("AUTOMATTE_CACHE", Path.home() / ".cache" / "automatte")) / "onnx"
    return root / f"{tag}-{digest.hexdigest()[:16]}.onnx"


def make_runner(net, device: str, backend: str, tag: str):
    if backend == "torch":
        return TorchRunner(net, device)
    if backend != "onnx":
        raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    from automatte.infer.export import export_onnx

    path = onnx_cache_path(net, tag)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(net, path, height=64, width=64)
    return OnnxRunner(path, device, name=getattr(net, "model_name", tag))


def to_tensor(image: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def plane(x: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]


def to_numpy(x) -> np.ndarray:
    return x[0, 0].detach().cpu().numpy().astype(np.float32)
