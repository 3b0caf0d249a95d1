"""The gradebook: one CSV row per student from JSON results, wherever they were produced.

Columns: ``student, status, score, max_score, percent``, then one column per graded hook (its
score), then ``detail`` (what happened: timeouts, crashes, the reason of a grading error),
``seed``, ``submission``. ``status`` is ``graded``, ``timed out`` (the submission's time budget
ran out, or its grading process was stopped at the deadline) or ``grading error`` (the grader
could not grade it; the reason is in ``detail``).

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

from .. import sanitize
from . import graded_hooks

SCHEMA = "grader-result/1"  # = grader.trusted.scoring.SCHEMA (not imported: that module needs torch)
GRADED, TIMED_OUT, GRADING_ERROR = "graded", "timed out", "grading error"
FIXED = ["student", "status", "score", "max_score", "percent"]
TRAILING = ["detail", "seed", "submission"]


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


def row_status(result: dict) -> tuple[str, str]:
    """(status, detail) of a gradebook row, from a result."""
    status = result.get("grading_status")
    if result.get("grading_error"):
        return status or GRADING_ERROR, str(result["grading_error"])
    stats = result.get("stats") or {}
    notes = []
    if stats.get("budget_spent"):
        status = status or TIMED_OUT
        notes.append("the submission's time budget ran out")
    timeouts = int(stats.get("timeouts") or 0)
    crashes = int(stats.get("worker_failures") or 0) - timeouts
    if timeouts:
        notes.append(f"{timeouts} request(s) timed out")
    if crashes > 0:
        notes.append(f"its worker ended {crashes} time(s) (exit, crash or memory)")
    if result.get("required_failed"):
        notes.append("required hook(s) not passed: " + ", ".join(result["required_failed"]))
    return status or GRADED, "; ".join(notes)


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
            entries.append(Entry(_student(_read(p, strict=True), p), _read(p, strict=True), str(p)))
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
        row += [_cell(e.detail), str(r.get("seed", "")), _cell(str(r.get("submission", "")))]
        w.writerow(row)
    return out.getvalue()


def _num(x: float) -> str:
    return f"{float(x):.6g}"


def _cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula (names and messages can come from students),
    sanitized (``grader.sanitize``)."""
    text = sanitize.text(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
