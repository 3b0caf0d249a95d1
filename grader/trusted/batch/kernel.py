"""A kernel's jobs (``%grade`` in a notebook): the cells of its input history, the hooks to grade
and the seed, read defensively, and the answer sent back.

The kernel (``grader.kernel``) sends its cells as JSON; they are student input like any
submission: the job's size is capped, every field is checked, the cells become a submission of
one notebook (``Sources.from_cells``) that runs in confined workers as a notebook file does, and
nothing in the job is ever executed here. Hook names are checked against the course, so a
misspelled one is answered with what exists instead of a run.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from ... import sanitize
from ...worker.code_cells import CodeCell
from ..notebooks import MAX_CODE

if TYPE_CHECKING:
    from ..grading import Grader, Job
    from ..sources import Sources

MAX_CELLS = 20_000  # cells of one job (a long-lived kernel's history)
MAX_SEED = 1 << 64  # |seed|: what ``grader run --seed`` reproduces
DEFAULT_FILE = "kernel"  # the submission's name in the report when the kernel gives none
TOO_LARGE = "the kernel's history is too large to grade: restart the kernel and run the cells to grade"


class Refused(Exception):
    """The job cannot be graded as asked (an unknown hook, nothing defined, too much code); the
    message says why, for the student."""


def is_kernel_job(job: dict) -> bool:
    """Whether a job carries cells (a kernel's) rather than a path (a batch's)."""
    return "cells" in job


def read_job(grader: Grader, job: dict) -> Job:
    """The ``Job`` a kernel's message asks for: ``{"cells": [{"source", "label"}, ...], "file",
    "hooks": [...], "seed"}``. ``hooks`` empty or absent: every hook the cells define (by name or
    by the course text's name: ``known_as``). Raises ``Refused``."""
    from ..grading import Job
    from ..sources import Sources

    cells = _cells(job.get("cells"))
    file = job.get("file")
    file = sanitize.name(file, 100) if isinstance(file, str) and file.strip() else DEFAULT_FILE
    file = file.replace("/", "_") or DEFAULT_FILE
    seed = job.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or abs(seed) >= MAX_SEED):
        raise Refused("--seed takes a whole number")
    hooks = _hooks(grader, job.get("hooks"))
    # With an assignment, its exercises only (``grader run --assignment`` grades no other); the
    # grader's selection is empty without one.
    assigned = grader.selection
    outside = [h for h in hooks if assigned and h not in assigned]
    if outside:
        raise Refused(f"`{outside[0]}` is not part of this assignment; its exercises: {', '.join(assigned)}")
    sources = Sources.from_cells(file, cells)
    try:
        if not hooks:
            hooks = [h for h in defined_hooks(grader, sources) if not assigned or h in assigned]
            if not hooks:
                first = next(iter(assigned or grader.course.hooks), "HOOK")
                of = " of this assignment" if assigned else ""
                raise Refused(
                    f"no exercise{of} is defined in this kernel yet: run a cell defining one "
                    f"(`def {first}(...)`), or name one: `%grade HOOK`"
                )
    except BaseException:
        sources.close()
        raise
    return Job(sources, seed=seed, only=hooks)


def _cells(raw: Any) -> list[CodeCell]:
    if not isinstance(raw, list) or len(raw) > MAX_CELLS:
        raise Refused(f"the kernel's history could not be read (at most {MAX_CELLS} cells)")
    cells: list[CodeCell] = []
    size = 0
    for c in raw:
        source = c.get("source") if isinstance(c, dict) else None
        label = c.get("label") if isinstance(c, dict) else None
        if not isinstance(source, str) or not (label is None or isinstance(label, str)):
            raise Refused("the kernel's history could not be read (a cell that is not text)")
        size += len(source)
        if size > MAX_CODE:
            raise Refused(
                f"the kernel's history holds more than {MAX_CODE >> 20} MiB of code, too large to grade: "
                "restart the kernel and run the cells to grade"
            )
        cells.append(CodeCell(source=source, label=sanitize.name(label, 40) if label else None))
    return cells


def _hooks(grader: Grader, raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(h, str) for h in raw):
        raise Refused("the exercises to grade could not be read")
    known = grader.course.hooks
    unknown = [h for h in raw if h not in known]
    if unknown:
        name = sanitize.name(unknown[0], 60)
        close = difflib.get_close_matches(unknown[0], list(known), n=1)
        book = {k.name: hook for hook, spec in known.items() for k in spec.known_as}
        if unknown[0] in book:
            advice = f" (the book's name for `{book[unknown[0]]}`: `%grade {book[unknown[0]]}`)"
        else:
            advice = f" (did you mean `{close[0]}`?)" if close else ""
        raise Refused(f"no exercise `{name}`{advice}. The exercises: {', '.join(known)} (`grader list` describes each)")
    return list(dict.fromkeys(raw))


def defined_hooks(grader: Grader, sources: Sources) -> list[str]:
    """The hooks the cells define at their top level, in course order: a ``def``, ``class`` or
    assignment of the hook's name or of one of its ``known_as`` names (read from the syntax
    trees, as for a notebook's definitions)."""
    names: set[str] = set()
    for f in sources.files:
        names |= set(f.definitions) | f.assigned
    return [
        name
        for name, spec in grader.course.hooks.items()
        if name in names or any(k.name in names for k in spec.known_as)
    ]


def answer(outcome: dict | BaseException, audience: str = "student") -> dict:
    """The fields of a kernel job's "done" message: its ``result`` (for a student audience, what
    a student may read of it: ``reports.student_copy``), or the ``error`` that kept it from
    having one."""
    if isinstance(outcome, Refused):
        return {"error": str(outcome)}
    if isinstance(outcome, BaseException):
        from ..settings import UsageError

        if isinstance(outcome, UsageError):
            return {"error": sanitize.text(str(outcome), 1000)}
        return {"error": sanitize.text(f"the grader failed: {type(outcome).__name__}: {outcome}", 1000)}
    if audience == "student":
        from ...reports import student_copy

        return {"result": student_copy(outcome)}
    return {"result": outcome}
