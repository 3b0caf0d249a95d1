"""Fixture plugin: a report format (`tally`, one line per graded hook) and a field added to
the result."""

from grader.reports import ReportFormat, graded_hooks


def render(result, options):
    lines = [f"course: {result.get('course_code', '?')}"]
    for name, h in graded_hooks(result):
        passed = sum(c["status"] == "passed" for c in h["checks"])
        ran = sum(c["status"] != "skipped" for c in h["checks"])
        lines.append(f"{name} {passed}/{ran} {h['score']:g}/{h['max_score']:g}")
        for c in h["checks"]:
            if c["status"] in ("failed", "error") and c.get("visibility", "visible") == "visible":
                lines.append(f"  {c['id']}: {c['message']}")
    return "\n".join(lines) + "\n"


def grader_report_formats():
    return [ReportFormat("tally", "one line per hook: checks passed and points", render, ".txt")]


def grader_result(result):
    result["course_code"] = "DL-101"
