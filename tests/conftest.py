"""Shared paths. The `grade` fixture comes from `grader.testing` (the plugin shipped for check
authors), so the suite exercises the same helper instructors use."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"


@pytest.fixture
def submissions() -> Path:
    return SUBMISSIONS
