"""grader: an autograding harness for PyTorch courses.

Exercises, the reference, checks and report formats are pluggy plugins; student code runs only
in confined worker processes (``grader.worker``), verdicts only in the trusted one
(``grader.trusted``).

``hookimpl`` marks an implementation (optional for exercise hooks in a submission, which are
found by name); ``hookspec`` marks a specification (used by exercise plugins).
"""

import pluggy

__version__ = "0.1.0"  # the single source of the version: pyproject.toml reads it

PROJECT = "grader"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["__version__", "hookspec", "hookimpl"]
