"""rembg's shapes on automatte's mattes: rembg's README and USAGE.md examples with only the import line changed,
the return types, what each option does, the model names, and the CLI's ``i`` / ``p`` (``--watch``) / ``s``."""

from __future__ import annotations

import io
import threading
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import automatte.rembg as ar
from automatte import new_session, remove
from automatte.api import load_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def light():
    """The default pipeline with one segmenter pass and blur-fusion colours: the same stages, fast on 96 px."""
    return load_model(None, segment_flip=False, segment_scales=(), segment_upscale=False, foreground="blur_fusion")


@pytest.fixture(autouse=True)
def default_is_light(light, monkeypatch):
    """Sessions of the default pipeline (what rembg's names resolve to) use ``light``."""
    monkeypatch.setitem(ar._SESSIONS, (None, ()), light)


@pytest.fixture(scope="module")
def photo_png() -> bytes:
    """examples/chelsea.jpg (CC0) at 144 x 96, PNG."""
    image = cv2.imread(str(REPO / "examples" / "chelsea.jpg"))
    ok, data = cv2.imencode(".png", cv2.resize(image, (144, 96), interpolation=cv2.INTER_AREA))
    assert ok
    return data.tobytes()


# rembg's README ("Usage as a Library") and USAGE.md examples, verbatim; each runs with its import line changed
README_EXAMPLES = {
    "bytes": """
from rembg import remove

with open('input.png', 'rb') as i:
    with open('output.png', 'wb') as o:
        input = i.read()
        output = remove(input)
        o.write(output)
""",
    "pil": """
from rembg import remove
from PIL import Image

input = Image.open('input.png')
output = remove(input)
output.save('output.png')
""",
    "numpy": """
from rembg import remove
import cv2

input = cv2.imread('input.png')
output = remove(input)
cv2.imwrite('output.png', output)
""",
    "force_bytes": """
from rembg import remove

with open('input.png', 'rb') as i:
    with open('output.png', 'wb') as o:
        input = i.read()
        output = remove(input, force_return_bytes=True)
        o.write(output)
""",
    "session_batch": """
from pathlib import Path
from rembg import remove, new_session

session = new_session()

for file in Path('path/to/folder').glob('*.png'):
    input_path = str(file)
    output_path = str(file.parent / (file.stem + ".out.png"))

    with open(input_path, 'rb') as i:
        with open(output_path, 'wb') as o:
            input = i.read()
            output = remove(input, session=session)
            o.write(output)
""",
    "usage_model": """
from PIL import Image
from rembg import new_session, remove

input_path = 'input.png'
output_path = 'output.png'

input = Image.open(input_path)
model_name = "isnet-general-use"
session = new_session(model_name)
output = session.remove(input, session=session)
output.save(output_path)
""",
    "usage_alpha_matting": """
from PIL import Image
from rembg import new_session, remove

input = Image.open('input.png')
output = remove(input, alpha_matting=True, alpha_matting_foreground_threshold=270,alpha_matting_background_threshold=20, alpha_matting_erode_size=11)
output.save('output.png')
""",
    "usage_only_mask": """
from PIL import Image
from rembg import new_session, remove

input = Image.open('input.png')
output = remove(input, only_mask=True)
output.save('output.png')
""",
    "usage_post_process": """
from PIL import Image
from rembg import new_session, remove

input = Image.open('input.png')
output = remove(input, post_process_mask=True)
output.save('output.png')
""",
    "usage_bgcolor": """
from PIL import Image
from rembg import new_session, remove

input = Image.open('input.png')
output = remove(input, bgcolor=(255, 255, 255))
output.save('output.png')
""",
}


@pytest.mark.parametrize("name", README_EXAMPLES)
def test_rembg_examples_run_with_only_the_import_changed(name, tmp_path, monkeypatch, photo_png):
    source = README_EXAMPLES[name]
    changed = source.replace("from rembg import", "from automatte import")
    assert changed.count("\n") == source.count("\n") and source.count("from rembg import") == 1
    (tmp_path / "input.png").write_bytes(photo_png)
    folder = tmp_path / "path" / "to" / "folder"
    folder.mkdir(parents=True)
    for stem in ("a", "b"):
        (folder / f"{stem}.png").write_bytes(photo_png)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ar.RembgModelWarning)
        exec(compile(changed, f"<rembg example {name}>", "exec"), {})
    outputs = [tmp_path / "output.png"] if name != "session_batch" else sorted(folder.glob("*.out.png"))
    assert len(outputs) == (2 if name == "session_batch" else 1)
    for out in outputs:
        image = Image.open(out)
        assert image.size == (144, 96)
        assert image.mode == ("L" if name == "usage_only_mask" else "RGBA")
        if name not in ("usage_only_mask", "usage_bgcolor"):
            alpha = np.asarray(image)[..., 3]
            assert alpha[30:70, 50:100].mean() > 200 and alpha[:, -5:].mean() < 100  # the cat kept, the side cut


def test_return_types_and_the_matte(light, photo_png):
    matte = light(photo_png)
    want = np.clip(np.rint(matte.alpha * 255), 0, 255).astype(np.uint8)
    out = remove(photo_png)
    assert isinstance(out, bytes) and out[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out)))[..., 3], want)
    pil = remove(Image.open(io.BytesIO(photo_png)))
    assert isinstance(pil, Image.Image) and pil.mode == "RGBA" and pil.size == (144, 96)
    rgb = np.asarray(Image.open(io.BytesIO(photo_png)).convert("RGB"))
    arr = remove(rgb)
    assert arr.dtype == np.uint8 and arr.shape == (96, 144, 4) and np.array_equal(arr[..., 3], want)
    opaque = want == 255
    assert np.abs(arr[..., :3][opaque].astype(int) - rgb[opaque]).max() <= 1  # colours kept where opaque
    mask = remove(rgb, only_mask=True)
    assert mask.shape == (96, 144) and np.array_equal(mask, want)
    assert Image.open(io.BytesIO(remove(photo_png, only_mask=True))).mode == "L"


def test_bgcolor_post_process_and_alpha_matting(light, photo_png):
    rgb = np.asarray(Image.open(io.BytesIO(photo_png)).convert("RGB"))
    plain = remove(rgb)
    white = remove(rgb, bgcolor=(255, 255, 255, 255))
    assert (white[..., 3] == 255).all()
    clear = plain[..., 3] == 0
    assert clear.any() and (white[clear][:, :3] == 255).all()
    half = remove(rgb, bgcolor=(0, 0, 255, 128))
    assert (half[..., 3][clear] == 128).all() and (half[clear][:, 2] == 255).all()
    hard = remove(rgb, post_process_mask=True, only_mask=True)
    assert set(np.unique(hard)) <= {0, 255}
    # alpha matting: the known regions of rembg's trimap from the segmenter's probability are kept as it says
    prob = ar._probability(light, light._read(photo_png))
    trimap = ar.rembg_trimap(prob, 200, 30, 5)
    assert (trimap == 1).any() and (trimap == 0).any() and (trimap == 0.5).any()
    matted = remove(rgb, alpha_matting=True, alpha_matting_foreground_threshold=200,
                    alpha_matting_background_threshold=30, alpha_matting_erode_size=5, only_mask=True)  # fmt: skip
    assert (matted[trimap == 1] == 255).all() and (matted[trimap == 0] == 0).all()
    # thresholds that leave no sure foreground (USAGE.md's 270): the pipeline's own trimap, not an empty cutout
    fallback = remove(rgb, alpha_matting=True, alpha_matting_foreground_threshold=270, only_mask=True)
    assert np.array_equal(fallback, plain[..., 3])


def test_rembg_trimap_by_hand():
    prob = np.zeros((7, 10), np.float32)
    prob[:, 5:] = 1.0
    prob[:, 4] = 0.5
    tri = ar.rembg_trimap(prob, 240, 10, 3)
    # fg x >= 5 eroded by 3 px (and from the border): x 6..8; bg x <= 3 eroded, border counts as bg: x 0..2
    assert tri[3].tolist() == [0, 0, 0, 0.5, 0.5, 0.5, 1, 1, 1, 0.5]
    assert (tri[0, 6:9] == 0.5).all()  # the top border erodes the foreground
    assert (ar.rembg_trimap(prob, 240, 10, 0)[3] == [0, 0, 0, 0, 0.5, 1, 1, 1, 1, 1]).all()


def test_model_names(light):
    with pytest.warns(ar.RembgModelWarning, match="'u2netp'.*default pipeline"):
        session = new_session("u2netp")
    assert session.pipeline is light and session.model_name == "u2netp"
    for name in ("u2net", "isnet-general-use", "birefnet-general", "bria-rmbg"):
        assert ar.resolve_model_name(name)[0] is None
    with pytest.raises(ValueError, match="'sam'.*no automatte counterpart"):
        new_session("sam")
    with pytest.raises(ValueError, match="unknown model 'u3net'.*u2net.*twostage-knn"):
        new_session("u3net")
    assert ar.resolve_model_name("twostage-knn") == ("twostage-knn", "automatte pipeline 'twostage-knn'")
    with pytest.raises(TypeError, match="sam_prompt"):
        remove(np.zeros((8, 8, 3), np.uint8), sam_prompt=[{"type": "point"}])
    with pytest.raises(ValueError, match="bgcolor"):
        remove(np.zeros((8, 8, 3), np.uint8), bgcolor=(0, 0, 300))
    with pytest.raises(ValueError, match="not supported"):
        remove("photo.jpg")
    assert len(session.predict(Image.new("RGB", (40, 30)))) == 1


# --------------------------------------------------------------------------------------------- the CLI


def test_cli_i(tmp_path, photo_png, capsysbinary, monkeypatch):
    from automatte.cli import main

    (tmp_path / "in.png").write_bytes(photo_png)
    assert main(["i", "-m", "u2net", "-om", str(tmp_path / "in.png"), str(tmp_path / "out.png")]) == 0
    assert Image.open(tmp_path / "out.png").mode == "L"
    assert "note: rembg model 'u2net'" in capsysbinary.readouterr().err.decode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(photo_png)))
    assert main(["i", "-bgc", "0", "177", "64", "255"]) == 0
    out = Image.open(io.BytesIO(capsysbinary.readouterr().out))
    assert out.mode == "RGBA" and np.asarray(out)[..., 3].min() == 255
    assert main(["i", str(tmp_path / "missing.png"), str(tmp_path / "x.png")]) == 2
    assert main(["i", "-m", "sam", str(tmp_path / "in.png"), str(tmp_path / "x.png")]) == 2
    assert "no automatte counterpart" in capsysbinary.readouterr().err.decode()


def test_cli_p_skips_existing_and_lists_failures(tmp_path, photo_png, capsys):
    from automatte.cli import main

    src, out = tmp_path / "in", tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "a.jpg").write_bytes(photo_png)
    (src / "sub" / "b.png").write_bytes(photo_png)
    (src / "broken.png").write_bytes(b"not an image")
    (src / "notes.txt").write_text("skipped: not an image name")
    assert main(["p", "-q", str(src), str(out)]) == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "sub/b.png"]
    assert "broken.png" in capsys.readouterr().err
    before = (out / "a.png").stat().st_mtime_ns
    (src / "broken.png").unlink()
    assert main(["p", "-q", str(src), str(out)]) == 0  # a re-run skips the outputs that exist
    assert (out / "a.png").stat().st_mtime_ns == before


def test_cli_p_watch(tmp_path, photo_png):
    from automatte.cli import main

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "first.png").write_bytes(photo_png)
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("rc", main(["p", "-w", "--interval", "0.05", str(src), str(out)]))
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not (out / "first.png").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    (src / "later.png").write_bytes(photo_png)  # a new file while watching
    while not (out / "later.png").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    (src / "stop.txt").write_text("")
    thread.join(timeout=30)
    assert not thread.is_alive() and result["rc"] == 0
    assert (out / "later.png").is_file() and not (src / "stop.txt").exists()
    assert Image.open(out / "later.png").mode == "RGBA"


def test_cli_s_maps_rembg_options(monkeypatch):
    import uvicorn

    from automatte.cli import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    assert main(["s", "-p", "7001", "-h", "127.0.0.1", "-l", "warning", "-t", "3"]) == 0
    assert (seen["host"], seen["port"], seen["log_level"]) == ("127.0.0.1", 7001, "warning")
    assert seen["app"].state.limiter.max_concurrency == 3
    assert any(getattr(r, "path", "") == "/api/remove" for r in seen["app"].routes)


# --------------------------------------------------------------------------------------------- the server


def test_server_api_remove(light, photo_png, tmp_path):
    import functools
    import http.server

    from fastapi.testclient import TestClient

    from automatte.serve.app import create_app

    client = TestClient(create_app(pipeline=light, allowed_models=[]))
    expected = np.asarray(Image.open(io.BytesIO(remove(photo_png))))
    r = client.post("/api/remove", files={"file": ("cat.png", photo_png, "image/png")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(r.content))), expected)
    r = client.post(
        "/api/remove?bgc=255,255,255,255",
        files={"file": ("cat.png", photo_png, "image/png")},
        data={"model": "u2net", "om": "true", "a": "true", "af": "200", "ae": "5"},
    )
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).mode == "L"
    for data, status, words in (
        ({"model": "sam"}, 400, "no automatte counterpart"),
        ({"model": "twostage"}, 400, "not served here"),
        ({"af": "300"}, 400, "af='300'"),
        ({"a": "maybe"}, 400, "expected true or false"),
    ):
        r = client.post("/api/remove", files={"file": ("cat.png", photo_png, "image/png")}, data=data)
        assert r.status_code == status and words in r.json()["detail"], r.text
    r = client.post("/api/remove", files={"image": ("cat.png", photo_png, "image/png")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    r = client.post("/api/remove", files={"file": ("x.png", b"not an image", "image/png")})
    assert r.status_code == 415
    assert client.get("/api/remove", params={"url": "file:///etc/passwd"}).status_code == 400
    # GET with url=: the server fetches the photo (here from a local file server)
    (tmp_path / "cat.png").write_bytes(photo_png)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=files.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{files.server_address[1]}"
        r = client.get("/api/remove", params={"url": f"{base}/cat.png"})
        assert r.status_code == 200 and np.array_equal(np.asarray(Image.open(io.BytesIO(r.content))), expected)
        r = client.get("/api/remove", params={"url": f"{base}/missing.png"})
        assert r.status_code == 400 and "could not fetch" in r.json()["detail"]
    finally:
        files.shutdown()
