"""TGN specifics: the 5-channel input (RGB + [1 - mask, mask]), DeepLabv3 encoder (OS16, ASPP rates),
the swapped upsampling / final convolution, the soft-trimap alpha, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from automatte.models.tgn import TGN, soft_trimap, tgn_test, two_channel_mask
from automatte.ops.coarse import two_channel_segmentation


def test_two_channel_mask_matches_ops():
    mask = np.array([[0.0, 0.25], [0.8, 1.0]], np.float32)
    ours = two_channel_mask(torch.from_numpy(mask)[None, None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, two_channel_segmentation(mask))


def test_input_construction_feeds_rgb_and_two_mask_channels():
    torch.manual_seed(0)
    net = tgn_test().eval()
    assert net.backbone.conv1.in_channels == 5
    seen = {}
    net.backbone.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    image, mask = torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        net(image=image, mask=mask)
    x = seen["x"]
    torch.testing.assert_close(x[:, :3], (image - net.normalize.mean) / net.normalize.std)
    torch.testing.assert_close(x[:, 3:], torch.cat([1 - mask, mask], 1))


def test_output_shapes_and_soft_trimap():
    torch.manual_seed(0)
    net = tgn_test().train()
    image = torch.rand(2, 3, 64, 96)
    mask = torch.rand(2, 1, 64, 96, requires_grad=True)
    out = net(image=image, mask=mask)
    assert out.trimap_logits.shape == (2, 3, 64, 96)
    assert out.alpha.shape == (2, 1, 64, 96) and out.extras["trimap"] is out.alpha
    assert 0 <= out.alpha.min() and out.alpha.max() <= 1
    torch.testing.assert_close(out.alpha, soft_trimap(out.trimap_logits))
    out.alpha.sum().backward()
    assert mask.grad.abs().sum() > 0  # the mask reaches the output


def test_soft_trimap_values():
    big = 30.0
    logits = torch.tensor([[big, 0, 0], [0, big, 0], [0, 0, big], [0, 0, 0]]).T.reshape(1, 3, 1, 4)
    np.testing.assert_allclose(soft_trimap(logits).flatten().numpy(), [0, 0.5, 1, 0.5], atol=1e-6)


def test_deeplabv3_encoder_and_swapped_head():
    net = tgn_test()
    assert net.backbone.strides[-1] == 16  # output stride 16
    dilations = [b[0].dilation[0] for b in net.aspp.branches]
    assert dilations == [1, 6, 12, 18]
    assert net.decoder.dropout.p == 0.5
    assert net.decoder.classifier.kernel_size == (3, 3)  # a 1x1 classifier would commute with the upsampling
    seen = {}
    net.decoder.classifier.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    net.eval()(image=torch.rand(1, 3, 64, 96), mask=torch.rand(1, 1, 64, 96))
    assert seen["x"].shape[-2:] == (64, 96)  # upsampled first, then classified at the input size


def test_full_size_paper_widths():
    with torch.device("meta"):
        net = TGN()
    assert net.backbone.channels == [64, 256, 512, 1024, 2048]
    assert net.decoder.low[0].out_channels == 48


def test_size_check():
    with pytest.raises(ValueError, match="multiples of 32"):
        tgn_test()(image=torch.rand(1, 3, 70, 90), mask=torch.rand(1, 1, 70, 90))


def test_checkpoints(tmp_path):
    torch.manual_seed(0)
    net = tgn_test().eval()
    torch.save(net.state_dict(), tmp_path / "tgn.pth")
    x = dict(image=torch.rand(1, 3, 64, 64), mask=torch.rand(1, 1, 64, 64))
    with torch.no_grad():
        torch.testing.assert_close(tgn_test(pretrained=tmp_path / "tgn.pth").eval()(**x).alpha, net(**x).alpha)
    # a torchvision-named ResNet-50 with an RGB first conv loads into the backbone (mask channels at zero)
    state = {k: v for k, v in net.backbone.state_dict().items()}
    state["conv1.weight"] = state["conv1.weight"][:, :3].clone()
    torch.save(state, tmp_path / "resnet.pth")
    other = tgn_test(pretrained=tmp_path / "resnet.pth")
    assert torch.equal(other.backbone.conv1.weight[:, :3], state["conv1.weight"])
    assert torch.all(other.backbone.conv1.weight[:, 3:] == 0)
    torch.save({"nonsense": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="bad.pth"):
        tgn_test(pretrained=tmp_path / "bad.pth")


def test_deeplabv3plus_starts_as_the_deeplabv3_it_is_loaded_from(tmp_path):
    from safetensors.torch import save_file

    from automatte.models.deeplab import DeepLabV3, DeepLabV3Plus

    torch.manual_seed(0)
    base = DeepLabV3(width_mult=0.25, head_channels=16, folded=True).eval()
    path = tmp_path / "base.safetensors"
    save_file({k: v.contiguous() for k, v in base.state_dict().items()}, str(path))
    plus = DeepLabV3Plus(width_mult=0.25, head_channels=16, decoder_channels=8, folded=True, pretrained=path).eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        a, b = base(image=x), plus(image=x)
    torch.testing.assert_close(a.alpha, b.alpha, atol=1e-5, rtol=0)
    assert b.extras["fg_logit"].shape == (2, 1, 64, 96)
    torch.testing.assert_close(torch.sigmoid(a.extras["fg_logit"]), a.alpha, atol=1e-5, rtol=0)
    # the decoder learns: one step of a loss moves the output
    plus.train()
    loss = plus(image=x).extras["fg_logit"].mean()
    loss.backward()
    assert plus.decoder.out.weight.grad.abs().sum() > 0
    # its own state dict loads strictly (decoder included)
    path2 = tmp_path / "plus.safetensors"
    save_file({k: v.contiguous() for k, v in plus.state_dict().items()}, str(path2))
    again = DeepLabV3Plus(width_mult=0.25, head_channels=16, decoder_channels=8, folded=True, pretrained=path2)
    for k, v in plus.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v)


def _trained_plus(tmp_path):
    """A small DeepLabv3+ whose decoder is non-zero (as trained), and its state saved as safetensors."""
    from safetensors.torch import save_file

    from automatte.models.deeplab import DeepLabV3Plus

    torch.manual_seed(0)
    plus = DeepLabV3Plus(width_mult=0.25, head_channels=16, decoder_channels=8, folded=True).eval()
    torch.nn.init.normal_(plus.decoder.out.weight, std=0.1)
    path = tmp_path / "plus.safetensors"
    save_file({k: v.contiguous() for k, v in plus.state_dict().items()}, str(path))
    return plus, path


def test_deeplabv3plus_fine_starts_as_the_deeplabv3plus_it_is_loaded_from(tmp_path):
    from safetensors.torch import save_file

    from automatte.models.deeplab import DeepLabV3PlusFine

    plus, path = _trained_plus(tmp_path)
    kw = dict(width_mult=0.25, head_channels=16, decoder_channels=8, fine_channels=8, folded=True)
    fine = DeepLabV3PlusFine(**kw, pretrained=path).eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        a, b = plus(image=x), fine(image=x)
    torch.testing.assert_close(a.extras["fg_logit"], b.extras["fg_logit"], atol=1e-5, rtol=0)
    assert b.alpha.shape == (2, 1, 64, 96)
    # the head learns, and once it has, it changes the output at stride 2 (finer than the decoder's stride 4)
    fine.train()
    fine(image=x).extras["fg_logit"].mean().backward()
    assert fine.fine.out.weight.grad.abs().sum() > 0
    torch.nn.init.normal_(fine.fine.out.weight, std=0.5)
    fine.eval()
    with torch.no_grad():
        moved = fine(image=x).extras["fg_logit"]
    assert (moved - a.extras["fg_logit"]).abs().max() > 1e-3
    # its own state dict loads strictly; a state of another layout is refused by name
    path2 = tmp_path / "fine.safetensors"
    save_file({k: v.contiguous() for k, v in fine.state_dict().items()}, str(path2))
    again = DeepLabV3PlusFine(**kw, pretrained=path2).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(image=x).extras["fg_logit"], moved)
    bad = {k: v.contiguous() for k, v in plus.state_dict().items()}
    bad["decoder.extra.weight"] = torch.zeros(1)
    save_file(bad, str(tmp_path / "bad.safetensors"))
    with pytest.raises(KeyError, match="bad.safetensors"):
        DeepLabV3PlusFine(**kw, pretrained=tmp_path / "bad.safetensors")


def test_deeplabv3plus_mid_starts_as_the_deeplabv3plus_it_is_loaded_from(tmp_path):
    from safetensors.torch import save_file

    from automatte.models.deeplab import DeepLabV3PlusMid

    plus, path = _trained_plus(tmp_path)
    kw = dict(width_mult=0.25, head_channels=16, decoder_channels=8, mid_channels=8, folded=True)
    mid = DeepLabV3PlusMid(**kw, pretrained=path).eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        a, b = plus(image=x), mid(image=x)
    torch.testing.assert_close(a.extras["fg_logit"], b.extras["fg_logit"], atol=1e-5, rtol=0)
    assert b.alpha.shape == (2, 1, 64, 96)
    # with the rest frozen, the path learns: its output conv gets a gradient, and the stride-8 feature reaches it
    for name, p in mid.named_parameters():
        p.requires_grad_(name.startswith("mid."))
    mid.train()
    mid(image=x).extras["fg_logit"].mean().backward()
    assert mid.mid.out.weight.grad.abs().sum() > 0
    torch.nn.init.normal_(mid.mid.out.weight, std=0.5)
    mid.zero_grad()
    mid(image=x).extras["fg_logit"].mean().backward()
    assert mid.mid.mid[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for n, p in mid.named_parameters() if not n.startswith("mid."))
    mid.eval()
    with torch.no_grad():
        moved = mid(image=x).extras["fg_logit"]
    assert (moved - a.extras["fg_logit"]).abs().max() > 1e-3
    # its own state dict loads strictly
    path2 = tmp_path / "mid.safetensors"
    save_file({k: v.contiguous() for k, v in mid.state_dict().items()}, str(path2))
    again = DeepLabV3PlusMid(**kw, pretrained=path2).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(image=x).extras["fg_logit"], moved)
