"""``--format json``: the result itself (``RESULT_SCHEMA.md``), from which every format derives."""

from __future__ import annotations

import json

from . import ReportFormat, ReportOptions


def render(result: dict, options: ReportOptions) -> str:
    return json.dumps(result, indent=2, allow_nan=False) + "\n"


def grader_report_formats() -> list[ReportFormat]:
    return [ReportFormat("json", "the grader's own versioned result (grader-result/1)", render, ".json")]
