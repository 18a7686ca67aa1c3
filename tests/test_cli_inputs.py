"""Inputs people have: an animated GIF, a 1x1 and a 3x500 image, two files with one stem, a broken file; and the
CLI, the API and the server give the same PNG bytes for the same photo and options."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from automatte.cli import main


def _photo(w: int = 90, h: int = 60, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.3 * h) ** 2)[..., None]
    rgb = np.where(disc, [220, 120, 40], [30, 90, 160]) + rng.integers(0, 20, (h, w, 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def odd_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("odd")
    im = _photo()
    im.save(folder / "anim.gif", save_all=True, append_images=[im.transpose(Image.FLIP_LEFT_RIGHT)], duration=100)
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(folder / "one.png")
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (3, 500, 3), dtype=np.uint8)).save(folder / "thin.png")
    im.save(folder / "photo.webp")
    im.save(folder / "photo.tiff")
    (folder / "broken.png").write_bytes(b"not a png at all")
    return folder


def test_odd_folder_gives_a_result_or_one_line_each(odd_folder, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["predict", str(odd_folder), "-o", str(out), "--model", "twostage-cf", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1  # the broken file
    names = sorted(p.name for p in out.iterdir())
    for stem in ("anim", "one", "thin", "photo_webp", "photo_tiff"):
        assert f"{stem}_alpha.png" in names and f"{stem}_rgba.png" in names, (stem, names, err)
    failures = [line for line in err.splitlines() if line.startswith("  ")]
    assert len(failures) == 1 and "broken.png" in failures[0] and "not a recognised image" in failures[0]
    assert Image.open(out / "one_alpha.png").size == (1, 1)
    assert Image.open(out / "thin_rgba.png").size == (500, 3)
    assert np.asarray(Image.open(out / "anim_alpha.png")).shape == (60, 90)


def _one_stage_file(folder, photo) -> str:
    """A one-stage network that predicts a trimap (AIM-Net's tiny variant) in a weights file that names its
    architecture: the CLI, the API and the server each load the same network from it. Its trimap head and detail
    head are sharpened around their means on ``photo``, so that its trimap has all three classes and its alpha is 0
    or 1 in parts of the unknown band: the trimap derived from the alpha differs from the network's."""
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file

    from automatte.infer.runners import to_tensor
    from automatte.io import read_image
    from automatte.registry import create_model

    torch.manual_seed(0)
    net = create_model("aimnet_test").eval()
    x = to_tensor(read_image(photo))
    x = F.pad(x, (0, -x.shape[-1] % 32, 0, -x.shape[-2] % 32))
    with torch.no_grad():
        out = net(x)
        for conv, logits in ((net.sd_final, out.trimap_logits), (net.md_final, torch.logit(out.detail))):
            conv.weight.mul_(1000.0)
            conv.bias.copy_(1000.0 * (conv.bias - logits.mean((0, 2, 3))))
    path = folder / "one_stage.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata={"arch": "aimnet_test"})
    return str(path)


@pytest.mark.parametrize("model", ["twostage-cf", "one-stage"])
def test_cli_api_and_server_give_identical_pngs(tmp_path, model):
    """One photo, one model, the same options: ``automatte predict``, ``automatte.matte(...).png(kind)`` and
    ``POST /matte`` give the same bytes for every output; with a one-stage network, the trimap is the network's."""
    from fastapi.testclient import TestClient

    import automatte
    from automatte.serve.app import create_app

    photo = tmp_path / "cat.png"
    _photo(seed=3).save(photo)
    if model == "one-stage":
        model = _one_stage_file(tmp_path, photo)
    kinds, background, options = ("alpha", "rgba", "composite", "trimap"), "#00b140", {"foreground": "ml"}
    code = main(["predict", str(photo), "-o", str(tmp_path / "out"), "--model", model, "--save", ",".join(kinds),
                 "--background", background, "--foreground", "ml", "--quiet"])  # fmt: skip
    assert code == 0
    api = automatte.matte(str(photo), model=model, **options)
    with TestClient(create_app(model, pipeline_options=options, allowed_models=[])) as client:
        for kind in kinds:
            r = client.post("/matte", params={"output": kind, "background": background},
                            files={"image": ("cat.png", photo.read_bytes(), "image/png")})  # fmt: skip
            assert r.status_code == 200, r.text
            cli = (tmp_path / "out" / f"cat_{kind}.png").read_bytes()
            assert r.content == cli == api.png(kind, background), kind
            assert np.asarray(Image.open(io.BytesIO(r.content))).shape[:2] == (60, 90)
            if kind == "trimap":
                assert r.headers["X-Automatte-Trimap"] == "pipeline"  # the segmenter's or the network's own
