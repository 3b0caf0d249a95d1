"""A batch's result files, under ``results_dir``::

    submissions/<name>/result.json    the JSON result (RESULT_SCHEMA.md) plus "student",
                                      "grading_status" and, when collecting it noted something
                                      (its single folder graded), "notes"; written by the grading process after the
                                      submission's workers are gone, atomically
    submissions/<name>/<format><ext>  one file per extra --format (text, gradescope, junit, ...)
    gradebook.csv, report.html        written by the caller from the result files

Each submission's reports are written before its result: a result file means "this one is done".
"""

from __future__ import annotations

import json
from pathlib import Path

from ...atomic import atomic_write
from ...reports import ReportFormat, ReportOptions
from .collect import Submission

RESULT_FILE = "result.json"


def result_path(results_dir: Path, name: str) -> Path:
    """Where the result of the submission called ``name`` goes."""
    return Path(results_dir) / "submissions" / name / RESULT_FILE


def write_result(path: Path, result: dict) -> None:
    """Write a JSON result (atomically)."""
    atomic_write(path, json.dumps(result, indent=2, allow_nan=False) + "\n")


def write_submission(
    results_dir: Path, name: str, result: dict, formats: list[tuple[str, ReportFormat]], audience: str
) -> list[str]:
    """Write one submission's reports in the given ``(name, format)`` pairs (json aside: the
    result is json), then its result. Returns what went wrong with the reports: a format that
    cannot render this result is reported, not fatal."""
    out = result_path(results_dir, name)
    problems = []
    for fmt, f in formats:
        if fmt == "json":
            continue
        try:
            data = f.render(result, ReportOptions(audience=audience))
        except Exception as e:
            problems.append(f"the {fmt} report failed: {type(e).__name__}: {e}")
            continue
        atomic_write(out.with_name(fmt + f.extension), data)
    write_result(out, result)
    return problems


def write_failure(results_dir: Path, submission: Submission, status: str, reason: str, seed: int) -> None:
    """The result of a submission whose grading process failed: valid, scored 0, says why."""
    from ..scoring import failsafe_result  # imports torch: only once something has failed

    result = failsafe_result(str(submission.path), reason)
    result.update(student=submission.name, grading_status=status, seed=seed)
    if submission.note:
        result["notes"] = [submission.note]
    write_result(result_path(results_dir, submission.name), result)
