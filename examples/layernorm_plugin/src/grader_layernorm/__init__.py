"""A grader plugin that adds one exercise: layer normalization as a module.

Everything reaches the grader through harness hooks (``grader.hookspecs``), the same hooks the
chapter that ships with the grader uses:

- ``grader_exercises``: the section module ``spec`` with the ``layer_norm`` hookspec, whose
  docstring is the task statement students read;
- ``grader_reference``: ``reference/layer_norm.py``, a correct solution (and, on its own, a
  valid submission);
- ``grader_checks``: the pytest checks in ``checks/``;
- ``grader_points``: how much each check is worth.

Installed, it is found through its entry point ``layernorm`` in the ``grader`` group; not
installed, ``--plugin examples/layernorm_plugin/src/grader_layernorm`` loads the same package.
"""

from __future__ import annotations

from pathlib import Path

from grader.kit import hookimpl

from . import spec
from .reference import layer_norm as reference_layer_norm

__version__ = "0.1.0"

CHECKS = Path(__file__).parent / "checks"

# Points per check (the checks' names in ``checks/test_layer_norm.py``): 8 for the exercise.
POINTS = {"outputs": 3, "gradients": 2, "parameters": 1, "initial_values": 1, "eps": 1}


@hookimpl
def grader_exercises():
    return [spec]


@hookimpl
def grader_reference():
    return [reference_layer_norm]


@hookimpl
def grader_checks():
    return sorted(str(p) for p in CHECKS.glob("test_*.py"))


@hookimpl
def grader_points(hook, check):
    # None for other hooks (and for the hook's total): the chapter's points stay as they are.
    if hook == spec.HOOK and check is not None:
        return POINTS.get(check)
    return None
