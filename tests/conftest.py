"""Shared test fixtures.

``shared_data`` is the project's data folder (``../shared/data`` from the repository root, or
``$AUTOMATTE_SHARED_DATA``); tests that need it are marked ``data`` and skip cleanly when it is absent,
as on a user's machine.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("AUTOMATTE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"{path} not present (set AUTOMATTE_SHARED_DATA to run data tests)")
    return path


@pytest.fixture(scope="module")
def bench():
    """benchmarks/default_models.py as a module (it is a script, not part of the package)."""
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("default_models", root / "benchmarks" / "default_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)
