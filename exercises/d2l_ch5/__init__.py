"""*Dive into Deep Learning*, "Deep Learning Computation" (zh-v2 ch. 5, EN 1.0 "Builders' Guide"),
PyTorch edition: 44 hooks in six sections.

An ordinary grader plugin (entry point ``d2l_ch5`` in the ``grader`` group): its specs, its
reference (``reference/``, installed as ``grader.reference``) and its checks reach the harness
through the same hooks any instructor plugin uses.
"""

from __future__ import annotations

from pathlib import Path

from grader import reference
from grader.kit import hookimpl

from .specs import custom_layers, file_io, gpu, layers_and_blocks, lazy_init, parameters

SECTIONS = (layers_and_blocks, parameters, lazy_init, custom_layers, file_io, gpu)
CHECKS = Path(__file__).parent / "checks"


@hookimpl
def grader_exercises():
    return list(SECTIONS)


@hookimpl
def grader_reference():
    return reference.modules()


@hookimpl
def grader_checks():
    return sorted(str(p) for p in CHECKS.glob("test_*.py"))
