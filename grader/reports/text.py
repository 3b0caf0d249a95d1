"""``--format text`` (the default): a per-section table, notes on how hooks were found, then each
failure with its message and hint. Colour only when writing to a terminal.

Everything a submission can influence is sanitized (``grader.sanitize``), and the continuation
lines of a message are indented and marked, so no line it writes can pose as the report's own
(a second ``Score:`` line)."""

from __future__ import annotations

from .. import sanitize
from . import (
    INTEGRITY_TITLE,
    ReportFormat,
    ReportOptions,
    graded_hooks,
    hook_notes,
    integrity_lines,
    shows_details,
    withheld,
)
from . import total as grade_total

COLORS = {"passed": "32", "failed": "31", "error": "35", "not_attempted": "33", "skipped": "36"}
LABELS = {
    "passed": "passed",
    "failed": "FAILED",
    "error": "ERROR",
    "not_attempted": "not attempted",
    "skipped": "skipped",
}


def _pts(x: float) -> str:
    return f"{x:.4g}"


def _block(text: str, indent: str) -> str:
    """``text`` sanitized, each continuation line indented and marked (``| ``): no line a
    message, warning or hint holds can start like one of the report's own (``Score:``), at the
    margin or indented."""
    return sanitize.text(text).replace("\n", f"\n{indent}| ")


def syntax_error_lines(result: dict, paint=lambda text, status: text) -> list[str]:
    """Each file that does not parse, as Python and pytest show it: file and line, the offending
    line, a caret under the column, the error; its hooks cannot be graded (they are errors)."""
    lines = []
    for e in result.get("syntax_errors") or []:
        lines.append(
            paint(
                f"error: {sanitize.name(e.get('file'))} does not parse: no hook in it, or in a module importing it, can be graded",
                "error",
            )
        )
        lines.append(f'  File "{sanitize.name(e.get("file"))}", line {e.get("line")}')
        if e.get("code"):
            lines.append(f"    {sanitize.name(e['code'])}")
            if e.get("caret"):
                lines.append(f"    {sanitize.name(e['caret'])}")
        lines.append(f"{sanitize.name(e.get('type', 'SyntaxError'))}: {_block(str(e.get('message', '')), '  ')}")
    return lines


def render(result: dict, options: ReportOptions) -> str:
    def paint(text: str, status: str) -> str:
        return f"\x1b[{COLORS[status]}m{text}\x1b[0m" if options.color and status in COLORS else text

    lines = [f"grader: {sanitize.name(result['submission'], 1000)}"]
    sandbox = result.get("sandbox", {})
    lines.append(
        f"seed {result['seed']} · devices {', '.join(result.get('devices', []))} · sandbox {sandbox.get('level', '?')}"
    )
    lines += syntax_error_lines(result, paint)
    for w in result.get("warnings", []):
        lines.append(paint(f"warning: {_block(w, '    ')}", "not_attempted"))
    sections = result.get("sections", {})
    by_section: dict[str, list[tuple[str, dict]]] = {}
    graded = graded_hooks(result)
    for name, h in graded:
        by_section.setdefault(h["section"], []).append((name, h))
    width = max([len(n) for n, _ in graded] + [10])
    for sid, hooks in by_section.items():
        got = sum(h["score"] for _, h in hooks)
        mx = sum(h["max_score"] for _, h in hooks)
        lines.append("")
        lines.append(f"{sections.get(sid, sid)}  ({_pts(got)}/{_pts(mx)})")
        for name, h in hooks:
            label = LABELS.get(h["status"], h["status"])
            lines.append(
                f"  {name:<{width}}  {paint(f'{label:<13}', h['status'])}  {_pts(h['score']):>5}/{_pts(h['max_score']):<5}"
            )
    notes = hook_notes(result)
    if notes:
        lines.append("")
        lines.append("Notes:")
        lines += [f"  {name}: {_block(note, '    ')}" for name, note in notes]
    failures = []
    for name, h in graded:
        if h["status"] in ("failed", "error"):
            shown = [c for c in h["checks"] if c["status"] in ("failed", "error") and not c.get("not_attempted")]
            if h["status"] == "error" or not shown:
                failures.append((name, h["status"], h["message"], None))
                continue
            for c in shown:
                vis = c.get("visibility", "visible")
                if shows_details(vis, options):
                    failures.append((c["id"], c["status"], c["message"], c.get("hint")))
                else:  # a student audience never reads a hidden check's message
                    failures.append((c["id"], c["status"], withheld(vis), None))
    if failures:
        lines.append("")
        lines.append("What did not pass:")
        for cid, status, message, hint in failures:
            lines.append(f"  {paint(cid, status)}: {_block(message, '      ')}")
            if hint:
                lines.append(f"      hint: {_block(hint, '        ')}")
    flagged = integrity_lines(result, options)
    if flagged:
        lines.append("")
        lines.append(f"{INTEGRITY_TITLE}:")
        lines += [f"  - {line}" for line in flagged]
    total, mx = grade_total(result), result["max_score"]
    pct = 100.0 * total / mx if mx else 0.0
    lines.append("")
    if result.get("required_failed"):
        lines.append(
            paint(f"required hook(s) not passed: {', '.join(result['required_failed'])}: the score is 0", "failed")
        )
    lines.append(f"Score: {_pts(total)}/{_pts(mx)} ({pct:.1f}%)")
    if result.get("grading_error"):
        lines.append(paint(f"grading error: {_block(result['grading_error'], '    ')}", "error"))
    return "\n".join(lines) + "\n"


def grader_report_formats() -> list[ReportFormat]:
    return [ReportFormat("text", "a table per section, then each failure with its message and hint", render, ".txt")]
