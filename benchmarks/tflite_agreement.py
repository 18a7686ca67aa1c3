"""Agreement of the converted torch models with the TFLite interpreter on real photos.

Converts the three TFLite files of ``../shared/data/weights`` (into a temporary folder: converted files are
build products, never part of the repository) and runs both sides on every photo of
``../shared/data/examples`` plus ``--coarse`` photos spread evenly over ``../shared/data/coarse/*/image``:

* MobileNetV2 (int8 per-channel TF2 file and uint8 TF1 file): 256-short-side resize, 224 centre crop.
  Top-1 agreement, mean top-5 overlap (|top5 ∩ top5| / 5), mean and max |logit difference| (the TFLite
  logits are the dequantised input of its SOFTMAX op).
* DeepLabv3-MobileNetV2 VOC: 513x513 resize. Pixel agreement of the argmax labels (TFLite's ArgMax output vs
  ours), per-photo minimum, mean |logit difference| on the 33x33 logits (the dequantised output of the
  TFLite logits conv vs ours before the up-sampling).

The TFLite side is quantised (uint8 / int8 arithmetic); ours runs the dequantised weights in float32, so
small differences are expected.

    .venv/bin/python benchmarks/tflite_agreement.py [--data ../shared/data] [--coarse 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from automatte.models.backbones.mobilenetv2 import MobileNetV2Classifier
from automatte.models.backbones.tflite_convert import TFLiteGraph, convert_tflite
from automatte.registry import create_model

REPO = Path(__file__).resolve().parents[1]


def photos(data: Path, n_coarse: int) -> list[Path]:
    """Every example photo plus ``n_coarse`` photos spread evenly over the coarse sets."""
    out = sorted((data / "examples").rglob("*.jpg"))
    sets = sorted(p for p in (data / "coarse").glob("*/image") if p.is_dir())
    for k, folder in enumerate(sets):
        files = sorted(folder.iterdir())
        take = n_coarse // len(sets) + (k < n_coarse % len(sets))
        out += [files[int(i)] for i in np.linspace(0, len(files) - 1, take)] if take else []
    return out


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def center_crop_224(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = 256 / min(h, w)
    img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[(h - 224) // 2 : (h - 224) // 2 + 224, (w - 224) // 2 : (w - 224) // 2 + 224])


def to_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255


class Reference:
    """The TFLite interpreter keeping intermediate tensors, with one tensor read back dequantised."""

    def __init__(self, path: Path, probe: int):
        from ai_edge_litert.interpreter import Interpreter

        with warnings.catch_warnings():  # "intended for debugging": exactly our use
            warnings.simplefilter("ignore", UserWarning)
            self.it = Interpreter(model_path=str(path), num_threads=1, experimental_preserve_all_tensors=True)
        self.it.allocate_tensors()
        self.probe = probe
        detail = next(d for d in self.it.get_tensor_details() if d["index"] == probe)
        self.scale, self.zero = detail["quantization"]

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.it.set_tensor(self.it.get_input_details()[0]["index"], x[None])
        self.it.invoke()
        out = self.it.get_tensor(self.it.get_output_details()[0]["index"])[0]
        probe = self.it.get_tensor(self.probe)[0].astype(np.float64)
        return out, (probe - self.zero) * self.scale if self.scale else probe


def classifier_figures(src: Path, tmp: Path, images: list[Path]) -> dict:
    target = tmp / f"{src.stem}.safetensors"
    convert_tflite(src, target, "mobilenet_v2")
    graph = TFLiteGraph(src)
    softmax = next(op for op in graph.ops if op.type == "SOFTMAX")
    ref = Reference(src, softmax.inputs[0])
    net = MobileNetV2Classifier(1001, folded=True, tf_same_padding=True, pretrained=target).eval()
    top1, top5, diffs = [], [], []
    for path in images:
        x = center_crop_224(rgb(path))
        _, theirs = ref(x)
        with torch.no_grad():
            ours = net(to_tensor(x))[0].double().numpy()
        top1.append(int(ours.argmax() == theirs.argmax()))
        top5.append(len(set(np.argsort(-ours)[:5]) & set(np.argsort(-theirs, kind="stable")[:5])) / 5)
        diffs.append(np.abs(ours - theirs.ravel()))
    diffs = np.concatenate(diffs)
    return {
        "photos": len(images),
        "top-1 agreement %": 100 * np.mean(top1),
        "top-5 overlap %": 100 * np.mean(top5),
        "mean |logit diff|": diffs.mean(),
        "max |logit diff|": diffs.max(),
    }


def deeplab_figures(src: Path, tmp: Path, images: list[Path]) -> dict:
    target = tmp / f"{src.stem}.safetensors"
    convert_tflite(src, target, "deeplabv3_mnv2_voc")
    graph = TFLiteGraph(src)
    logits_op = [op for op in graph.ops if op.type == "CONV_2D"][-1]
    ref = Reference(src, logits_op.outputs[0])
    net = create_model("deeplabv3_mnv2_voc", pretrained=target).eval()
    agree, per_photo, diffs = 0, [], []
    for path in images:
        x = cv2.resize(rgb(path), (513, 513), interpolation=cv2.INTER_LINEAR)
        labels, theirs = ref(x)
        with torch.no_grad():
            out = net(image=to_tensor(x))
            low = net.classifier(net.aspp(out.features[-1]))[0].permute(1, 2, 0).double().numpy()
        ours = out.extras["logits"][0].argmax(0).numpy()
        same = int((ours == labels).sum())
        agree += same
        per_photo.append(same / ours.size)
        diffs.append(np.abs(low - theirs).ravel())
    diffs = np.concatenate(diffs)
    return {
        "photos": len(images),
        "pixel agreement %": 100 * agree / (len(images) * 513 * 513),
        "worst photo %": 100 * min(per_photo),
        "mean |logit diff|": diffs.mean(),
        "max |logit diff|": diffs.max(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("AUTOMATTE_SHARED_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default, help=f"shared data folder (default {default})")
    parser.add_argument("--coarse", type=int, default=100, help="photos taken from the coarse sets (default 100)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    weights = args.data / "weights"
    if not weights.is_dir():
        print(f"tflite_agreement: {weights} not found (pass --data)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    images = photos(args.data, args.coarse)
    with tempfile.TemporaryDirectory(prefix="automatte-tflite-") as tmp:
        for name, fn in (
            ("tf2_mobilenet_v2_1.0_224_ptq", classifier_figures),
            ("mobilenet_v2_1.0_224_quant", classifier_figures),
            ("deeplabv3_mnv2_pascal_quant", deeplab_figures),
        ):
            start = time.perf_counter()
            figures = fn(weights / f"{name}.tflite", Path(tmp), images)
            cells = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
            print(f"{name}: {cells} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
