"""Fixture plugin the grader must refuse: its report format takes a built-in format's name."""

from grader.reports import ReportFormat


def grader_report_formats():
    return [ReportFormat("json", "a second `json`", lambda result, options: "{}\n", ".json")]
