"""``--format gradescope``: ``/autograder/results/results.json`` as Gradescope's autograder spec
defines it (``grader/schemas/gradescope-results.schema.json``).

One test per check (device cells folded), or per hook with ``[gradescope] tests = "hook"`` in the
assignment (one test per hook and visibility, so a hidden check never shares a test with a
visible one). Each test carries its check's visibility; Gradescope itself keeps non-visible tests
from students, so their outputs are complete (instructors read them). The top-level ``output`` is
always visible, so it names no hidden check and, as Gradescope does, shows no total while some
test is hidden.
"""

from __future__ import annotations

import json
import math

from . import (
    Check,
    ReportFormat,
    ReportOptions,
    all_visible,
    folded_checks,
    graded_hooks,
    hook_notes,
    markdown_fence,
    markdown_inline,
    percent,
    points,
    total,
)

INSTRUCTOR = ReportOptions(audience="instructor")  # test outputs: Gradescope gates them itself
ORDER = {"visible": 0, "after_due_date": 1, "after_published": 2, "hidden": 3}


def fence(text: str) -> str:
    """A fenced block that no backtick run inside ``text`` can close."""
    return "\n".join(markdown_fence(text))


def has_gpu(result: dict) -> bool:
    """Whether the run graded on a GPU (Gradescope's containers have none)."""
    return any(str(d).startswith("cuda") for d in result.get("devices", []))


def _check_output(check: Check, gpu: bool = True) -> str:
    """A test's output for one check. Without a GPU in the run (``gpu`` False), its GPU cells'
    "not run" lines are left out: the summary says it once for every test."""
    parts = [check.description] if check.description else []
    if check.status == "skipped":
        reason = next((c["message"] for c in check.cells if c["message"]), "skipped")
        parts.append(f"Skipped: {markdown_inline(reason)} (worth no points in this run).")
        return "\n\n".join(parts)
    for label, message, hint in check.details(INSTRUCTOR):
        where = f" on `{label}`" if label else ""
        parts.append(f"**Did not pass**{where}:\n\n{fence(message)}")
        if hint:
            parts.append(f"Hint: {markdown_inline(hint)}")
    if check.status == "passed":
        parts.append("Passed.")
    for label, reason in check.skipped_cells():
        if not gpu and label.startswith("cuda"):
            continue
        parts.append(
            f"Not run on `{label}`: {markdown_inline(reason)} (worth no points in this run)."
            if label
            else f"Not run: {markdown_inline(reason)}."
        )
    return "\n\n".join(parts)


def _test(name: str, number: str, checks: list[Check], tags: list[str], gpu: bool = True) -> dict:
    score = sum(c.score for c in checks)
    max_score = sum(c.max_score for c in checks)
    test = {
        "name": name,
        "number": number,
        "score": round(score, 6),
        "max_score": round(max_score, 6),
        "visibility": checks[0].visibility,
        "tags": tags,
    }
    ran = [c for c in checks if c.status != "skipped"]
    if ran:
        # Fail closed: a test passes only when every check in it ran and passed.
        test["status"] = "passed" if all(c.status == "passed" for c in ran) else "failed"
    if len(checks) == 1:
        test["output"] = _check_output(checks[0], gpu)
    else:
        test["output"] = "\n\n".join(f"#### {c.name}\n\n{_check_output(c, gpu)}" for c in checks)
    return test


def tests(result: dict, per_hook: bool) -> list[dict]:
    section_number = {sid: i for i, sid in enumerate(result.get("sections", {}), start=1)}
    hooks_in_section: dict[str, int] = {}
    out = []
    gpu = has_gpu(result)
    checks = list(folded_checks(result))
    for hook, h in graded_hooks(result):
        mine = [c for c in checks if c.hook == hook]
        if not mine:
            continue
        # "section.hook.check" numbers keep Gradescope's order the course's order.
        s = section_number.setdefault(h["section"], len(section_number) + 1)
        hooks_in_section[h["section"]] = hooks_in_section.get(h["section"], 0) + 1
        base = f"{s}.{hooks_in_section[h['section']]}"
        tags = [h["section"], hook]
        if per_hook:
            groups: dict[str, list[Check]] = {}
            for c in mine:
                groups.setdefault(c.visibility, []).append(c)
            for i, (vis, group) in enumerate(sorted(groups.items(), key=lambda kv: ORDER.get(kv[0], 9)), start=1):
                name = hook if len(groups) == 1 else f"{hook} ({vis.replace('_', ' ')} checks)"
                out.append(_test(name, base if len(groups) == 1 else f"{base}.{i}", group, tags, gpu))
        else:
            for i, c in enumerate(mine, start=1):
                out.append(_test(c.key, f"{base}.{i}", [c], tags, gpu))
    return out


def summary(result: dict) -> str:
    """The top-level output: shown to students at once, so only what is visible now."""
    lines = []
    if result.get("grading_error"):
        lines.append(
            "**The grader could not finish grading this submission** "
            f"({markdown_inline(result['grading_error'])}). Please resubmit; if this persists, tell your instructor."
        )
        return "\n\n".join(lines)
    visible = all_visible(result)
    if visible:
        lines.append(f"**Score: {points(total(result))} / {points(result['max_score'])}** ({percent(result):.1f}%)")
    else:
        lines.append("Some checks are hidden for now; your total appears when they do.")
    checks = list(folded_checks(result))
    shown = {c.hook for c in checks if c.visibility == "visible"}
    gated = [
        h
        for h in result.get("required_failed", [])
        if h in shown and all(c.visibility == "visible" for c in checks if c.hook == h)
    ]
    if gated:
        names = ", ".join(f"`{h}`" for h in gated)
        lines.append(f"**Required:** {names} must pass before any points count, so the score is 0.")
    not_attempted = [h for h, entry in graded_hooks(result) if entry["status"] == "not_attempted" and h in shown]
    if not_attempted:
        lines.append("Not attempted: " + ", ".join(f"`{h}`" for h in not_attempted) + ".")
    for w in result.get("warnings", []):
        lines.append(f"Warning: {markdown_inline(w)}")
    for name, note in hook_notes(result):
        if name in shown:
            lines.append(f"Note on `{name}`: {markdown_inline(note)}")
    if not has_gpu(result) and any(label.startswith("cuda") for c in checks for label, _ in c.skipped_cells()):
        lines.append(
            "Graded on the CPU: there is no GPU here, so the checks' GPU runs were skipped. "
            "They are worth no points in this run and cost you none."
        )
    lines.append(f"Seed {result['seed']} (grading with the same seed reproduces these inputs).")
    return "\n\n".join(lines)


def render(result: dict, options: ReportOptions) -> str:
    per_hook = options.per_hook or result.get("assignment", {}).get("gradescope", {}).get("tests") == "hook"
    out = {
        # Top-level score overrides the tests' sum: that is how a failed required hook gives 0.
        "score": total(result),
        # The run's wall time in whole seconds (``grader run`` sets it from its own start).
        "execution_time": int(math.ceil(result.get("execution_time", 0) or 0)),
        "output": summary(result),
        "output_format": "md",
        "test_output_format": "md",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests(result, per_hook),
        "extra_data": {
            "grader": {
                "schema": result.get("schema"),
                "score": total(result),
                "max_score": result["max_score"],
                "seed": result.get("seed"),
                "sandbox": result.get("sandbox", {}).get("level"),
                "versions": result.get("versions", {}),
                "required_failed": result.get("required_failed", []),
            }
        },
    }
    return json.dumps(out, indent=2, allow_nan=False) + "\n"


def grader_report_formats() -> list[ReportFormat]:
    return [
        ReportFormat(
            "gradescope", "Gradescope's results.json (one test per check, visibility per check)", render, ".json"
        )
    ]
