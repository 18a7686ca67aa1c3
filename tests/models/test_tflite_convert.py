"""TFLite -> safetensors converter: kernel reordering, dequantisation, errors; agreement with the TFLite
interpreter on real photos (``data`` tests: they need ``../shared/data``; converted files go to tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from automatte.models.backbones.tflite_convert import convert_tflite, dequantize, reorder_kernel


def test_conv_kernel_ohwi_to_oihw():
    w = np.arange(2 * 3 * 5 * 4).reshape(2, 3, 5, 4)  # O, H, W, I
    out = reorder_kernel(w, "CONV_2D")
    assert out.shape == (2, 4, 3, 5)
    for o, i, h, x in [(0, 0, 0, 0), (1, 3, 2, 4), (1, 2, 0, 3)]:
        assert out[o, i, h, x] == w[o, h, x, i]


def test_depthwise_kernel_to_c1hw():
    w = np.arange(3 * 3 * 6).reshape(1, 3, 3, 6)  # 1, H, W, C
    out = reorder_kernel(w, "DEPTHWISE_CONV_2D")
    assert out.shape == (6, 1, 3, 3)
    assert out[5, 0, 2, 1] == w[0, 2, 1, 5] and out[0, 0, 0, 0] == w[0, 0, 0, 0]
    fc = np.arange(6).reshape(2, 3)
    assert np.array_equal(reorder_kernel(fc, "FULLY_CONNECTED"), fc)
    with pytest.raises(ValueError, match="ADD"):
        reorder_kernel(fc, "ADD")


def test_dequantize_per_tensor_and_per_channel():
    q = np.array([[0, 128, 255]], np.uint8)
    assert dequantize(q, [1 / 128], [128]).tolist() == [[-1.0, 0.0, 127 / 128]]
    # per channel along axis 3 (depthwise layout), zero points 0
    q = np.array([1, 2, 3, 4], np.int8).reshape(1, 1, 1, 4)
    assert dequantize(q, [1.0, 0.5, 0.25, 2.0], [0, 0, 0, 0], axis=3).ravel().tolist() == [1.0, 1.0, 0.75, 8.0]
    assert dequantize(np.array([3], np.int32), None, None).tolist() == [3.0]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="arch"):
        convert_tflite(tmp_path / "x.tflite", tmp_path / "x.safetensors", "resnet")
    with pytest.raises(FileNotFoundError):
        convert_tflite(tmp_path / "missing.tflite", tmp_path / "x.safetensors", "mobilenet_v2")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError):
        convert_tflite(bad, tmp_path / "x.safetensors", "mobilenet_v2")
    assert not (tmp_path / "x.safetensors").exists()


# ------------------------------------------------------------------------------------- data tests
def _photos(data: Path, n_coarse: int) -> list[Path]:
    """The alphamatting examples plus ``n_coarse`` photos spread evenly over the coarse sets."""
    photos = sorted((data / "examples").rglob("*.jpg"))
    sets = sorted(p for p in (data / "coarse").glob("*/image") if p.is_dir())
    for k, folder in enumerate(sets):
        files = sorted(folder.iterdir())
        take = n_coarse // len(sets) + (k < n_coarse % len(sets))
        photos += [files[int(i)] for i in np.linspace(0, len(files) - 1, take)] if take else []
    return photos


def _rgb(path: Path) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _center_crop_224(img: np.ndarray) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    s = 256 / min(h, w)
    img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[(h - 224) // 2 : (h - 224) // 2 + 224, (w - 224) // 2 : (w - 224) // 2 + 224])


def _interpreter(path: Path):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    it = litert.Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    return it


def _run(it, x: np.ndarray) -> np.ndarray:
    it.set_tensor(it.get_input_details()[0]["index"], x[None])
    it.invoke()
    out = it.get_output_details()[0]
    return it.get_tensor(out["index"])[0]


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255


@pytest.mark.data
@pytest.mark.parametrize("name", ["tf2_mobilenet_v2_1.0_224_ptq", "mobilenet_v2_1.0_224_quant"])
def test_mobilenet_v2_top1_agrees_with_tflite(shared_data, tmp_path, name):
    from automatte.models.backbones.mobilenetv2 import MobileNetV2Classifier

    src = shared_data / "weights" / f"{name}.tflite"
    report = convert_tflite(src, tmp_path / "mnv2.safetensors", "mobilenet_v2")
    assert report["num_classes"] == 1001 and report["convs"] == 53 and report["output_stride"] == 32
    from safetensors import safe_open

    with safe_open(str(tmp_path / "mnv2.safetensors"), "pt") as f:
        meta = f.metadata()
    assert (
        meta["arch"] == "mobilenet_v2"
        and len(meta["source_sha256"]) == 64
        and int(meta["tflite_ops"]) == report["tflite_ops"]
    )
    torch.set_num_threads(1)
    net = MobileNetV2Classifier(
        1001, folded=True, tf_same_padding=True, pretrained=tmp_path / "mnv2.safetensors"
    ).eval()
    it = _interpreter(src)
    same = 0
    photos = _photos(shared_data, 12)
    for p in photos:
        x = _center_crop_224(_rgb(p))
        with torch.no_grad():
            ours = net(_tensor(x))[0].argmax().item()
        same += int(ours == int(_run(it, x).argmax()))
    assert same / len(photos) >= 0.9, f"{name}: top-1 agreement {same}/{len(photos)}"


@pytest.mark.data
def test_deeplab_labels_agree_with_tflite(shared_data, tmp_path):
    import cv2

    from automatte.registry import create_model

    src = shared_data / "weights" / "deeplabv3_mnv2_pascal_quant.tflite"
    report = convert_tflite(src, tmp_path / "dl.safetensors", "deeplabv3_mnv2_voc")
    assert report["num_classes"] == 21 and report["output_stride"] == 16 and report["input_zero_point"] == 128
    torch.set_num_threads(1)
    net = create_model("deeplabv3_mnv2_voc", pretrained=tmp_path / "dl.safetensors").eval()
    it = _interpreter(src)
    agree, total = 0, 0
    for p in _photos(shared_data, 12):
        x = cv2.resize(_rgb(p), (513, 513), interpolation=cv2.INTER_LINEAR)
        with torch.no_grad():
            ours = net(image=_tensor(x)).extras["logits"][0].argmax(0).numpy()
        theirs = _run(it, x)
        agree += int((ours == theirs).sum())
        total += ours.size
    assert agree / total >= 0.97, f"pixel agreement {agree / total:.4f}"


@pytest.mark.data
def test_wrong_arch_names_the_mismatch(shared_data, tmp_path):
    with pytest.raises(ValueError, match="DeepLab head"):
        convert_tflite(
            shared_data / "weights" / "mobilenet_v2_1.0_224_quant.tflite",
            tmp_path / "x.safetensors",
            "deeplabv3_mnv2_voc",
        )
    with pytest.raises(ValueError, match="after the backbone"):
        convert_tflite(
            shared_data / "weights" / "deeplabv3_mnv2_pascal_quant.tflite", tmp_path / "x.safetensors", "mobilenet_v2"
        )


@pytest.mark.data
def test_structure_mismatch_names_the_op(shared_data):
    from automatte.models.backbones.mobilenetv2 import MobileNetV2
    from automatte.models.backbones.tflite_convert import TFLiteGraph, _backbone

    graph = TFLiteGraph(shared_data / "weights" / "mobilenet_v2_1.0_224_quant.tflite")
    convs = [op for op in graph.ops if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    with pytest.raises(ValueError, match=r"TFLite op #0 CONV_2D, weights .*features\.0\.0: weight shape"):
        _backbone(graph, convs, MobileNetV2(width_mult=0.5, folded=True, tf_same_padding=True), "")
    with pytest.raises(ValueError, match=r"features\.14\.conv\.1\.0: stride"):  # an output-stride-16 build
        _backbone(graph, convs, MobileNetV2(output_stride=16, folded=True, tf_same_padding=True), "")
