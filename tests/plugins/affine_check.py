"""Fixture plugin: a check added to an existing hook of the chapter (`mlp`)."""

from pathlib import Path


def grader_checks():
    return [str(Path(__file__).parent / "checks" / "checks_mlp_affine.py")]
