"""``--format markdown``: a GitHub-flavoured Markdown summary, e.g. for ``$GITHUB_STEP_SUMMARY``.

The score, one table row per graded hook (its section, status and points), then what did not
pass with each message in a fenced block (messages are the grader's words, never Markdown).
Anything else a submission can influence (warnings, hints, the submission's name) is escaped
(``markdown_inline``, ``markdown_code``), so the summary holds no link, image or HTML of its
making. Students read step summaries, so messages of checks that are not visible are withheld
unless ``--audience instructor``.
"""

from __future__ import annotations

from . import (
    INTEGRITY_TITLE,
    ReportFormat,
    ReportOptions,
    folded_checks,
    graded_hooks,
    hook_notes,
    integrity_lines,
    markdown_code,
    markdown_fence,
    markdown_inline,
    percent,
    points,
    total,
)

ICONS = {"passed": "✅", "failed": "❌", "error": "💥", "not_attempted": "⬜", "skipped": "⏭️"}
LABELS = {
    "passed": "passed",
    "failed": "failed",
    "error": "error",
    "not_attempted": "not attempted",
    "skipped": "skipped",
}


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render(result: dict, options: ReportOptions) -> str:
    lines = [f"## Grading {markdown_code(result.get('submission', ''))}", ""]
    if result.get("grading_error"):
        lines += [f"**The grader could not finish:** {markdown_inline(result['grading_error'])}", ""]
    lines += [f"**Score: {points(total(result))} / {points(result['max_score'])}** ({percent(result):.1f}%)", ""]
    if result.get("required_failed"):
        names = ", ".join(f"`{h}`" for h in result["required_failed"])
        lines += [f"> **Required hooks did not pass:** {names}; the score is 0 until they do.", ""]
    hooks = graded_hooks(result)
    if hooks:
        sections = result.get("sections", {})
        lines += ["| Section | Hook | Status | Points |", "| --- | --- | --- | ---: |"]
        for name, h in hooks:
            status = h["status"]
            lines.append(
                f"| {_cell(sections.get(h['section'], h['section']))} | `{name}` "
                f"| {ICONS.get(status, '')} {LABELS.get(status, status)} | {points(h['score'])} / {points(h['max_score'])} |"
            )
        lines.append("")
    # In course order; a hook that could not be called at all gets one line, not one per check.
    checks = [c for c in folded_checks(result, hooks) if c.status in ("failed", "error")]
    problems = [
        (n, h) for n, h in hooks if h["status"] in ("not_attempted", "error") or any(c.hook == n for c in checks)
    ]
    if problems:
        lines += ["### What did not pass", ""]
        for name, h in problems:
            if h["status"] in ("not_attempted", "error"):
                lines += [f"- **`{name}`**: {LABELS[h['status']]}", ""]
                lines += markdown_fence(h["message"] or h["status"], "  ")
                lines.append("")
                continue
            for check in (c for c in checks if c.hook == name):
                lines.append(f"- **`{check.key}`**")
                for label, message, hint in check.details(options):
                    lines.append("")
                    if label:
                        lines.append(f"  on `{label}`:")
                        lines.append("")
                    lines += markdown_fence(message, "  ")
                    if hint:
                        lines += ["", f"  Hint: {markdown_inline(hint)}"]
                lines.append("")
    notes = hook_notes(result)
    if notes:
        lines += ["### Notes", ""]
        lines += [f"- `{name}`: {markdown_inline(note)}" for name, note in notes]
        lines.append("")
    if result.get("warnings"):
        lines += ["### Warnings", ""]
        lines += [f"- {markdown_inline(w)}" for w in result["warnings"]]
        lines.append("")
    flagged = integrity_lines(result, options)
    if flagged:
        lines += [f"### {INTEGRITY_TITLE}", ""]
        lines += markdown_fence("\n".join(flagged), "")
        lines.append("")
    sandbox = result.get("sandbox", {}).get("level", "?")
    version = result.get("versions", {}).get("grader", "")
    lines.append(f"<sub>seed {result.get('seed')} · sandbox {sandbox} · grader {version}</sub>")
    return "\n".join(lines) + "\n"


def grader_report_formats() -> list[ReportFormat]:
    return [
        ReportFormat(
            "markdown", "a Markdown summary (score, table per hook, failures) for $GITHUB_STEP_SUMMARY", render, ".md"
        )
    ]
