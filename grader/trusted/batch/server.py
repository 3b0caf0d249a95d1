"""A grading process: an ordinary trusted grader (its own ``Grader`` and worker template) that
grades the submissions the coordinator sends, one at a time, and writes their result files.

The reference observations of the batch's one seed are computed once per process and reused for
every submission it grades; every submission gets freshly forked workers in a fresh scratch
directory, swept (every process they left behind killed) before the next one starts. pytest is
not thread-safe, hence processes, not threads. Messages: ``protocol``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from . import protocol
from .budget import deadline_for
from .results import write_submission

if TYPE_CHECKING:
    from ...reports import ReportFormat
    from ..grading import Grader
    from ..settings import Settings


def serve(reply_fd: int) -> None:
    """Main loop of a grading process (``python -m grader.trusted.batch FD``): read the
    settings and the jobs from stdin, answer on the pipe ``reply_fd``."""
    from ..workers import WorkerTemplate

    template = WorkerTemplate()  # first, so its torch import overlaps ours
    reply = os.fdopen(reply_fd, "wb", buffering=0)

    def send(message: dict) -> None:
        reply.write(protocol.encode(message))

    try:
        from ...plugins import PluginError
        from ...reports import report_formats
        from ..grading import Grader
        from ..sandbox import SandboxUnavailable
        from ..settings import Settings, UsageError

        settings = Settings.from_json(sys.stdin.readline())
        try:
            grader = Grader(settings, template=template)
            known = report_formats(grader.pm)
            unknown = [f for f in settings.formats if f not in known]
            if unknown:
                raise UsageError(f"unknown format {unknown[0]!r} (known: {', '.join(sorted(known))})")
        except (PluginError, UsageError, SandboxUnavailable) as e:
            send({"event": protocol.FATAL, "message": str(e), "usage": True})
            return
        formats = [(f, known[f]) for f in settings.formats]
        template.ready()
        t = settings.timeouts
        deadline = deadline_for(t.submission, max(t.check, t.import_module))
        send({"event": protocol.READY, "seed": settings.seed, "deadline": deadline})

        def jobs() -> Iterator[tuple[dict, Path]]:
            for line in sys.stdin:
                job = json.loads(line)
                yield job, Path(job["path"])

        def done(job: dict, outcome: dict | BaseException) -> None:
            send({"event": protocol.DONE, "i": job["i"], **graded(grader, settings, formats, job, outcome)})

        # One pytest session for the whole queue: the checks are collected once (``grade_each``).
        grader.grade_each(jobs(), done)
    finally:
        template.close()


def graded(
    grader: Grader,
    settings: Settings,
    formats: list[tuple[str, ReportFormat]],
    job: dict,
    outcome: dict | BaseException,
) -> dict:
    """Write one job's reports and result (``outcome``: its result, or why it has none); return
    the fields of its "done" message."""
    from ...reports.gradebook import row_status
    from ..scoring import failsafe_result

    name, given = job["name"], job["given"]
    if isinstance(outcome, BaseException):  # the grader failed on this submission: say so
        result = failsafe_result(given, f"the grader failed: {type(outcome).__name__}: {outcome}")
        result["seed"] = grader.settings.seed
    else:
        result = outcome
        result["submission"] = given
    if job.get("note"):
        result["notes"] = [str(job["note"])]
    status, detail = row_status(result)
    result.update(student=name, grading_status=status)
    assert settings.results_dir is not None
    problems = write_submission(settings.results_dir, name, result, formats, settings.audience)
    return {
        "status": status,
        "detail": "; ".join([detail, *problems] if detail else problems),
        "score": result.get("score", 0.0),
        "max_score": result.get("max_score", 0.0),
    }
