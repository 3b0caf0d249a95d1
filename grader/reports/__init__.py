"""Report formats. Each one is an internal plugin (``grader_report_formats``) that derives its
output from the JSON result alone, so no two formats can disagree about a score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class ReportOptions:
    """What a format may take into account besides the result."""

    color: bool = False
    per_hook: bool = False  # Gradescope: one test per hook instead of one per check
    extra: dict = field(default_factory=dict)


@dataclass
class ReportFormat:
    name: str
    description: str
    render: Callable[[dict, ReportOptions], "str | bytes"]
    extension: str = ".txt"


def visible_to_students(entry: dict) -> bool:
    return entry.get("visibility", "visible") == "visible"
