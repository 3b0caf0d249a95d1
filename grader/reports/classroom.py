"""``--format classroom``: the runner JSON that GitHub Classroom's autograding reporter
(``classroom-resources/autograding-grading-reporter``) reads, schema in
``grader/schemas/classroom-runner.schema.json``.

The reporter decodes ``base64(JSON)`` from the environment variable ``<STEP-ID>_RESULTS`` (the
step id upper-cased), sends ``Σ tests[].score`` and ``max_score`` to Classroom, prints each test's
``name``, ``message`` and ``test_code`` in the workflow log, and fails the job on status ``fail``
or ``error``. ``grader classroom workflow`` prints a workflow wired that way.

One test per check (device cells folded; all-skipped checks left out: they are worth nothing).
Scores are fractional and, added up in order the way the reporter adds them, equal the JSON
result's ``score`` exactly. The log is the student's to read, so messages of checks that are not
visible are withheld unless ``--audience instructor``; they are sanitized (``grader.sanitize``), so
the log shows them as written (no escape sequence, no workflow command).
"""

from __future__ import annotations

import json
import math
from typing import TypedDict

from .. import sanitize
from . import ReportFormat, ReportOptions, all_passed, folded_checks, total

VERSION = 1


class RunnerTest(TypedDict):
    """One entry of the runner JSON's ``tests``."""

    name: str
    status: str
    score: float
    message: str
    test_code: str
    filename: str
    line_no: int
    duration: int


def sequential_sum(values: list[float]) -> float:
    total = 0.0
    for v in values:  # the order the reporter's reduce adds them in
        total += v
    return total


def exact_scores(scores: list[float], total: float) -> list[float]:
    """``scores`` nudged (by float rounding error only, on the largest) so that adding them in
    order gives exactly ``total``: Classroom shows "Points {sum}/{max}" from that sum."""
    out = [round(s, 6) for s in scores]
    if not out or sequential_sum(out) == total:
        return out
    j = max(range(len(out)), key=lambda i: out[i])
    out[j] += total - sequential_sum(out)
    for _ in range(64):
        got = sequential_sum(out)
        if got == total:
            break
        out[j] = math.nextafter(out[j], math.inf if got < total else -math.inf)
    return out


def render(result: dict, options: ReportOptions) -> str:
    if result.get("grading_error"):
        status = "error"
    else:
        status = "pass" if all_passed(result) else "fail"
    gated = bool(result.get("required_failed"))
    submission = sanitize.name(result.get("submission", "."), 1000)
    tests: list[RunnerTest] = []
    for check in folded_checks(result):
        if check.status == "skipped":
            continue
        details = check.details(options)
        message = "\n".join(
            (f"{label}: " if label else "") + text + (f"\nhint: {hint}" if hint else "")
            for label, text, hint in details
        )
        if gated and check.score:
            message = (message + "\n" if message else "") + "counts 0: a required hook did not pass"
        tests.append(
            {
                "name": check.key,
                "status": {"passed": "pass", "error": "error"}.get(check.status, "fail"),
                "score": 0.0 if gated else check.score,
                "message": sanitize.text(message),
                # Printed as "Test code:" in the log: how to run this one check locally.
                "test_code": f"grader run {submission} --only {check.hook} -k {check.name.split('[', 1)[0]}",
                "filename": "",
                "line_no": 0,
                "duration": 0,
            }
        )
    scores = exact_scores([t["score"] for t in tests], total(result))
    for t, s in zip(tests, scores):
        t["score"] = s
    out = {
        "version": VERSION,
        "status": status,
        "max_score": result["max_score"],
        "tests": tests,
    }
    notes = []
    if result.get("grading_error"):
        notes.append(f"the grader could not finish: {sanitize.text(result['grading_error'])}")
    if gated:
        notes.append("required hook(s) did not pass, so the score is 0: " + ", ".join(result["required_failed"]))
    if notes:
        out["message"] = "; ".join(notes)
    return json.dumps(out, indent=2, allow_nan=False) + "\n"


def grader_report_formats() -> list[ReportFormat]:
    return [
        ReportFormat(
            "classroom",
            "GitHub Classroom runner JSON (base64 it into <STEP-ID>_RESULTS for the reporter)",
            render,
            ".json",
        )
    ]
