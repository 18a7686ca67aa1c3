"""Runners: a network behind one call contract, ``runner(image, trimap=None, mask=None) -> MattingOutput``,
in PyTorch or ONNX Runtime (its exported graph cached on disk, keyed by the weights); array <-> tensor helpers.

:class:`ShippedOnnxRunner` runs a shipped model's own ONNX graph (``weights/NAME.onnx``) on NumPy arrays
(``run_array``), with no PyTorch at all: the light install's segmenter."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = [
    "TorchRunner",
    "OnnxRunner",
    "ShippedOnnxRunner",
    "has_torch",
    "onnx_cache_path",
    "make_runner",
    "default_refiner",
    "to_tensor",
    "plane",
    "to_numpy",
]

_HAS_TORCH: list[bool] = []


def has_torch() -> bool:
    """Whether PyTorch can be imported here (the light install has none); imports it the first time.

    Example:
        >>> isinstance(has_torch(), bool)
        True
    """
    if not _HAS_TORCH:
        try:
            import torch  # noqa: F401
        except ImportError:
            _HAS_TORCH.append(False)
        else:
            _HAS_TORCH.append(True)
    return _HAS_TORCH[0]


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
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting on shared CPUs
        threads = os.environ.get("OMP_NUM_THREADS", "")
        if threads.isdigit() and int(threads) > 0:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        unknown = set(self.inputs) - {"image", "trimap", "mask"}
        if unknown:
            raise ValueError(f"{path}: ONNX inputs must be named image / trimap / mask, got {', '.join(self.inputs)}")
        self.name = name or Path(path).stem
        self.path = Path(path)

    def run_array(self, image: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 array -> alpha (B, 1, H, W) float32 array (image-only graphs), without PyTorch."""
        if self.inputs != ("image",):
            raise ValueError(f"{self.path}: run_array needs an image-only graph, this one takes {self.inputs}")
        return self.session.run(["alpha"], {"image": np.ascontiguousarray(image, dtype=np.float32)})[0]

    def __call__(self, image, trimap=None, mask=None):
        import torch

        from automatte.models.output import MattingOutput

        feeds = {"image": image, "trimap": trimap, "mask": mask}
        arrays = {k: feeds[k].detach().cpu().float().numpy() for k in self.inputs}
        alpha = self.session.run(["alpha"], arrays)[0]
        return MattingOutput(alpha=torch.from_numpy(alpha))


class ShippedOnnxRunner(OnnxRunner):
    """A shipped model's own ONNX graph (``weights/NAME.onnx``), refused when stale (made from other weights than
    the card's: :func:`automatte.shipped.shipped_onnx`). ``array_native``: the pipeline feeds it NumPy arrays
    (:meth:`OnnxRunner.run_array` through :func:`automatte.infer.numpy_infer.predict_whole_np`), so it runs with
    no PyTorch installed.

    Example:
        >>> runner = ShippedOnnxRunner("salient-segmenter")  # doctest: +SKIP
        >>> runner.run_array(np.zeros((1, 3, 64, 64), np.float32)).shape  # doctest: +SKIP
        (1, 1, 64, 64)
    """

    array_native = True

    def __init__(self, name: str, device: str = "cpu", folder: str | os.PathLike | None = None):
        from automatte.shipped import ONNX_SHA_KEY, get_shipped, shipped_onnx

        path = get_shipped(name, folder).path.with_suffix(".onnx")
        if not path.is_file():
            raise ValueError(f"{path}: shipped model {name!r} has no ONNX graph (python tools/export_onnx.py {name})")
        super().__init__(path, device, name=name)
        recorded = self.session.get_modelmeta().custom_metadata_map.get(ONNX_SHA_KEY)
        shipped_onnx(name, folder, recorded=recorded)  # raises on a stale graph


_DEFAULT_REFINER: dict[str, TorchRunner] = {}


def default_refiner():
    """The refiner of a pipeline that has none (a user trimap given to a one-stage network): the shipped refiner
    network's :class:`TorchRunner`, loaded once, else ``"cf"`` (closed-form matting)."""
    from automatte.shipped import default_model_name, load_shipped

    name = default_model_name("refiner")
    if name is None:
        return "cf"
    if name not in _DEFAULT_REFINER:
        _DEFAULT_REFINER[name] = TorchRunner(load_shipped(name))
    return _DEFAULT_REFINER[name]


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
    """The runner of a network: PyTorch for ``backend`` ``"torch"`` and ``"auto"`` (which prefers ONNX Runtime only
    for shipped graphs: :func:`automatte.infer.loading.load_model`), else its ONNX export under ONNX Runtime."""
    if backend in ("torch", "auto"):
        return TorchRunner(net, device)
    if backend != "onnx":
        raise ValueError(f"backend must be 'auto', 'torch' or 'onnx', got {backend!r}")
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
