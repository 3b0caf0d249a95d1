"""Fixture plugin: two checks of the chapter's `mlp` hook whose own conftest.py deselects one at
collection, as an instructor may with pytest's own hooks. The test grades with a copy of this file
and of deselecting/, where conftest_deselect.py becomes conftest.py."""

from pathlib import Path


def grader_checks():
    return [str(Path(__file__).parent / "deselecting" / "checks_mlp_deselected.py")]
