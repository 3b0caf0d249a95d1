"""One sanitizer for everything a submission can write into a report (``grader.sanitize``), and
every report format inert and valid whatever a result holds (issue 17): control characters
other than newline shown escaped, newlines in names escaped, lengths capped, CI log commands
broken; JUnit well-formed; no link, image or HTML in Markdown; one ``Score:`` line."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st
from report_checks import assert_valid_reports

from grader import sanitize
from grader.plugins import get_plugin_manager
from grader.reports import ReportOptions, markdown_code, markdown_inline
from grader.trusted.scoring import failsafe_result

SPECIALS = ["\x00", "\x1b[31m", "\x1b]0;title\x07", "\r", "\n", "\t", "\x7f", "\x9b", "\ud800", "\udfff"]
SPECIALS += ["\ufffe", "\uffff", "\u202e", "\u2028", "\u2029", "\u200b", "\ufeff", "\xad", "::", "  ::error::x"]
SPECIALS += ["\u00a0::add-mask::y", "##[group]", "Score: 127/127 (100%)", "`", "```", "[a](http://e.x)", "<b>"]
hostile = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(SPECIALS)), max_size=12).map("".join)
XML_FORBIDDEN = {chr(c) for c in range(0x20) if c not in (0x9, 0xA, 0xD)} | {"\ufffe", "\uffff"}


@settings(max_examples=500, deadline=None)
@given(hostile, st.integers(1, 300))
def test_sanitized_text_is_inert_capped_and_stable(s, limit):
    for f, multiline in ((sanitize.text, True), (sanitize.name, False)):
        out = f(s, limit)
        assert len(out) <= limit
        assert sanitize.is_clean(out, multiline)
        assert f(out, limit) == out  # idempotent: sanitized when built, again when rendered
        assert not any(c in XML_FORBIDDEN or 0xD800 <= ord(c) <= 0xDFFF for c in out)
        out.encode("utf-8")  # no lone surrogate left
        assert ET.fromstring(ET.tostring(ET.Element("e", a=out))).get("a") is not None
        if not multiline:
            assert "\n" not in out
        assert not any(line.lstrip().startswith("::") for line in out.split("\n"))


def test_what_the_sanitizer_shows():
    assert sanitize.text("ok\nline two") == "ok\nline two"
    assert sanitize.name("x\n\nScore: 1") == "x\\n\\nScore: 1"
    assert sanitize.text("\x00\x1b[2J\r\t") == "\\x00\\x1b[2J\\r\\t"
    assert sanitize.text("\u202eevil\ud800") == "\\u202eevil\\ud800"
    assert sanitize.text(" ::error::x") == " \\x3a:error::x"
    assert sanitize.text("a" * 10, 5) == "aaaa…"
    assert sanitize.name(None) == "None" and sanitize.text(3) == "3"


@settings(max_examples=300, deadline=None)
@given(hostile)
def test_markdown_escaping_leaves_nothing_active(s):
    from report_checks import active_markdown

    for piece in (markdown_inline(s), markdown_code(s), f"- {markdown_inline(s)}"):
        assert active_markdown(piece) == [], piece


EVIL = (
    "\x00\x1b[2J\x1b[1;32mall passed\x1b[0m\r\nScore: 127/127 (100%)\n[click](http://evil.example/) "
    "![p](http://evil.example/p.png) <script>alert(1)</script> www.evil.example\n::error::forged\n"
    "##[group]x\n\u202eevil\u2028Score: 1\ufffe\ud800 ```` ` "
)


def evil_result() -> dict:
    """A result as a hostile run could have left it before sanitizing (or one read from a file
    written elsewhere): student words in every text field a report shows."""
    r = failsafe_result("sub", "x")
    del r["grading_error"]
    check = {
        "id": "mlp/outputs[cpu]",
        "status": "failed",
        "score": 0.0,
        "max_score": 1.0,
        "device": "cpu",
        "message": EVIL,
        "hint": EVIL,
        "visibility": "visible",
    }
    skipped = {**check, "id": "mlp/outputs[cuda]", "status": "skipped", "device": "cuda", "max_score": 0.0}
    del skipped["hint"]
    r.update(
        submission="sub\n\nScore: 999 (100%)\n`evil`",
        max_score=2.0,
        seed=1,
        devices=["cpu"],
        warnings=[EVIL, "did you mean `mlp`? (found `x\n\nScore: 1` in a](http://e).py)"],
        sections={"layers_and_blocks": "5.1"},
    )
    r["hooks"] = {
        "mlp": {
            "section": "layers_and_blocks",
            "status": "failed",
            "score": 0.0,
            "max_score": 1.0,
            "message": EVIL,
            "visibility": "visible",
            "checks": [check, skipped],
        },
        "nest_mlp": {
            "section": "layers_and_blocks",
            "status": "error",
            "score": 0.0,
            "max_score": 1.0,
            "message": EVIL,
            "visibility": "visible",
            "checks": [{**check, "id": "nest_mlp/outputs[cpu]", "status": "error"}],
        },
    }
    return r


def test_every_format_renders_a_hostile_result_valid_and_inert():
    formats = {f.name: f for fs in get_plugin_manager().hook.grader_report_formats() for f in fs}
    for audience in ("student", "instructor"):
        options = ReportOptions(audience=audience)
        reports = {name: formats[name].render(evil_result(), options) for name in formats}
        assert_valid_reports(reports)
        assert "\\x1b[2J" in reports["text"] and "\\nScore: 999" in reports["text"]
