"""The light install (``pip install automatte``: no PyTorch): the shipped segmenter's ONNX graph is current and
computes what the safetensors compute, the NumPy path gives the PyTorch path's alpha, and the default pipeline runs
with PyTorch blocked from import. The slow test builds a real venv without PyTorch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHELSEA = ROOT / "examples" / "chelsea.jpg"
BLOCKED = ("torch", "torchvision", "safetensors", "pymatting", "numba", "yaml", "tensorboard", "tflite", "fastapi")

# A child process in which the modules of the extras cannot be imported, as in a light install.
BLOCKER = f"""
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
sys.meta_path.insert(0, _Block())
"""


def _run_blocked(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(BLOCKER + textwrap.dedent(code), encoding="utf-8")
    env = {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)


def _segmenter() -> str:
    from automatte.shipped import default_model_name

    return default_model_name("segmenter")


def test_shipped_onnx_is_current_and_matches_torch():
    """Fails loudly when the segmenter's weights were replaced and its ONNX graph was not regenerated."""
    pytest.importorskip("onnxruntime")
    torch = pytest.importorskip("torch")
    import cv2

    from automatte.infer.runners import ShippedOnnxRunner
    from automatte.io import read_image
    from automatte.shipped import load_shipped, shipped_onnx

    name = _segmenter()
    path = shipped_onnx(name)  # raises "stale ONNX graph ... regenerate it: python tools/export_onnx.py NAME"
    assert path is not None, f"the default segmenter {name!r} ships no ONNX graph: python tools/export_onnx.py"
    net, runner = load_shipped(name), ShippedOnnxRunner(name)
    photo = read_image(CHELSEA)
    for h, w in ((96, 160), (224, 320)):
        x = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)[None].copy()
        with torch.inference_mode():
            expected = net(image=torch.from_numpy(x)).alpha.numpy()
        got = runner.run_array(x)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4, f"{path}: ONNX and PyTorch differ: python tools/export_onnx.py"


def test_stale_onnx_graph_is_refused(tmp_path):
    pytest.importorskip("onnxruntime")
    from automatte.infer.runners import ShippedOnnxRunner
    from automatte.shipped import WEIGHTS_DIR, shipped_onnx

    name = _segmenter()
    card = json.loads((WEIGHTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    card["sha256"] = "0" * 64  # retrained weights: the card changed, the graph did not
    (tmp_path / f"{name}.json").write_text(json.dumps(card), encoding="utf-8")
    shutil.copy(WEIGHTS_DIR / f"{name}.onnx", tmp_path / f"{name}.onnx")
    with pytest.raises(ValueError, match=rf"{name}\.onnx: stale ONNX graph .*tools/export_onnx\.py {name}"):
        shipped_onnx(name, tmp_path)
    with pytest.raises(ValueError, match="stale ONNX graph"):
        ShippedOnnxRunner(name, folder=tmp_path)
    (tmp_path / f"{name}.onnx").unlink()
    assert shipped_onnx(name, tmp_path) is None


def test_numpy_fusions_match_the_rules():
    torch = pytest.importorskip("torch")
    import cv2

    from automatte.infer.fusion import hard_fusion, soft_fusion
    from automatte.models import fusion as rules

    rng = np.random.default_rng(0)
    tri = rng.choice(np.array([0.0, 0.5, 1.0, 0.3], np.float32), size=(20, 30))
    alpha, prob = rng.random((20, 30), np.float32), rng.random((20, 30), np.float32)
    classes = torch.from_numpy(np.stack([tri == 0.0, tri == 0.5, tri == 1.0]).astype(np.float32))[None]
    expected = rules.hard_fusion(classes, torch.from_numpy(alpha)[None, None])[0, 0].numpy()
    np.testing.assert_array_equal(hard_fusion(alpha, tri), expected)
    band = (tri == 0.5).astype(np.float32)
    u = np.maximum(cv2.GaussianBlur(band, (0, 0), sigmaX=5 / 4.0), band)  # soft_fusion's feathered band, kernel 5
    probs = torch.from_numpy(np.stack([(1 - u) * (1 - prob), u, (1 - u) * prob]))[None]
    expected = rules.soft_fusion(probs, torch.from_numpy(alpha)[None, None], probabilities=True)[0, 0].numpy()
    np.testing.assert_allclose(soft_fusion(alpha, tri, prob, 5), np.clip(expected, 0, 1), atol=1e-6)


@pytest.mark.parametrize(("size", "long_side", "upscale"), [((150, 230), 64, False), ((70, 45), 128, True),
                                                            ((150, 230), 512, False), ((300, 451), 320, True)])  # fmt: skip
def test_predict_whole_np_matches_predict_whole(size, long_side, upscale):
    torch = pytest.importorskip("torch")
    from automatte.infer.highres import predict_whole
    from automatte.infer.numpy_infer import predict_whole_np
    from automatte.models.output import MattingOutput

    def net_np(x):  # a position-dependent function, so that resizing and cropping errors show
        return 1 / (1 + np.exp(-(x[:, :1] * 3 - x[:, 2:] * 2 + np.linspace(-1, 1, x.shape[-1], dtype=np.float32))))

    def net_torch(x, trimap=None):
        return MattingOutput(alpha=torch.from_numpy(net_np(x.numpy())))

    image = np.random.default_rng(1).random((*size, 3), np.float32)
    expected = predict_whole(net_torch, torch.from_numpy(image.transpose(2, 0, 1).copy())[None],
                             long_side=long_side, upscale=upscale)[0][0, 0].numpy()  # fmt: skip
    got = predict_whole_np(net_np, image, long_side=long_side, upscale=upscale)
    assert got.shape == size
    assert np.abs(got - expected).max() < 1e-4
    # flip: the mirror in the same batch, averaged before the resize back = the mean of two calls
    mirrored = predict_whole_np(net_np, np.ascontiguousarray(image[:, ::-1]), long_side=long_side, upscale=upscale)
    both = predict_whole_np(net_np, image, long_side=long_side, upscale=upscale, flip=True)
    assert np.abs(both - (got + mirrored[:, ::-1]) / 2).max() < 1e-5
    assert np.abs(both - got).max() > 1e-3  # the mirror pass changes the result of this position-dependent net


def test_default_runs_without_torch_and_matches(tmp_path):
    """``automatte photo.jpg`` with the extras' modules blocked: no PyTorch imported, the same alpha (<= 1/255)."""
    pytest.importorskip("onnxruntime")
    from automatte.api import matte
    from automatte.infer.runners import has_torch
    from automatte.io import read_alpha

    out = tmp_path / "out"
    child = _run_blocked(
        f"""
        from automatte.cli import main
        rc = main([{str(CHELSEA)!r}, "-o", {str(out)!r}, "-q"])
        bad = sorted(m for m in sys.modules if m.split(".")[0] in {BLOCKED!r})
        print("RESULT", rc, bad)
        """,
        tmp_path,
    )
    assert "RESULT 0 []" in child.stdout, child.stdout + child.stderr
    light = read_alpha(out / "chelsea_alpha.png")
    backend = {"backend": "torch"} if has_torch() else {}  # the full install's segmenter on PyTorch when installed
    full = matte(CHELSEA, **backend).alpha
    assert light.shape == full.shape
    assert np.abs(light - full).max() <= 1 / 255 + 1e-6
    assert (out / "chelsea_rgba.png").is_file()


def test_default_segmenter_runs_on_onnx_runtime_without_importing_torch(tmp_path):
    """With PyTorch installed, the default pipeline on the CPU runs the shipped ONNX graph and never imports torch
    (issue 31: faster, and a cold start without PyTorch's import); ``backend="torch"`` keeps PyTorch. Matting a
    photo does not import ``automatte.metrics`` either (scipy.ndimage: about 0.3 s of the cold start)."""
    pytest.importorskip("onnxruntime")
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from automatte.cli import main
            from automatte.api import load_model
            rc = main([{str(CHELSEA)!r}, "-o", {str(tmp_path / "out")!r}, "-q"])
            print("RESULT", rc, type(load_model().segmenter).__name__, "torch" in sys.modules)
            print("METRICS", "automatte.metrics" in sys.modules, "scipy.ndimage" in sys.modules)
            import automatte
            print("LAZY", automatte.metrics.sad.__name__)
            """
        ),
        encoding="utf-8",
    )
    env = {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    child = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "RESULT 0 ShippedOnnxRunner False" in child.stdout, child.stdout + child.stderr
    assert "METRICS False False" in child.stdout and "LAZY sad" in child.stdout, child.stdout + child.stderr


def test_backend_choice_of_the_default_segmenter(monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from automatte.api import load_model
    from automatte.infer import loading
    from automatte.infer.runners import ShippedOnnxRunner, TorchRunner

    assert isinstance(load_model(backend="torch").segmenter, TorchRunner)
    assert isinstance(load_model(backend="onnx").segmenter, ShippedOnnxRunner)
    assert isinstance(load_model().segmenter, ShippedOnnxRunner)  # "auto" on the CPU
    with pytest.raises(ValueError, match="backend must be one of auto, torch, onnx"):
        load_model(backend="tf")

    def stale(name, device="cpu", folder=None):
        raise ValueError(f"{name}.onnx: stale ONNX graph of shipped model {name!r}")

    monkeypatch.setattr(loading, "ShippedOnnxRunner", stale)
    with pytest.warns(UserWarning, match="stale ONNX graph .* on PyTorch instead"):
        assert isinstance(load_model().segmenter, TorchRunner)


def test_without_torch_other_models_say_what_to_install(tmp_path):
    child = _run_blocked(
        """
        import numpy as np
        from automatte.api import load_model
        for name in ("twostage", "indexnet-refiner", "aimnet", "knn"):
            try:
                p = load_model(name)
                mask = np.zeros((40, 40), "float32")
                mask[10:30, 10:30] = 1
                p(np.random.default_rng(0).random((40, 40, 3), "float32"), mask=mask)
                print(name, "ran")
            except (ImportError, ValueError) as exc:
                print(name, type(exc).__name__, exc)
        """,
        tmp_path,
    )
    lines = dict(line.split(" ", 1) for line in child.stdout.splitlines())
    assert "automatte[torch]" in lines["twostage"] and "automatte[torch]" in lines["indexnet-refiner"], child.stdout
    assert "automatte[torch]" in lines["aimnet"], child.stdout
    assert "automatte[classical]" in lines["knn"], child.stdout + child.stderr


@pytest.mark.slow
def test_light_venv_has_no_torch_and_writes_the_same_cutout(tmp_path):
    """A fresh venv with ``pip install .`` (PyPI or this machine's wheels; never PyTorch), then ``automatte PHOTO``
    on every example: the alpha of the full install (this environment) within 1/255."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from install_size import create_venv, first_cutout, has_module

    from automatte.api import matte
    from automatte.io import read_alpha

    venv = tmp_path / "light"
    create_venv(venv, "light")
    assert not has_module(venv, "torch")
    assert has_module(venv, "onnxruntime")
    for photo in sorted((ROOT / "examples").glob("*.jpg")):
        first_cutout(venv, photo, tmp_path / "out")
        light = read_alpha(tmp_path / "out" / f"{photo.stem}_alpha.png")
        assert np.abs(light - matte(photo).alpha).max() <= 1 / 255 + 1e-6, photo.name
