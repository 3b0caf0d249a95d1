"""The code-only form of a notebook or notes file: what a worker gets instead of the file.

The trusted side reads a notebook (``.ipynb``) or Markdown notes (``.md``), keeps only the code
of its code cells, and writes this form into the worker's copy of the submission as
``MODULE.grader-cells``: the worker runs it as the module ``MODULE``. Outputs, attachments and
prose never reach the worker. One JSON object::

    {"form": "grader-code-cells/1", "file": "work.ipynb",
     "cells": [{"n": 1, "label": "cell 2", "first_line": 1, "source": "import torch"}, ...]}

``file`` is the name the student knows; ``n`` numbers the code cells from 1 in running order;
``label`` is where the student finds the cell (``cell 2``: the notebook's second cell, code and
Markdown counted; None for notes, whose lines are the file's); ``first_line`` is the file line
a cell's first line is on (notes), else 1.

Shared by both sides (standard library only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SUFFIX = ".grader-cells"
FORM = "grader-code-cells/1"
# Top-level ``.py`` files that are never a submission's modules (the trusted side and the worker's
# loader both skip them).
NOT_MODULES = frozenset({"__init__", "__main__", "setup", "conftest"})


@dataclass(frozen=True)
class CodeCell:
    """One code cell: its source as written (IPython syntax included), where the student finds it
    (``label``, or the file's lines from ``first_line``)."""

    source: str
    label: str | None = None
    first_line: int = 1


def dump(file: str, cells: list[CodeCell]) -> bytes:
    """The form of ``cells``, code cells of the student's ``file``, in running order."""
    return json.dumps(
        {
            "form": FORM,
            "file": file,
            "cells": [
                {"n": n, "label": c.label, "first_line": int(c.first_line), "source": c.source}
                for n, c in enumerate(cells, 1)
            ],
        }
    ).encode()


def load(data: bytes) -> tuple[str, list[dict]]:
    """The student's file name and the cells of a form written by ``dump``."""
    form = json.loads(data)
    if not isinstance(form, dict) or form.get("form") != FORM:
        raise ValueError("not a grader code-cells file")
    return str(form["file"]), list(form["cells"])
