"""`automatte convert`: the authors' checkpoint layouts (AIM-Net .pth, ViTMatte detectron2 pickle, PP-Matting
PaddleSeg .pdparams, GCA .pth) -> safetensors -> `automatte predict --model FILE`, equal to a direct load."""

from __future__ import annotations

import json
import pickle
import re
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from test_aimnet import _to_official as aim_to_official  # tests/models: the authors' AIM names, written apart
from test_gca import _to_official as gca_to_official

from automatte.cli import main
from automatte.infer.pipeline import Pipeline
from automatte.infer.runners import TorchRunner
from automatte.models.backbones.hrnet import SamePadConv2d
from automatte.models.convert import FAMILIES, network_from_file, read_array_pickle, read_checkpoint
from automatte.registry import create_model


def _randomise(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and BatchNorm statistics on a 1/64 grid (sums of them are exact in float32)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if not t.is_floating_point():
                continue
            v = torch.randn(t.shape, generator=g) * 0.5
            if name.endswith("running_var"):
                v = v.abs() + 0.5
            t.copy_(torch.round(v * 64) / 64)
    return net.eval()


def _photo(path, size=(64, 96)):
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _predict_alpha(tmp_path, model: str, *extra: str) -> np.ndarray:
    out = tmp_path / "out"
    code = main(["predict", str(tmp_path / "photo.png"), "-o", str(out), "--model", model, "--save", "alpha",
                 "--foreground", "none", "--overwrite", "-q", *extra])  # fmt: skip
    assert code == 0
    return np.asarray(Image.open(out / "photo_alpha.png"))


def _direct_alpha(tmp_path, net, inference: dict, **call) -> np.ndarray:
    """The same pipeline on a network loaded directly (no file)."""
    key = "refiner" if "trimap" in net.model_inputs else "matting"
    pipeline = Pipeline("direct", **{key: TorchRunner(net.eval())}, foreground="none", **inference)
    matte = pipeline(str(tmp_path / "photo.png"), **call)
    return np.asarray(Image.open(__import__("io").BytesIO(matte.png("alpha"))))


def _same_network(a, b, **inputs):
    with torch.no_grad():
        assert torch.equal(a(**inputs).alpha, b(**inputs).alpha)


# ------------------------------------------------------------------------------------------ AIM-Net
def test_aim_authors_pth_converts_and_predicts_as_a_direct_load(tmp_path):
    src = _randomise(create_model("aimnet_test"))
    with torch.no_grad():
        for se in src.se:  # the authors' SE linears have no bias
            se.fc[0].bias.zero_()
            se.fc[2].bias.zero_()
    authors = aim_to_official(src.state_dict())
    assert "decoder4_g.0.weight" in authors and "bridge_block.0.weight" in authors
    torch.save({"state_dict": {"module." + k: v for k, v in authors.items()}}, tmp_path / "aim.pth")
    direct = create_model("aimnet_test", pretrained=tmp_path / "aim.pth").eval()

    dst = tmp_path / "aim.safetensors"
    assert main(["convert", str(tmp_path / "aim.pth"), str(dst), "--from", "aim", "--arch", "aimnet_test"]) == 0
    state, info = read_checkpoint(dst)
    assert info == {"arch": "aimnet_test", "kwargs": {}, "inference": {"strategy": "hybrid"}}
    for k, v in direct.state_dict().items():
        assert torch.equal(state[k], v), k
    net, inference = network_from_file(dst)
    _same_network(net, direct, image=torch.rand(1, 3, 64, 96))

    _photo(tmp_path / "photo.png", (96, 128))
    got = _predict_alpha(tmp_path, str(dst))
    assert np.array_equal(got, _direct_alpha(tmp_path, direct, inference))
    # the authors' file itself loads too (the mapping applied on the fly), as do --arch and load_model
    assert np.array_equal(_predict_alpha(tmp_path, str(tmp_path / "aim.pth"), "--arch", "aimnet_test"), got)


def test_aim_authors_file_without_arch_guesses_the_full_network(tmp_path):
    with torch.device("meta"):
        authors = aim_to_official(create_model("aimnet").state_dict())
    assert FAMILIES["aim"].detect(authors) and FAMILIES["aim"].arch(authors) == "aimnet"


# ------------------------------------------------------------------------------------------ ViTMatte
def _vitmatte_detectron2(net) -> dict[str, np.ndarray]:
    """Our names -> detectron2 ViTMatte's (Basic_Conv3x3 ``conv`` / ``bn``), as NumPy arrays."""
    out = {}
    for k, v in net.state_dict().items():
        k = re.sub(r"^decoder\.(convstream\.convs\.\d+|fusion_blks\.\d+\.conv)\.0\.", r"decoder.\1.conv.", k)
        k = re.sub(r"^decoder\.(convstream\.convs\.\d+|fusion_blks\.\d+\.conv)\.1\.", r"decoder.\1.bn.", k)
        out[k] = v.numpy().copy()
    return out


def test_vitmatte_detectron2_pickle_converts_and_predicts_as_a_direct_load(tmp_path):
    src = _randomise(create_model("vitmatte_test"))
    authors = _vitmatte_detectron2(src)
    for key in ("backbone.pos_embed", "backbone.blocks.1.residual.norm3.weight", "decoder.fusion_blks.0.conv.conv.weight",
                "decoder.convstream.convs.2.bn.running_var", "decoder.matting_head.matting_convs.3.bias"):  # fmt: skip
        assert key in authors, key
    with (tmp_path / "vitmatte.pkl").open("wb") as f:  # detectron2's model-zoo pickle
        pickle.dump({"model": authors, "__author__": "test", "matching_heuristics": True}, f)
    direct = create_model("vitmatte_test").eval()
    direct.load_pretrained({k: torch.from_numpy(v) for k, v in authors.items()})

    dst = tmp_path / "vitmatte.safetensors"
    args = ["convert", str(tmp_path / "vitmatte.pkl"), str(dst), "--from", "vitmatte", "--arch", "vitmatte_test"]
    assert main(args) == 0
    net, inference = network_from_file(dst)
    image, trimap = torch.rand(1, 3, 64, 96), torch.full((1, 1, 64, 96), 0.5)
    trimap[..., :20, :] = 0
    trimap[..., 44:, :] = 1
    _same_network(net, direct, image=image, trimap=trimap)

    _photo(tmp_path / "photo.png")
    tri = np.full((64, 96), 128, np.uint8)
    tri[:20], tri[44:] = 0, 255
    Image.fromarray(tri).save(tmp_path / "trimap.png")
    got = _predict_alpha(tmp_path, str(dst), "--trimap", str(tmp_path / "trimap.png"))
    assert np.array_equal(got, _direct_alpha(tmp_path, direct, inference, trimap=str(tmp_path / "trimap.png")))
    # the same checkpoint saved by detectron2's Checkpointer (torch.save of {'model': ...}) reads the same
    torch.save({"model": {k: torch.from_numpy(v) for k, v in authors.items()}, "iteration": 3}, tmp_path / "v.pth")
    assert read_checkpoint(tmp_path / "v.pth")[0].keys() == read_checkpoint(tmp_path / "vitmatte.pkl")[0].keys()


def test_vitmatte_arch_from_the_patch_embedding():
    with torch.device("meta"):
        s = {"backbone." + k: v for k, v in create_model("vitmatte_s").backbone.state_dict().items()}
    assert FAMILIES["vitmatte"].arch(s) == "vitmatte_s"
    s["backbone.patch_embed.proj.weight"] = torch.zeros(768, 4, 16, 16)
    with pytest.raises(ValueError, match="ViTMatte-S only"):
        FAMILIES["vitmatte"].arch(s)


# ------------------------------------------------------------------------------------------ PP-Matting
def _paddle_bn(prefix: str, sd: dict, ours: str) -> dict:
    return {
        f"{prefix}._batch_norm.weight": sd[f"{ours}.weight"],
        f"{prefix}._batch_norm.bias": sd[f"{ours}.bias"],
        f"{prefix}._batch_norm._mean": sd[f"{ours}.running_mean"],
        f"{prefix}._batch_norm._variance": sd[f"{ours}.running_var"],
    }


def _paddle_hrnet(sd: dict) -> dict:
    """Our HRNet names -> PaddleSeg's (``backbone.`` prefix added by the caller), written from PaddleSeg's
    hrnet.py (add_sublayer names), independently of map_paddle_hrnet_keys."""
    out = {}
    for k in sd:
        if not k.endswith(".weight") or sd[k].dim() != 4:
            continue
        conv = k[: -len(".weight")]
        if m := re.fullmatch(r"conv([12])", conv):
            p, bn = f"conv_layer1_{m[1]}", f"bn{m[1]}"
        elif m := re.fullmatch(r"layer1\.(\d+)\.conv([123])", conv):
            p, bn = f"la1.bb_layer2_{int(m[1]) + 1}.conv{m[2]}", f"layer1.{m[1]}.bn{m[2]}"
        elif m := re.fullmatch(r"layer1\.(\d+)\.downsample\.0", conv):
            p, bn = f"la1.bb_layer2_{int(m[1]) + 1}.conv_down", f"layer1.{m[1]}.downsample.1"
        elif m := re.fullmatch(r"transition(\d)\.(\d+)\.(?:0\.)?0", conv):
            p, bn = f"tr{m[1]}.transition_tr{m[1]}_layer_{int(m[2]) + 1}", conv[:-1] + "1"
        elif m := re.fullmatch(r"stage(\d)\.(\d+)\.branches\.(\d+)\.(\d+)\.conv([12])", conv):
            s, mod, i, j = m[1], int(m[2]) + 1, int(m[3]) + 1, int(m[4]) + 1
            p = f"st{s}.stage_st{s}_{mod}.branches_func.bb_st{s}_{mod}_branch_layer_{i}_{j}.conv{m[5]}"
            bn = conv[:-5] + f"bn{m[5]}"
        elif m := re.fullmatch(r"stage(\d)\.(\d+)\.fuse_layers\.(\d+)\.(\d+)\.(?:(\d+)\.)?0", conv):
            s, mod, i, j = m[1], int(m[2]) + 1, int(m[3]) + 1, int(m[4]) + 1
            step = "" if m[5] is None else f"_{int(m[5]) + 1}"
            p, bn = f"st{s}.stage_st{s}_{mod}.fuse_func.residual_st{s}_{mod}_layer_{i}_{j}{step}", conv[:-1] + "1"
        else:
            raise AssertionError(f"unmapped HRNet key {k}")
        out[f"{p}._conv.weight"] = sd[k]
        out.update(_paddle_bn(p, sd, bn))
    return out


def _paddle_ppmatting(net) -> dict[str, np.ndarray]:
    """Our PP-Matting -> PaddleSeg's Matting/ppmatting/models/ppmatting.py layout (SCB, HRDB), values adapted
    back: conv biases before BN (running mean shifted by them), fg / transition / bg head order, PPM order
    [x, pool_5, pool_3, pool_1], gate input order [detail, guide], detail conv without bias."""
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    g = torch.Generator().manual_seed(7)
    out = {
        "backbone." + k: v
        for k, v in _paddle_hrnet({k[8:]: v for k, v in sd.items() if k.startswith("encoder.")}).items()
    }

    def conv_bn_relu(paddle: str, ours: str, bias: bool = True):  # PaddleSeg's layers.ConvBNReLU (conv bias on)
        out[f"{paddle}._conv.weight"] = sd[f"{ours}.0.weight"]
        out.update(_paddle_bn(paddle, sd, f"{ours}.1"))
        if bias:
            b = torch.round(torch.randn(sd[f"{ours}.0.weight"].shape[0], generator=g) * 32) / 64
            out[f"{paddle}._conv.bias"] = b
            out[f"{paddle}._batch_norm._mean"] = sd[f"{ours}.1.running_mean"] + b

    n_bins = len(net.scb.ppm.branches)
    for i in range(n_bins):
        conv_bn_relu(f"scb.psp_module.stages.{i}.1", f"scb.ppm.branches.{i}")
    conv_bn_relu("scb.psp_module.conv_bn_relu2", "scb.ppm.fuse")
    w = out["scb.psp_module.conv_bn_relu2._conv.weight"]
    chunks = w.split(w.shape[1] // (n_bins + 1), dim=1)
    out["scb.psp_module.conv_bn_relu2._conv.weight"] = torch.cat([chunks[0], *chunks[1:][::-1]], dim=1)
    for i in range(4):
        conv_bn_relu(f"scb.psps.{i}.0", f"scb.ppm_guides.{i}")
    for k in range(5):
        for j in range(3):
            conv_bn_relu(f"scb.scb_stages.{k}.{j}", f"scb.blocks.{k}.convs.{j}")
    conv_bn_relu("scb.scb_stages.5.0", "scb.head.0")
    conv_bn_relu("scb.scb_stages.5.1", "scb.head.1")
    out["scb.scb_stages.5.2.weight"] = sd["scb.head.2.weight"].flip(0)
    out["scb.scb_stages.5.2.bias"] = sd["scb.head.2.bias"].flip(0)
    for k in range(3):
        blk = f"hrdb.blocks.{k}"
        for paddle, conv, bn in (
            ("conv0", "conv1", "bn1"),
            ("conv1", "conv2", "bn2"),
            ("short", "downsample.0", "downsample.1"),
        ):
            if f"{blk}.{conv}.weight" in sd:
                out[f"hrdb.res_list.{k}.{paddle}._conv.weight"] = sd[f"{blk}.{conv}.weight"]
                out.update(_paddle_bn(f"hrdb.res_list.{k}.{paddle}", sd, f"{blk}.{bn}"))
        out[f"hrdb.convs.{k}.weight"], out[f"hrdb.convs.{k}.bias"] = (
            sd[f"hrdb.convs.{k}.weight"],
            sd[f"hrdb.convs.{k}.bias"],
        )
        gate = f"hrdb.gates.{k}"
        out[f"hrdb.gf_list.{k}.weight"], out[f"hrdb.gf_list.{k}.bias"] = (
            sd[f"{gate}.project.weight"],
            sd[f"{gate}.project.bias"],
        )
        for param, paddle in (
            ("weight", "weight"),
            ("bias", "bias"),
            ("running_mean", "_mean"),
            ("running_var", "_variance"),
        ):
            v = sd[f"{gate}.gate.0.{param}"]
            out[f"{gate}._gate_conv.0.{paddle}"] = torch.cat([v[1:], v[:1]])  # [guide, detail] -> [detail, guide]
            out[f"{gate}._gate_conv.4.{paddle}"] = sd[f"{gate}.gate.4.{param}"]
        w = sd[f"{gate}.gate.1.weight"]
        out[f"{gate}._gate_conv.1.weight"] = torch.cat([w[:, 1:], w[:, :1]], dim=1)
        out[f"{gate}._gate_conv.1.bias"] = sd[f"{gate}.gate.1.bias"]
        out[f"{gate}._gate_conv.3.weight"], out[f"{gate}._gate_conv.3.bias"] = (
            sd[f"{gate}.gate.3.weight"],
            sd[f"{gate}.gate.3.bias"],
        )
        out[f"{gate}.conv.weight"] = sd[f"{gate}.weight.weight"]
    out["hrdb.detail_conv.weight"] = sd["hrdb.detail_conv.weight"]
    return {k: v.numpy().copy() for k, v in out.items()}


def _paddle_save(state: dict[str, np.ndarray], path) -> None:
    """What paddle.save(layer.state_dict(), path) writes (Paddle's framework/io.py: _build_saved_state_dict): a
    protocol-4 pickle of name -> ndarray plus the structured-name -> parameter-name table."""
    table = {k: f"param_{i}" for i, k in enumerate(state)}
    with open(path, "wb") as f:
        pickle.dump({**state, "StructuredToParameterName@@": table}, f, protocol=4)


def test_ppmatting_pdparams_converts_and_predicts_as_a_direct_load(tmp_path):
    kwargs = FAMILIES["ppmatting"].kwargs
    src = _randomise(create_model("ppmatting_test", **kwargs))
    with torch.no_grad():
        src.hrdb.detail_conv.bias.zero_()  # PaddleSeg's detail conv has no bias
    authors = _paddle_ppmatting(src)
    for key in ("backbone.conv_layer1_1._conv.weight", "backbone.la1.bb_layer2_1.conv_down._batch_norm._variance",
                "backbone.tr1.transition_tr1_layer_2._conv.weight",
                "backbone.st4.stage_st4_1.fuse_func.residual_st4_1_layer_4_1_3._conv.weight",
                "backbone.st3.stage_st3_1.branches_func.bb_st3_1_branch_layer_3_1.conv2._batch_norm._mean",
                "scb.psp_module.conv_bn_relu2._conv.bias", "scb.scb_stages.5.2.weight", "hrdb.res_list.0.short._conv.weight",
                "hrdb.gates.2._gate_conv.4._variance", "hrdb.gf_list.1.weight"):  # fmt: skip
        assert key in authors, key
    _paddle_save(authors, tmp_path / "model.pdparams")
    assert "StructuredToParameterName@@" in read_array_pickle(tmp_path / "model.pdparams")
    direct = create_model("ppmatting_test", **kwargs)
    direct.load_state_dict(src.state_dict())  # the direct load: the weights the authors' file was made from

    dst = tmp_path / "ppm.safetensors"
    args = ["convert", str(tmp_path / "model.pdparams"), str(dst), "--from", "ppmatting", "--arch", "ppmatting_test"]
    assert main(args) == 0
    state, info = read_checkpoint(dst)
    assert info["kwargs"] == {"mean": [0.5] * 3, "std": [0.5] * 3, "same_padding": True}
    for k, v in src.state_dict().items():
        assert torch.equal(state[k], v), k  # every rename, reorder and bias fold undone exactly
    net, inference = network_from_file(dst)
    assert isinstance(net.encoder.conv1, SamePadConv2d) and torch.equal(net.mean.flatten(), torch.full((3,), 0.5))
    _same_network(net, direct.eval(), image=torch.rand(1, 3, 64, 96))

    _photo(tmp_path / "photo.png")
    got = _predict_alpha(tmp_path, str(dst))
    assert np.array_equal(got, _direct_alpha(tmp_path, direct, inference))
    assert np.array_equal(_predict_alpha(tmp_path, str(tmp_path / "model.pdparams"), "--arch", "ppmatting_test"), got)


def test_same_padding_is_paddles_on_even_sizes():
    conv = SamePadConv2d(2, 3, 3, 2, 0, bias=False)
    x = torch.randn(1, 2, 8, 10)
    ref = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2)  # Paddle 'SAME': pad_sum 1 -> (0, 1)
    assert torch.equal(conv(x), ref) and conv(x).shape[-2:] == (4, 5)
    plain = torch.nn.Conv2d(2, 3, 3, 2, 1, bias=False)
    plain.weight.data.copy_(conv.weight)
    assert not torch.allclose(plain(x), ref)  # the symmetric padding would shift every output


# ------------------------------------------------------------------------------------------ GCA
def test_gca_authors_pth_converts(tmp_path):
    torch.manual_seed(0)
    src = _randomise(create_model("gca_test"))
    torch.save({"state_dict": gca_to_official(src.state_dict())}, tmp_path / "gca.pth")
    dst = tmp_path / "gca.safetensors"
    assert main(["convert", str(tmp_path / "gca.pth"), str(dst), "--from", "gca", "--arch", "gca_test"]) == 0
    direct = create_model("gca_test", pretrained=tmp_path / "gca.pth").eval()
    net, _ = network_from_file(dst)
    image, trimap = torch.rand(1, 3, 64, 64), torch.full((1, 1, 64, 64), 0.5)
    _same_network(net, direct, image=image, trimap=trimap)


# ------------------------------------------------------------------------------------------ errors, readers
def test_errors_name_the_file_and_the_expectation(tmp_path, capsys):
    torch.save({"state_dict": create_model("aimnet_test").state_dict()}, tmp_path / "ours.pth")
    assert main(["convert", str(tmp_path / "ours.pth"), str(tmp_path / "x.safetensors"), "--from", "aim"]) == 2
    assert "not in the aim authors' key layout" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "nope.pth"), str(tmp_path / "x.safetensors"), "--from", "aim"]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    torch.save({"state_dict": aim_to_official(create_model("aimnet_test").state_dict())}, tmp_path / "aim.pth")
    assert main(["convert", str(tmp_path / "aim.pth"), str(tmp_path / "x.safetensors"), "--from", "aim"]) == 2
    err = capsys.readouterr().err  # guessed the full aimnet: the tiny tensors do not fit it
    assert "aim.pth" in err and "aimnet" in err and "shape mismatch" in err
    assert not (tmp_path / "x.safetensors").exists()
    args = [
        "convert",
        str(tmp_path / "aim.pth"),
        str(tmp_path / "x.safetensors"),
        "--from",
        "aim",
        "--arch",
        "gca_test",
    ]
    assert main(args) == 2 and "not a aim architecture" in capsys.readouterr().err


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    (tmp_path / "evil.pdparams").write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(ValueError, match="refused global builtins.print"):
        read_array_pickle(tmp_path / "evil.pdparams")


def test_paddle_big_parameter_slices_are_joined(tmp_path):
    whole = np.arange(12, dtype=np.float32).reshape(3, 4)
    flat = whole.reshape(-1)
    obj = {
        "w@@.0": flat[:5],
        "w@@.1": flat[5:],
        "UnpackBigParamInfor@@": {"w": {"OriginShape": (3, 4), "slices": ["w@@.0", "w@@.1"]}},
    }
    (tmp_path / "big.pdparams").write_bytes(pickle.dumps(obj, protocol=2))
    state, _ = read_checkpoint(tmp_path / "big.pdparams")
    assert list(state) == ["w"] and torch.equal(state["w"], torch.from_numpy(whole))


def test_converted_metadata_is_json(tmp_path):
    torch.save(aim_to_official(_randomise(create_model("aimnet_test")).state_dict()), tmp_path / "a.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        main(
            [
                "convert",
                str(tmp_path / "a.pth"),
                str(tmp_path / "a.safetensors"),
                "--from",
                "aim",
                "--arch",
                "aimnet_test",
            ]
        )
    from safetensors import safe_open

    with safe_open(str(tmp_path / "a.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert (
        meta["format"] == "automatte-convert/1" and meta["source_family"] == "aim" and len(meta["source_sha256"]) == 64
    )
    assert json.loads(meta["inference"]) == {"strategy": "hybrid"}


def test_cli_names_every_family():
    """The CLI names the families itself (building its parser imports no PyTorch): the same as FAMILIES."""
    from automatte.cli import CONVERT_FAMILIES

    assert CONVERT_FAMILIES == tuple(sorted(FAMILIES))
