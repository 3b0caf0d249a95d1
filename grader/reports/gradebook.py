"""The gradebook: one CSV row per student from JSON results, wherever they were produced.

Columns: ``student, status, score, max_score, percent``, then one column per graded hook (its
score), then ``detail`` (what happened: timeouts, crashes, the reason of a grading error, the
folder a batch graded instead of the one given), ``seed``, ``submission``, ``assignment`` (its
name). ``status`` is one of ``STATUSES``: ``graded``; ``not attempted`` (every graded exercise
a stub or missing, e.g. the untouched starter); ``nothing found`` (not one Python module where
the grader looked: an empty or wrongly packaged submission); ``timed out`` (the submission's
time budget ran out, or its grading process was stopped at the deadline); ``grading error``
(the grader could not grade it; the reason is in ``detail``). The per-check table
(``render_checks_csv``, for grade disputes) has a column per check instead, holding its status.

A result's student is its ``student`` field (batch runs write it), else the file name without
``.json`` (``grader run sub -f json -o results/alice.json``), or the directory name for a file
called ``result.json`` (``alice/result.json``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

from .. import sanitize
from . import Check, folded_checks, graded_hooks

SCHEMA = "grader-result/1"  # = grader.trusted.scoring.SCHEMA (not imported: that module needs torch)
GRADED, TIMED_OUT, GRADING_ERROR = "graded", "timed out", "grading error"
NOT_ATTEMPTED, NOTHING_FOUND = "not attempted", "nothing found"
STATUSES = (GRADED, NOT_ATTEMPTED, NOTHING_FOUND, TIMED_OUT, GRADING_ERROR)
# Rows of students who handed in nothing to grade: left out of pass rates and score statistics.
NOT_SUBMITTED = (NOT_ATTEMPTED, NOTHING_FOUND)
FIXED = ["student", "status", "score", "max_score", "percent"]
TRAILING = ["detail", "seed", "submission", "assignment"]
RESULT_FILE = "result.json"  # a batch's result file (grader.trusted.batch.results)
FEEDBACK = (("text", ".txt"), ("markdown", ".md"))  # feedback formats a row links to, in this order


class GradebookError(Exception):
    """Results that cannot be merged (unreadable, not a grader result, two for one student)."""


@dataclass
class Entry:
    student: str
    result: dict
    source: str = ""

    @property
    def status(self) -> str:
        return row_status(self.result)[0]

    @property
    def detail(self) -> str:
        return row_status(self.result)[1]

    @property
    def percent(self) -> float | None:
        mx = self.result.get("max_score") or 0
        return 100.0 * self.result.get("score", 0) / mx if mx else None

    @property
    def submitted(self) -> bool:
        """Graded with something to grade: not a grading error, not "not attempted" or
        "nothing found" (the rows that pass rates and score statistics count)."""
        return self.status not in (*NOT_SUBMITTED, GRADING_ERROR)

    @property
    def assignment(self) -> str:
        """The assignment's name (empty without one)."""
        a = self.result.get("assignment")
        return str(a.get("name") or "") if isinstance(a, dict) else ""

    def feedback(self) -> Path | None:
        """The file with this student's feedback next to their result: the text report, else
        the Markdown one, else the JSON result itself (``None`` when there is no file)."""
        if not self.source:
            return None
        src = Path(self.source)
        for fmt, ext in FEEDBACK:
            candidate = src.with_name(fmt + ext) if src.name == RESULT_FILE else src.with_suffix(ext)
            if candidate.is_file():
                return candidate
        return src if src.is_file() else None


def row_status(result: dict) -> tuple[str, str]:
    """(status, detail) of a gradebook row, from a result."""
    status = result.get("grading_status")
    notes = [str(n) for n in result.get("notes") or [] if isinstance(n, str)]
    if result.get("grading_error"):
        return status or GRADING_ERROR, "; ".join([str(result["grading_error"]), *notes])
    stats = result.get("stats") or {}
    if stats.get("budget_spent"):
        status = status or TIMED_OUT
        notes.append("the submission's time budget ran out")
    elif result.get("nothing_found"):
        status = status or NOTHING_FOUND
        notes += [str(w) for w in result.get("warnings", [])[:1]]  # what the grader looked for, where
    elif _nothing_attempted(result):
        status = status or NOT_ATTEMPTED
    timeouts = int(stats.get("timeouts") or 0)
    crashes = int(stats.get("worker_failures") or 0) - timeouts
    if timeouts:
        notes.append(f"{timeouts} request(s) timed out")
    if crashes > 0:
        notes.append(f"its worker ended {crashes} time(s) (exit, crash or memory)")
    if result.get("required_failed"):
        notes.append("required hook(s) not passed: " + ", ".join(result["required_failed"]))
    return status or GRADED, "; ".join(notes)


def _nothing_attempted(result: dict) -> bool:
    """Every graded hook that has checks is "not attempted" (or skipped), and one at least."""
    statuses = {h.get("status") for _, h in graded_hooks(result) if h.get("checks")}
    return "not_attempted" in statuses and statuses <= {"not_attempted", "skipped"}


def check_status(check: Check) -> str:
    """A folded check's status as the per-check table writes it (passed, failed, error,
    skipped; or not attempted)."""
    return NOT_ATTEMPTED if check.not_attempted else check.status


# -- reading results ----------------------------------------------------------------------------


def load(paths: list[str | Path]) -> tuple[list[Entry], list[str]]:
    """The results in ``paths`` (files, or directories searched for ``*.json`` grader results),
    sorted by student; returns them with notes about files left out of directories."""
    entries: list[Entry] = []
    notes: list[str] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*.json")):
                result = _read(f, strict=False)
                if result is None:
                    notes.append(f"{f}: not a grader result, left out")
                else:
                    entries.append(Entry(_student(result, f), result, str(f)))
        elif p.is_file():
            result = _read(p, strict=True)
            entries.append(Entry(_student(result, p), result, str(p)))
        else:
            raise GradebookError(f"{p}: no such file or directory")
    seen: dict[str, str] = {}
    for e in entries:
        if e.student in seen:
            raise GradebookError(
                f"two results for student {e.student!r}: {seen[e.student]} and {e.source} "
                '(name result files after the student, or give each a "student" field)'
            )
        seen[e.student] = e.source
    if not entries:
        raise GradebookError("no grader results found")
    return sorted(entries, key=lambda e: e.student), notes


@overload
def _read(path: Path, strict: Literal[True]) -> dict: ...
@overload
def _read(path: Path, strict: Literal[False]) -> dict | None: ...
def _read(path: Path, strict: bool) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        if strict:
            raise GradebookError(f"{path}: cannot read a JSON result: {e}") from None
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("hooks"), dict):
        if strict:
            raise GradebookError(f'{path}: not a grader result (no "schema": "{SCHEMA}"); use `grader run -f json`')
        return None
    return data


def _student(result: dict, path: Path) -> str:
    name = result.get("student")
    if isinstance(name, str) and name:
        return name
    return path.parent.resolve().name if path.name == "result.json" else path.stem


# -- the CSV ------------------------------------------------------------------------------------


def hook_columns(entries: list[Entry]) -> list[str]:
    """Hooks graded in any result, in course order (the order results list them)."""
    seen: dict[str, None] = {}
    for e in entries:
        for name, _ in graded_hooks(e.result):
            seen.setdefault(name, None)
    return list(seen)


def render_csv(entries: list[Entry]) -> str:
    hooks = hook_columns(entries)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(FIXED + hooks + TRAILING)
    for e in entries:
        r = e.result
        pct = e.percent
        row = [
            _cell(e.student),
            e.status,
            _num(r.get("score", 0.0)),
            _num(r.get("max_score", 0.0)),
            "" if pct is None else f"{pct:.1f}",
        ]
        scores = dict(graded_hooks(r))
        row += [_num(scores[h]["score"]) if h in scores else "" for h in hooks]
        row += [_cell(e.detail), str(r.get("seed", "")), _cell(str(r.get("submission", ""))), _cell(e.assignment)]
        w.writerow(row)
    return out.getvalue()


def check_columns(entries: list[Entry]) -> list[str]:
    """Check keys (device cells folded) graded in any result, in course order."""
    seen: dict[str, None] = {}
    for e in entries:
        for c in folded_checks(e.result):
            seen.setdefault(c.key, None)
    return list(seen)


def render_checks_csv(entries: list[Entry]) -> str:
    """The per-check table, for grade disputes: ``student, status, score, max_score, percent``,
    one column per check (``hook/check``) holding its status (``passed``, ``failed``, ``error``,
    ``not attempted``, ``skipped``; empty where it was not graded), then ``detail``."""
    checks = check_columns(entries)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(FIXED + checks + ["detail"])
    for e in entries:
        r = e.result
        pct = e.percent
        statuses = {c.key: check_status(c) for c in folded_checks(r)}
        w.writerow(
            [
                _cell(e.student),
                e.status,
                _num(r.get("score", 0.0)),
                _num(r.get("max_score", 0.0)),
                "" if pct is None else f"{pct:.1f}",
                *(statuses.get(k, "") for k in checks),
                _cell(e.detail),
            ]
        )
    return out.getvalue()


def _num(x: float) -> str:
    return f"{float(x):.6g}"


def _cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula (names and messages can come from students),
    sanitized (``grader.sanitize``)."""
    text = sanitize.text(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
