"""Two checks of `mlp`: `kept` runs, `dropped` is deselected by this folder's conftest.py (conftest_deselect.py, renamed by the test)."""

import pytest

from grader.kit import fail

pytestmark = pytest.mark.hook("mlp")


def test_kept(sub):
    """The submission defines `mlp`."""


def test_dropped(sub):
    """Never runs: deselected at collection."""
    fail("a deselected check ran")
