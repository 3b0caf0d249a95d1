"""A grading process: an ordinary trusted grader (its own ``Grader`` and worker template) that
grades the submissions the coordinator sends, one at a time, and writes their result files; or,
started by a kernel without a results directory, grades the kernel's cells (``kernel``) and
sends each result back.

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
from typing import IO, TYPE_CHECKING

from . import kernel, protocol
from .budget import deadline_for
from .results import write_submission

if TYPE_CHECKING:
    from ...reports import ReportFormat
    from ..grading import Grader, Job
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

        stdin = sys.stdin.buffer  # bytes only: a text layer would read ahead of the settings line
        settings = Settings.from_json(stdin.readline().decode())
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

        def jobs() -> Iterator[tuple[dict, Path | Job]]:
            for line in job_lines(stdin):
                try:
                    job = json.loads(line)
                except ValueError:  # a line over the size limit (b""), or not JSON
                    job = None
                if isinstance(job, dict) and not kernel.is_kernel_job(job) and settings.results_dir is not None:
                    yield job, Path(job["path"])  # a batch's
                    continue
                if not isinstance(job, dict) or not kernel.is_kernel_job(job):
                    error = kernel.TOO_LARGE if not line else "the request could not be read"
                    send({"event": protocol.DONE, "i": None, "error": error})
                    continue
                try:
                    yield job, kernel.read_job(grader, job)
                except kernel.Refused as e:
                    done(job, e)

        def done(job: dict, outcome: dict | BaseException) -> None:
            if kernel.is_kernel_job(job):  # the answer goes back to the kernel, no file written
                i = job.get("i") if isinstance(job.get("i"), int) else None
                send({"event": protocol.DONE, "i": i, **kernel.answer(outcome, settings.audience)})
                return
            send({"event": protocol.DONE, "i": job["i"], **graded(grader, settings, formats, job, outcome)})

        # One pytest session for the whole queue: the checks are collected once (``grade_each``).
        grader.grade_each(jobs(), done)
    finally:
        template.close()


MAX_LINE = 16 << 20  # bytes of one job: a kernel's cells (2 MiB of code, as JSON), a batch's path


def job_lines(stream: IO[bytes], limit: int = MAX_LINE) -> Iterator[bytes]:
    """The lines of ``stream`` until its end, each at most ``limit`` bytes: a longer one is read
    to its end and given as ``b""`` (never held whole)."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(limit)
                if not rest or rest.endswith(b"\n"):
                    break
            yield b""
            continue
        yield line


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
