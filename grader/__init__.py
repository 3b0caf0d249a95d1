"""grader: an autograding harness for PyTorch courses.

Exercises, the reference, checks and report formats are pluggy plugins; student code runs only
in confined worker processes (``grader.worker``), verdicts only in the trusted one
(``grader.trusted``).

``hookimpl`` marks an implementation (optional for exercise hooks in a submission, which are
found by name); ``hookspec`` marks a specification (used by exercise plugins).

``%load_ext grader`` in IPython or Jupyter adds ``%grade`` (``grader.kernel``); IPython is
imported only then.
"""

from typing import Any

import pluggy

__version__ = "0.1.0"  # the single source of the version: pyproject.toml reads it

PROJECT = "grader"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext grader``: add the ``%grade`` magic to ``ipython`` (``grader.kernel.magic``)."""
    from .kernel.magic import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext grader``: stop the kernel's grading process."""
    from .kernel.magic import unload

    unload(ipython)


__all__ = ["__version__", "hookspec", "hookimpl", "load_ipython_extension", "unload_ipython_extension"]
