"""Schemas of the grader's result and of each report format's target spec, used by the tests
(and by anyone checking a report by hand):

- ``grader-result.schema.json``: the JSON result, ``RESULT_SCHEMA.md`` (JSON Schema 2020-12);
- ``gradescope-results.schema.json``: Gradescope's ``results.json`` (its autograder spec);
- ``classroom-runner.schema.json``: the runner JSON GitHub Classroom's reporter reads;
- ``junit.xsd``: JUnit XML as Jenkins and Ant read it, plus per-testcase ``properties``.

Relations a schema cannot state (score ≤ max_score, totals that must add up) are checked by
``tests/test_reports.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
JSON_SCHEMAS = {
    "json": "grader-result.schema.json",
    "gradescope": "gradescope-results.schema.json",
    "classroom": "classroom-runner.schema.json",
}


def path(name: str) -> Path:
    """Path of a schema file by format name (``json``, ``gradescope``, ``classroom``, ``junit``)."""
    return HERE / ("junit.xsd" if name == "junit" else JSON_SCHEMAS[name])


def load(name: str) -> dict:
    return json.loads(path(name).read_text(encoding="utf-8"))
