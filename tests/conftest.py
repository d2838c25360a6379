"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = Path(__file__).resolve().parent / "data"
SAMPLE_IMAGES = REPO_ROOT / "sample_images"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skips the test when it is absent."""
    if not (SHARED_DATA / "dltrack_apo" / "split.csv").is_file():
        pytest.skip("../shared/data is not available in this checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def test_data() -> Path:
    """Small committed fixtures in ``tests/data``."""
    return TEST_DATA


@pytest.fixture(scope="session")
def sample_images() -> Path:
    """The committed ``sample_images`` folder."""
    return SAMPLE_IMAGES
