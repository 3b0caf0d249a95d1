"""``--format junit``: JUnit XML for any CI (GitLab, Jenkins, CodeGrade, test-report actions).

The structure of the Jenkins/Ant JUnit schema (``grader/schemas/junit.xsd``): one ``testsuite``
per section, one ``testcase`` per check and device cell (``classname`` = ``section.hook``, so CI
groups cells under their hook), ``failure``/``error``/``skipped`` with the message as text, and
points as ``properties`` (per testcase, as pytest's junitxml writes them; per suite, the
section's score). Messages of checks that are not visible are withheld for a student audience.
Every text and attribute goes through ``grader.sanitize`` first, so the file is well-formed XML
whatever a submission put in a message (no character XML 1.0 forbids).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .. import sanitize
from . import ReportFormat, ReportOptions, graded_hooks, shows_details, total, withheld


def _props(parent: ET.Element, values: dict) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(props, "property", name=name, value=sanitize.name(value, 1000))


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:200]


def render(result: dict, options: ReportOptions) -> bytes:
    sections = result.get("sections", {})
    root = ET.Element("testsuites", name=f"grader: {sanitize.name(result.get('submission', ''), 1000)}")
    by_section: dict[str, list[tuple[str, dict]]] = {}
    for name, h in graded_hooks(result):
        by_section.setdefault(h["section"], []).append((name, h))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    # The run as a whole: its total (after a required-hook gate), seed, and why it stopped.
    run = ET.SubElement(root, "testsuite", name="grader", tests="0", failures="0", errors="0", skipped="0", time="0")
    _props(
        run,
        {
            "score": result["score"],
            "final_score": total(result),
            "max_score": result["max_score"],
            "seed": result.get("seed", ""),
            "required_failed": ",".join(result.get("required_failed", [])),
        },
    )
    if result.get("grading_error"):
        # Nothing was graded: one erroring case says why, so CI does not show a green empty run.
        case = ET.SubElement(run, "testcase", name="grading", classname="grader", time="0")
        reason = sanitize.text(result["grading_error"])
        el = ET.SubElement(case, "error", message=_first_line(reason), type="grading_error")
        el.text = reason
        run.set("tests", "1")
        run.set("errors", "1")
        totals.update(tests=1, errors=1)
    for sid, hooks in by_section.items():
        suite = ET.SubElement(root, "testsuite", name=sanitize.name(sections.get(sid, sid)))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        _props(
            suite,
            {
                "section": sid,
                "score": round(sum(h["score"] for _, h in hooks), 6),
                "max_score": round(sum(h["max_score"] for _, h in hooks), 6),
            },
        )
        for hook, h in hooks:
            for c in h.get("checks", []):
                counts["tests"] += 1
                case = ET.SubElement(
                    suite,
                    "testcase",
                    name=sanitize.name(c["id"].split("/", 1)[1]),
                    classname=sanitize.name(f"{sid}.{hook}"),
                    time="0",
                )
                _props(
                    case,
                    {"score": c["score"], "max_score": c["max_score"], "visibility": c.get("visibility", "visible")},
                )
                if c["status"] == "passed":
                    continue
                shown = shows_details(c.get("visibility", "visible"), options)
                text = sanitize.text(c["message"]) if shown else withheld(c.get("visibility", ""))
                if shown and c.get("hint"):
                    text += f"\nhint: {sanitize.text(c['hint'])}"
                if c["status"] == "skipped":
                    counts["skipped"] += 1
                    ET.SubElement(case, "skipped", message=_first_line(text))
                    continue
                kind = "error" if c["status"] == "error" else "failure"
                counts["errors" if kind == "error" else "failures"] += 1
                el = ET.SubElement(
                    case,
                    kind,
                    message=_first_line(text),
                    type="not_attempted" if c.get("not_attempted") else c["status"],
                )
                el.text = text
        for k, v in counts.items():
            suite.set(k, str(v))
        suite.set("time", "0")
        for k in totals:
            totals[k] += counts[k]
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{float(result.get('execution_time', 0) or 0):.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def grader_report_formats() -> list[ReportFormat]:
    return [
        ReportFormat(
            "junit", "JUnit XML: a testcase per check, failure text = message, points as properties", render, ".xml"
        )
    ]
