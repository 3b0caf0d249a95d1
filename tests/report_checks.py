"""What every report must be whatever a submission wrote into its messages and names: valid
against its spec (JSON Schema, the JUnit XSD), well-formed, and inert: nothing a terminal, a CI
log, a Markdown renderer or a browser would act on, and no line of the text report that could
pass for the grader's own ``Score:`` line. Shared by the report and exploit tests."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import xmlschema
from markdown_it import MarkdownIt

from grader import sanitize, schemas

# format -> file name of its report in a run's output folder
FILES = {
    "json": "result.json",
    "junit": "junit.xml",
    "text": "report.txt",
    "markdown": "summary.md",
    "gradescope": "results.json",
    "classroom": "classroom.json",
}
# What a terminal or log viewer acts on: C0 controls but newline, DEL, C1 controls.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# Markdown constructs a renderer turns into something other than text.
ACTIVE = {"link_open", "image", "html_inline", "html_block"}
OWN_HTML = {"<sub>", "</sub>"}  # the markdown format's own footer


def cli_args(out: Path) -> list[str]:
    """``-f FORMAT -o FILE`` for every format, into ``out``."""
    args = []
    for fmt, name in FILES.items():
        args += ["-f", fmt, "-o", str(out / name)]
    return args


def read_reports(out: Path) -> dict[str, str | bytes]:
    return {
        fmt: (out / name).read_bytes() if fmt == "junit" else (out / name).read_text() for fmt, name in FILES.items()
    }


def strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def active_markdown(text: str) -> list[str]:
    """The constructs of ``text`` a Markdown renderer (CommonMark with GitHub's tables, what GitHub
    and Gradescope render) would make into links, images or HTML."""
    found = []
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        for t in [token, *(token.children or [])]:
            if t.type in ACTIVE and not (t.type == "html_inline" and t.content in OWN_HTML):
                found.append(f"{t.type}: {t.content[:80]!r}")
    return found


def assert_inert(text: str, what: str) -> None:
    assert not CONTROL.search(text), f"{what} holds a control character: {CONTROL.search(text)!r}"
    assert sanitize.is_clean(text), f"{what} holds an escape, format character or CI log command"


def assert_valid_reports(reports: dict[str, str | bytes]) -> dict:
    """Every report valid and inert; returns the JSON result."""
    data = json.loads(reports["json"])
    jsonschema.validate(data, schemas.load("json"))
    for s in strings(data):
        assert_inert(s, "a string of the JSON result")

    xml = reports["junit"]
    xml = xml if isinstance(xml, bytes) else xml.encode()
    ET.fromstring(xml)  # well-formed, whatever the messages held
    xmlschema.XMLSchema(str(schemas.path("junit"))).validate(xml.decode())

    text = reports["text"]
    assert_inert(text, "the text report")
    # The grader's own line, and no other line (indented or not) that starts the same way.
    assert len(re.findall(r"^\s*Score:", text, re.M)) == 1, "a second `Score:` line in the text report"

    md = reports["markdown"]
    assert_inert(md, "the Markdown summary")
    assert active_markdown(md) == [], active_markdown(md)

    gs = json.loads(reports["gradescope"])
    jsonschema.validate(gs, schemas.load("gradescope"))
    for output in [gs.get("output", ""), *(t.get("output", "") for t in gs["tests"])]:
        assert_inert(output, "a Gradescope output")
        assert active_markdown(output) == [], active_markdown(output)

    cl = json.loads(reports["classroom"])
    jsonschema.validate(cl, schemas.load("classroom"))
    for s in strings(cl):
        assert_inert(s, "a string of the Classroom report")
    return data
