"""The ``automatte serve`` page end to end in headless Chromium (``pytest -m browser``; ``make test-browser``).

A live uvicorn server in a background thread serves the tiny untrained ``indexnet_free_test`` model (or
``$AUTOMATTE_SERVE_MODEL``); Selenium drives Debian's ``chromium`` through ``chromedriver``. The screenshot of
a finished page goes to ``$AUTOMATTE_SCREENSHOT`` (default: a temporary folder); its path is printed. Tests
skip with the reason when Selenium, Chromium or chromedriver is missing.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from automatte.serve.app import background_server, create_app

pytestmark = pytest.mark.browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
H, W = 360, 480


def _find(names: tuple[str, ...], fallback: str | None = None) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return fallback if fallback and Path(fallback).is_file() else None


def photo(path: Path) -> Path:
    """A synthetic portrait-like photo: a warm figure on a cool gradient, with a soft edge."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    bg = np.stack([90 + 80 * xx / W, 140 + 60 * yy / H, 200 - 40 * xx / W], axis=2)
    head = ((xx - W / 2) / 70) ** 2 + ((yy - H * 0.38) / 85) ** 2 < 1
    body = ((xx - W / 2) / 150) ** 2 + ((yy - H) / 170) ** 2 < 1
    mask = cv2.GaussianBlur((head | body).astype(np.float32), (0, 0), 2.0)[..., None]
    fg = np.stack([215 - 40 * yy / H, 150 + 0 * xx, 110 + 30 * xx / W], axis=2)
    image = np.clip(mask * fg + (1 - mask) * bg, 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), image[..., ::-1])
    return path


@pytest.fixture(scope="module")
def server():
    from automatte.api import load_model

    name = os.environ.get("AUTOMATTE_SERVE_MODEL", "indexnet_free_test")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="model .* untrained weights", category=UserWarning)
        pipeline = load_model(name, foreground="blur_fusion")
    with background_server(create_app(pipeline=pipeline, allowed_models=[])) as url:
        yield url, pipeline.name


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    binary = _find(BROWSERS)
    if binary is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium chromium-driver; or make test-browser)")
    driver_path = _find(("chromedriver",), "/usr/bin/chromedriver")
    if driver_path is None:
        pytest.skip("no chromedriver (Debian: apt-get install chromium-driver; or make test-browser)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_state(driver, *states: str, timeout: float = 60) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-state") in states
    )
    return driver.find_element("tag name", "body").get_attribute("data-state")


def natural_size(driver, element_id: str) -> tuple[int, int]:
    return tuple(
        driver.execute_script(
            f"const i = document.getElementById('{element_id}'); return [i.naturalWidth, i.naturalHeight];"
        )
    )


def test_page_mattes_a_photo(server, browser, tmp_path, capsys):
    url, model = server
    browser.get(url + "/")
    assert browser.title == "automatte"
    real = os.environ.get("AUTOMATTE_SERVE_PHOTO")  # e.g. examples/chelsea.jpg for the README's screenshot
    upload = Path(real).resolve() if real else photo(tmp_path / "portrait.png")
    w, h = cv2.imread(str(upload)).shape[1::-1]
    browser.find_element("id", "file").send_keys(str(upload))
    state = wait_for_state(browser, "done", "error")
    assert state == "done", browser.find_element("id", "error").text
    for element_id in ("input", "alpha", "cutout", "composite"):
        assert natural_size(browser, element_id) == (w, h), element_id
    status = browser.find_element("id", "status").text
    assert model in status and f"{w}×{h}" in status
    assert not browser.find_element("id", "error").is_displayed()
    for key in ("alpha", "cutout", "composite"):
        link = browser.find_element("id", f"download-{key}")
        assert link.is_displayed() and link.get_attribute("download") == f"{upload.stem}_{key}.png"
        assert link.get_attribute("href").startswith("blob:")

    browser.find_element("css selector", "input[name=bg][value=green]").click()  # a new composite, same sizes
    assert wait_for_state(browser, "done", "error") == "done"
    assert natural_size(browser, "composite") == (w, h)

    shot = Path(os.environ.get("AUTOMATTE_SCREENSHOT") or tmp_path / "serve_screenshot.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert (
        browser.find_element("tag name", "body").screenshot(str(shot)) and shot.stat().st_size > 0
    )  # the page, no blank
    with capsys.disabled():
        print(f"\nscreenshot: {shot.resolve()}")


def test_page_shows_an_error_for_a_text_file(server, browser, tmp_path):
    url, _ = server
    browser.get(url + "/")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n")
    browser.find_element("id", "file").send_keys(str(notes))
    assert wait_for_state(browser, "done", "error") == "error"
    error = browser.find_element("id", "error")
    assert error.is_displayed()
    assert "notes.txt" in error.text and "not a recognised image" in error.text
    assert natural_size(browser, "alpha") == (0, 0)
