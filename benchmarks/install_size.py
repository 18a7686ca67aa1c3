"""Installed size and time to the first cutout, light install against full install.

``python benchmarks/install_size.py`` creates two fresh virtual environments under ``--root`` (default
``/tmp/automatte-install``) from this checkout, with the pip of the running Python:

* **light**: ``pip install .`` (no extras): no PyTorch; the segmenter runs on its shipped ONNX graph;
* **full**: ``pip install TORCH_SPEC`` then ``pip install '.[all]'`` (what ``make`` installs, less the test tools);

and for each prints the time of ``pip install``, the installed size of the environment (``du`` of the venv; the
biggest packages beside it), and the time of the first ``automatte PHOTO -o OUT`` (a fresh process: imports,
model load, one matte). Then it compares the two cutouts of every photo of ``examples/`` (largest |alpha|
difference in 8-bit levels; the acceptance is <= 1). ``--keep`` reuses existing environments (no reinstall:
then the install time is not measured). ``--only light`` measures one.

Example (this project's 2-core VM, figures in the README)::

    python benchmarks/install_size.py --root /tmp/automatte-install
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TORCH_SPEC = os.environ.get("TORCH_SPEC", "torch==2.13.0")  # the Makefile's (this machine's CPU build)
EXAMPLES = sorted((ROOT / "examples").glob("*.jpg"))


def venv_bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def create_venv(venv: Path, kind: str, source: Path = ROOT) -> float:
    """A fresh venv at ``venv`` with automatte installed from ``source`` (``kind``: "light" or "full"); returns
    the seconds ``pip install`` took (the venv's creation and pip's upgrade not counted)."""
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv_bin(venv, "python")), "-m", "pip", "install", "--quiet", "--no-cache-dir"]
    t = time.perf_counter()
    if kind == "full":
        subprocess.run([*pip, TORCH_SPEC], check=True)
        subprocess.run([*pip, f"{source}[all]"], check=True)
    elif kind == "light":
        subprocess.run([*pip, str(source)], check=True)
    else:
        raise ValueError(f"kind must be 'light' or 'full', got {kind!r}")
    return time.perf_counter() - t


def installed_size(venv: Path) -> tuple[int, list[tuple[str, int]]]:
    """Bytes of the whole venv and of its five largest packages in site-packages (name, bytes)."""

    def du(path: Path) -> int:
        if path.is_file():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())

    site = next(venv.glob("lib/python3*/site-packages"), None) or venv / "Lib" / "site-packages"
    packages = sorted(((p.name, du(p)) for p in site.iterdir() if not p.name.endswith(".dist-info")),
                      key=lambda x: -x[1])  # fmt: skip
    return du(venv), packages[:5]


def has_module(venv: Path, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(venv_bin(venv, "python")), "-c", code]).returncode == 0


def first_cutout(venv: Path, photo: Path, out: Path) -> float:
    """Seconds of ``automatte PHOTO -o OUT`` in a fresh process of the venv (writes OUT/<stem>_alpha.png)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package, not the checkout
    t = time.perf_counter()
    subprocess.run([str(venv_bin(venv, "automatte")), str(photo), "-o", str(out), "--overwrite", "-q"],
                   check=True, env=env, cwd=out)  # fmt: skip
    return time.perf_counter() - t


def max_alpha_difference(a: Path, b: Path) -> int:
    """Largest |a - b| of two alpha PNGs, in 8-bit levels."""
    from automatte.io import read_alpha

    return int(round(float(np.abs(read_alpha(a) - read_alpha(b)).max()) * 255))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/tmp/automatte-install", help="where the two venvs go")
    parser.add_argument("--only", choices=["light", "full"], default=None)
    parser.add_argument("--keep", action="store_true", help="reuse existing venvs (install time not measured)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    kinds = [args.only] if args.only else ["light", "full"]
    rows = {}
    for kind in kinds:
        venv = root / kind
        install = None
        if not (args.keep and venv_bin(venv, "automatte").is_file()):
            install = create_venv(venv, kind)
        size, biggest = installed_size(venv)
        first = first_cutout(venv, EXAMPLES[0], root / f"out-{kind}")
        for photo in EXAMPLES[1:]:
            first_cutout(venv, photo, root / f"out-{kind}")
        rows[kind] = (install, size, first, has_module(venv, "torch"), biggest)
    print(f"{'install':8} {'pip install':>12} {'installed':>10} {'first cutout':>13}  torch  largest packages")
    for kind, (install, size, first, torch, biggest) in rows.items():
        pip_s = "-" if install is None else f"{install:.0f} s"
        big = ", ".join(f"{n} {b / 2**20:.0f}" for n, b in biggest)
        print(
            f"{kind:8} {pip_s:>12} {size / 2**20:>7.0f} MiB {first:>11.1f} s  {'yes' if torch else 'no ':5}  {big} (MiB)"
        )
    if len(rows) == 2:
        for photo in EXAMPLES:
            name = f"{photo.stem}_alpha.png"
            diff = max_alpha_difference(root / "out-light" / name, root / "out-full" / name)
            print(f"{photo.name}: light vs full alpha, largest difference {diff} / 255")
    return 0


if __name__ == "__main__":
    sys.exit(main())
