"""``--format json``: the result itself (``RESULT_SCHEMA.md``), from which every format derives.

Its strings were sanitized when the result was built; they are again here (``sanitize.tree``,
which changes nothing in such a result), so a result from elsewhere is written inert too."""

from __future__ import annotations

import json

from .. import sanitize
from . import ReportFormat, ReportOptions


def render(result: dict, options: ReportOptions) -> str:
    return json.dumps(sanitize.tree(result), indent=2, allow_nan=False) + "\n"


def grader_report_formats() -> list[ReportFormat]:
    return [ReportFormat("json", "the grader's own versioned result (grader-result/1)", render, ".json")]
