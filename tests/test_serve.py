"""``automatte serve``: endpoints, upload limits, queueing and the command's arguments (CPU, fast).

The matting model is the tiny untrained ``indexnet_free_test`` (plumbing only); queueing tests use a fake
pipeline that blocks until released, against a live uvicorn server in a background thread.
"""

from __future__ import annotations

import argparse
import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from automatte.api import Matte, load_model
from automatte.serve.app import OUTPUTS, background_server, create_app
from automatte.serve.cli import add_arguments, run

H, W = 48, 64


def png_bytes(h: int = H, w: int = W, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    ok, buf = cv2.imencode(".png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def decode(data: bytes) -> np.ndarray:
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert array is not None, "not a PNG"
    return array


@pytest.fixture(scope="module")
def pipeline():
    with pytest.warns(UserWarning, match="untrained"):
        return load_model("indexnet_free_test", foreground="blur_fusion")


@pytest.fixture(scope="module")
def client(pipeline):
    with TestClient(create_app(pipeline=pipeline, allowed_models=[])) as c:
        yield c


class FakePipeline:
    """Alpha = the mask when given, else 0.5; blocks on ``gate`` and records the peak concurrency."""

    name = "fake"

    def __init__(self, gate: threading.Event | None = None, inner=None):
        self.gate, self.inner = gate, inner
        self.active = self.peak = self.calls = 0
        self.lock = threading.Lock()
        self.hints: dict = {}

    def __call__(self, image, trimap=None, mask=None, name=None):
        with self.lock:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
        try:
            if self.gate is not None:
                assert self.gate.wait(30), "the test never released the gate"
            if self.inner is not None:
                time.sleep(0.01)
                return self.inner(image, trimap=trimap, mask=mask, name=name)
            self.hints = {"trimap": trimap, "mask": mask}
            alpha = mask if mask is not None else np.full(image.shape[:2], 0.5, np.float32)
            return Matte(alpha=alpha.astype(np.float32), foreground=image, image=image, trimap=trimap, model=self.name)
        finally:
            with self.lock:
                self.active -= 1


# --------------------------------------------------------------------------------------------- endpoints


def test_health_and_page(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["model"] == "indexnet_free_test" and body["loaded"] is True
    assert body["running"] == 0 and body["max_upload_bytes"] == 20 * 2**20
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element in (
        'id="file"',
        'id="drop"',
        'id="alpha"',
        'id="cutout"',
        'id="composite"',
        'id="error"',
        'id="status"',
    ):
        assert element in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/matte"]["post"]["requestBody"]


def test_models(client):
    body = client.get("/models").json()
    assert body["model"] == "indexnet_free_test" and body["allowed"] == ["indexnet_free_test"]
    assert "default" in body["pipelines"] and "cf" in body["pipelines"]
    for model in body["shipped"]:
        assert {"name", "role", "arch", "card"} <= set(model) and "config" not in model["card"]


@pytest.mark.parametrize("output", OUTPUTS)
def test_matte_png_each_output(client, output):
    r = client.post(
        "/matte",
        params={"output": output, "background": "green"},
        files={"image": ("photo.png", png_bytes(), "image/png")},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-automatte-model"] == "indexnet_free_test" and float(r.headers["x-automatte-time"]) >= 0
    assert r.headers["x-automatte-size"] == f"{W}x{H}"
    array = decode(r.content)
    channels = {"alpha": None, "trimap": None, "rgba": 4, "composite": 3, "fg": 3}[output]
    assert array.shape == ((H, W) if channels is None else (H, W, channels))
    if output == "trimap":
        assert set(np.unique(array)) <= {0, 128, 255} and r.headers["x-automatte-trimap"] == "derived"


def test_composite_background_as_form_field(client):
    files = {"image": ("photo.png", png_bytes(), "image/png")}
    white = decode(client.post("/matte", data={"output": "composite"}, files=files).content)
    green = decode(client.post("/matte", data={"output": "composite", "background": "#00ff00"}, files=files).content)
    assert white.shape == green.shape == (H, W, 3) and not np.array_equal(white, green)


def test_matte_all_json(client):
    r = client.post(
        "/matte/all", data={"background": "checker"}, files={"image": ("my photo.png", png_bytes(), "image/png")}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "indexnet_free_test" and (body["width"], body["height"]) == (W, H)
    assert body["name"] == "my_photo" and body["background"] == "checker" and body["timings"]["total"] >= 0
    shapes = {k: decode(base64.b64decode(body[k])).shape for k in ("alpha", "rgba", "composite")}
    assert shapes == {"alpha": (H, W), "rgba": (H, W, 4), "composite": (H, W, 3)}


def test_hints_are_decoded_and_checked():
    fake = FakePipeline()
    mask = np.zeros((H, W), np.uint8)
    mask[:, W // 2 :] = 255
    mask_png = cv2.imencode(".png", mask)[1].tobytes()
    with TestClient(create_app(pipeline=fake, allowed_models=[])) as c:
        r = c.post(
            "/matte", params={"output": "alpha"}, files={"image": ("p.png", png_bytes()), "mask": ("m.png", mask_png)}
        )
        assert r.status_code == 200 and np.array_equal(decode(r.content), mask)
        assert fake.hints["mask"].shape == (H, W) and fake.hints["trimap"] is None
        wrong = cv2.imencode(".png", np.zeros((10, 10), np.uint8))[1].tobytes()
        r = c.post("/matte", files={"image": ("p.png", png_bytes()), "trimap": ("t.png", wrong)})
        assert r.status_code == 422 and r.json()["detail"].startswith("trimap t.png:")


# --------------------------------------------------------------------------------------------- refusals


def test_not_an_image_is_415_naming_the_file(client):
    r = client.post("/matte", files={"image": ("notes.txt", b"just some text", "text/plain")})
    assert r.status_code == 415
    assert r.json()["detail"] == "image notes.txt: not a recognised image (PNG/JPEG/WebP/TIFF/BMP/GIF)"


def test_truncated_image_is_422(client):
    r = client.post("/matte/all", files={"image": ("cut.png", png_bytes()[:300], "image/png")})
    assert r.status_code == 422 and "cut.png" in r.json()["detail"] and "truncated" in r.json()["detail"]


@pytest.mark.parametrize(
    "kwargs, status, words",
    [
        ({"files": {"photo": ("p.png", b"x")}}, 422, "missing the 'image' file field"),
        ({"json": {"image": "x"}}, 415, "expected multipart/form-data"),
        ({"params": {"output": "jpeg"}}, 400, "output 'jpeg': expected one of"),
        ({"params": {"background": "/etc/passwd.png"}}, 400, "expected a colour"),
        ({"params": {"model": "cf"}}, 400, "model 'cf' is not served here"),
    ],
)
def test_bad_requests(client, kwargs, status, words):
    if "json" not in kwargs:
        kwargs.setdefault("files", {"image": ("p.png", png_bytes())})
    r = client.post("/matte", **kwargs)
    assert r.status_code == status and words in r.json()["detail"]


def test_oversized_upload_is_413():
    app = create_app(pipeline=FakePipeline(), max_upload_bytes=4096, allowed_models=[])
    big = png_bytes(128, 128)
    assert len(big) > 4096
    with TestClient(app) as c:
        r = c.post("/matte", files={"image": ("big.png", big, "image/png")})  # Content-Length: refused unread
        assert r.status_code == 413
        assert r.json()["detail"].startswith("upload of ") and "over the upload limit of 4 KB" in r.json()["detail"]

        def chunks():  # no Content-Length: counted while reading
            for _ in range(10):
                yield b"-" * 1000

        r = c.post("/matte", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xyz"})
        assert (
            r.status_code == 413 and r.json()["detail"] == "upload is over the upload limit of 4 KB (max_upload_bytes)"
        )
        assert c.get("/health").json()["waiting"] == 0  # the refused requests gave their places back


def test_too_many_pixels_is_413():
    with TestClient(create_app(pipeline=FakePipeline(), max_pixels=1000, allowed_models=[])) as c:
        r = c.post("/matte", files={"image": ("wide.png", png_bytes(20, 60), "image/png")})
    assert (
        r.status_code == 413
        and r.json()["detail"] == "image wide.png: has 60 x 20 = 1,200 pixels, over the limit of 1,000 (max_pixels)"
    )


def test_model_that_cannot_load_is_503_and_reported():
    with TestClient(create_app("no_such_model", allowed_models=[])) as c:
        assert c.get("/health").json()["loaded"] is False
        r = c.post("/matte", files={"image": ("p.png", png_bytes())})
        assert r.status_code == 503 and r.json()["detail"].startswith(
            "model 'no_such_model' could not be loaded: unknown model"
        )
        assert "unknown model 'no_such_model'" in c.get("/health").json()["error"]


@pytest.mark.filterwarnings("ignore:model '(indexnet_free|aimnet)_test'")
def test_lazy_load_once_and_allowed_extra_model():
    app = create_app(
        "indexnet_free_test", pipeline_options={"foreground": "blur_fusion"}, allowed_models=["aimnet_test"]
    )
    with TestClient(app) as c:
        assert c.get("/health").json()["loaded"] is False
        assert c.post("/matte", files={"image": ("p.png", png_bytes())}).status_code == 200
        first = app.state.models.loaded["indexnet_free_test"]
        assert c.post("/matte", files={"image": ("p.png", png_bytes())}).status_code == 200
        assert app.state.models.loaded["indexnet_free_test"] is first and c.get("/health").json()["loaded"] is True
        r = c.post(
            "/matte", params={"model": "aimnet_test", "output": "alpha"}, files={"image": ("p.png", png_bytes())}
        )
        assert r.status_code == 200 and r.headers["x-automatte-model"] == "aimnet_test"
        assert c.get("/models").json()["loaded"] == ["indexnet_free_test", "aimnet_test"]


def test_create_app_rejects_bad_limits():
    with pytest.raises(ValueError, match="max_concurrency must be an integer >= 1, got 0"):
        create_app(pipeline=FakePipeline(), max_concurrency=0)


# --------------------------------------------------------------------------------------------- live server


def test_twenty_concurrent_uploads(pipeline):
    wrapped = FakePipeline(inner=pipeline)
    app = create_app(pipeline=wrapped, max_concurrency=2, max_queue=32, allowed_models=[])
    with background_server(app) as url:

        def upload(i: int) -> tuple[int, tuple]:
            with httpx.Client(base_url=url, timeout=60) as http:
                r = http.post("/matte", params={"output": "rgba"}, files={"image": (f"p{i}.png", png_bytes(seed=i))})
                return r.status_code, decode(r.content).shape if r.status_code == 200 else r.text

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(upload, range(20)))
    assert results == [(200, (H, W, 4))] * 20
    assert wrapped.calls == 20 and 1 <= wrapped.peak <= 2


def test_queue_overflow_is_503_with_retry_after():
    gate = threading.Event()
    fake = FakePipeline(gate)
    app = create_app(pipeline=fake, max_concurrency=1, max_queue=1, allowed_models=[])
    with background_server(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        with ThreadPoolExecutor(2) as pool:
            try:
                pending = [
                    pool.submit(http.post, "/matte", files={"image": (f"p{i}.png", png_bytes())}) for i in range(2)
                ]
                deadline = time.monotonic() + 30
                while True:  # the event loop answers while an inference blocks
                    health = http.get("/health").json()
                    if (health["running"], health["waiting"]) == (1, 1):
                        break
                    assert time.monotonic() < deadline, health
                    time.sleep(0.02)
                r = http.post("/matte", files={"image": ("p.png", png_bytes())})
                assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
                assert r.json()["detail"].startswith("server busy: 1 running and 1 waiting (max_queue 1)")
            finally:
                gate.set()
            assert [f.result().status_code for f in pending] == [200, 200]
    assert fake.peak == 1


# --------------------------------------------------------------------------------------------- command


def test_cli_arguments_and_clear_failure():
    parser = add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--model", "no_such_model", "--port", "8123", "--max-upload-mb", "5"])
    assert (args.host, args.port, args.max_upload_mb, args.max_concurrency) == ("127.0.0.1", 8123, 5.0, 2)
    with pytest.raises(ValueError, match="unknown model 'no_such_model'"):
        run(args)  # fails before the server starts
    with pytest.raises(ValueError, match="--port must be in 1..65535"):
        run(parser.parse_args(["--port", "0"]))
