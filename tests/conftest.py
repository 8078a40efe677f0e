"""Shared fixtures: the real public files in ../shared/data and a tiny generated universe."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real fixtures, used by relative path and never copied into the project."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real fixtures not found at {SHARED_DATA}; the project expects ../shared/data beside it")
    return SHARED_DATA
