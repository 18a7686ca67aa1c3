"""Closed-form matting in NumPy + SciPy: against a dense transcription of Levin et al.'s formula, against
pymatting's Laplacian kernel and (slow) pymatting's whole solver, and on odd shapes."""

import importlib.util
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from automatte.infer.classical import classical_alpha
from automatte.infer.closed_form import cf_system, estimate_alpha_cf


def _scene(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth two-colour composite with noise, and a trimap with an unknown band around the edge."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    alpha = np.clip((xx - w / 2 + 2 * np.sin(yy / 3)) / 3 + 0.5, 0, 1)
    fg, bg = np.array([0.9, 0.6, 0.2]), np.array([0.1, 0.3, 0.7])
    image = alpha[..., None] * fg + (1 - alpha[..., None]) * bg + rng.normal(0, 0.03, (h, w, 3))
    trimap = np.full((h, w), 0.5)
    trimap[xx < w / 2 - 5] = 0.0
    trimap[xx > w / 2 + 5] = 1.0
    return np.clip(image, 0, 1), trimap


def _dense_reference(image: np.ndarray, trimap: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Levin et al. 2008 eq. 12 window by window (dense L), then L_UU a_U = -L_UK a_K."""
    h, w, _ = image.shape
    n = h * w
    lap = np.zeros((n, n))
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            ids = np.array([(y + dy) * w + (x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
            colours = image.reshape(n, 3)[ids]
            mu = colours.mean(axis=0)
            cov = (colours - mu).T @ (colours - mu) / 9.0
            inv = np.linalg.inv(cov + eps / 9.0 * np.eye(3))
            block = np.eye(9) - (1.0 + (colours - mu) @ inv @ (colours - mu).T) / 9.0
            lap[np.ix_(ids, ids)] += block
    t = trimap.ravel()
    known = (t >= 0.9) | (t <= 0.1)
    alpha = (t >= 0.9).astype(float)
    u = ~known
    alpha[u] = np.linalg.solve(lap[np.ix_(u, u)], -lap[np.ix_(u, known)] @ alpha[known])
    return np.clip(alpha, 0, 1).reshape(h, w)


def test_matches_the_dense_formula():
    image, trimap = _scene(14, 18)
    ours = estimate_alpha_cf(image, trimap)
    assert np.abs(ours - _dense_reference(image, trimap)).max() < 1e-8


def test_known_pixels_and_range():
    image, trimap = _scene(40, 50, seed=1)
    alpha = estimate_alpha_cf(image, trimap)
    assert np.array_equal(alpha[trimap == 1.0], np.ones((trimap == 1.0).sum()))
    assert np.array_equal(alpha[trimap == 0.0], np.zeros((trimap == 0.0).sum()))
    assert alpha.min() >= 0 and alpha.max() <= 1
    band = alpha[trimap == 0.5]
    assert 0.05 < band.mean() < 0.95 and band.std() > 0.1  # a real transition, not a constant


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 2), (3, 500), (500, 3)])
def test_thin_images(shape):
    h, w = shape
    image = np.linspace(0, 1, h * w * 3).reshape(h, w, 3)
    trimap = np.full((h, w), 0.5)
    trimap.flat[0], trimap.flat[-1] = 0.0, 1.0
    alpha = classical_alpha(image, trimap, "cf")
    assert alpha.shape == (h, w) and np.isfinite(alpha).all()
    assert np.array_equal(alpha[trimap != 0.5], trimap[trimap != 0.5])


def test_all_unknown_is_an_error_and_all_known_passes_through():
    image, trimap = _scene(10, 10)
    with pytest.raises(ValueError, match="no known pixel"):
        estimate_alpha_cf(image, np.full((10, 10), 0.5))
    known = (trimap > 0.5).astype(float)
    assert np.array_equal(estimate_alpha_cf(image, known), known)


_KERNEL = "pymatting.laplacian.cf_laplacian"


def _stale_numba_cache(folder: Path) -> list[Path]:
    """numba cache files in ``folder``'s ``__pycache__`` that name the module ``<dynamic>``: written by this test's
    earlier versions, which loaded the kernel under a module name that is not in ``sys.modules``. numba cached
    it for that dummy module, and ``import pymatting`` then failed ("No module named '<dynamic>'")."""
    stale = []
    for data in sorted((folder / "__pycache__").glob("*.nbc")):
        if b"<dynamic>" in data.read_bytes():
            stale += [data, data.with_name(re.sub(r"\.\d+\.nbc$", ".nbi", data.name))]
    return stale


def _pymatting_kernel_module():
    """pymatting/laplacian/cf_laplacian.py loaded on its own (one numba kernel, not the whole package).

    It is loaded under its own name, registered in ``sys.modules`` while it runs (the kernel compiles at
    decoration), so numba's on-disk cache entry is the one ``import pymatting`` writes and reads itself.
    """
    if _KERNEL in sys.modules:
        return sys.modules[_KERNEL]
    spec = importlib.util.find_spec("pymatting")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pymatting is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "laplacian"
    for path in _stale_numba_cache(folder):
        path.unlink(missing_ok=True)
    file_spec = importlib.util.spec_from_file_location(_KERNEL, folder / "cf_laplacian.py")
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[_KERNEL] = module
    try:
        file_spec.loader.exec_module(module)
    finally:
        del sys.modules[_KERNEL]  # no half-imported package left behind for a later `import pymatting`
    assert not _stale_numba_cache(folder), "the kernel was cached under a module name pymatting cannot import"
    return module


def test_laplacian_matches_pymatting_kernel():
    image, trimap = _scene(30, 40, seed=2)
    ref = _pymatting_kernel_module().cf_laplacian(image, is_known=(trimap != 0.5))
    lap, b, unknown = cf_system(image, trimap)
    u, fg = unknown, trimap.ravel() >= 0.9
    assert np.abs((ref[u][:, u] - lap).toarray()).max() < 1e-9
    assert np.abs(-ref[u][:, fg] @ np.ones(fg.sum()) - b).max() < 1e-9


@pytest.mark.slow  # imports all of pymatting: about a minute of numba compilation without a cache
def test_agrees_with_pymatting_estimate_alpha_cf():
    import pymatting

    for seed, (h, w) in enumerate([(32, 32), (48, 64), (64, 40)]):
        image, trimap = _scene(h, w, seed)
        start = time.perf_counter()
        ref = pymatting.estimate_alpha_cf(image, trimap)
        assert time.perf_counter() - start < 30
        # Measured 2e-9 .. 5e-8 here (pymatting's CG stops at a relative residual of 1e-7; ours is a direct solve);
        # 5e-5 on a 0.14 MP photo with a real trimap (examples/chelsea.jpg).
        assert np.abs(estimate_alpha_cf(image, trimap) - ref).max() < 1e-5


def test_solve_spd_banded_path_matches_superlu(monkeypatch):
    import scipy.sparse.linalg

    from automatte.infer.closed_form import solve_spd

    lap, b, _ = cf_system(*_scene(80, 48))  # an 11-px band, 80 rows long: half-bandwidth ~40 after RCM
    expected = scipy.sparse.linalg.spsolve(lap.tocsc(), b)

    def no_superlu(*args, **kwargs):
        raise AssertionError("a trimap band should take the banded Cholesky path")

    monkeypatch.setattr(scipy.sparse.linalg, "splu", no_superlu)
    np.testing.assert_allclose(solve_spd(lap, b), expected, rtol=0, atol=1e-8)
    # a shuffled order (a band as the raw pixel order would not give): RCM must find the band again
    perm = np.random.default_rng(0).permutation(lap.shape[0])
    shuffled = lap[perm][:, perm]
    np.testing.assert_allclose(solve_spd(shuffled, b[perm]), expected[perm], rtol=0, atol=1e-8)


def test_solve_spd_falls_back_when_not_positive_definite():
    import scipy.sparse

    from automatte.infer.closed_form import solve_spd

    lap = scipy.sparse.diags([np.array([2.0, -1.0, 3.0])], [0], format="csr")  # symmetric, indefinite
    np.testing.assert_allclose(solve_spd(lap, np.array([2.0, 1.0, 3.0])), [1.0, -1.0, 1.0])


def test_a_closed_form_pipeline_starts_the_scipy_preload(monkeypatch):
    from automatte.infer import closed_form
    from automatte.infer.pipeline import Pipeline

    calls = []
    monkeypatch.setattr(closed_form, "preload", lambda: calls.append(1))
    Pipeline("cf", refiner="cf", foreground="none")
    assert calls == [1]
    Pipeline("knn", refiner="knn", foreground="none")
    assert calls == [1]  # only closed-form needs SciPy's sparse solve


def test_preload_imports_scipy_in_the_background_once():
    import sys

    from automatte.infer import closed_form

    closed_form.preload()
    for thread in closed_form._PRELOAD:
        thread.join(timeout=60)
    assert "scipy.sparse.linalg" in sys.modules
    before = len(closed_form._PRELOAD)
    closed_form.preload()
    assert len(closed_form._PRELOAD) == before  # once per process
