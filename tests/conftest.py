"""Shared fixtures. Tests use public imports only and run on the CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("XLING_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real data folder (../shared/data); skips when it is absent.

    With ``XLING_REQUIRE_SHARED_DATA=1`` (set by CI when the folder exists) a
    missing folder fails instead, so real-data tests cannot be skipped silently.
    """
    if not (SHARED_DATA / "README.md").exists():
        if os.environ.get("XLING_REQUIRE_SHARED_DATA", "") not in ("", "0"):
            pytest.fail(f"real data folder {SHARED_DATA} not found, but XLING_REQUIRE_SHARED_DATA is set")
        pytest.skip(f"real-data test: the data folder {SHARED_DATA} (../shared/data) is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
