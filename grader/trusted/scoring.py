"""From check outcomes to the JSON result (``RESULT_SCHEMA.md``): points, statuses, messages.

Points: a check is worth ``grader_points(hook, check)`` (else its ``points`` marker, else 1);
when a hook's total is set, its checks share the total in proportion to those weights. The
device cells of one check share that check's points; a skipped cell (no CUDA device) counts for
nothing either way, so it can never pass nor cost a student anything. Hook and top-level sums
are taken before rounding, so a hook set to 1 point with three checks is worth 1, not 0.999999.

Required hooks (the assignment's ``required``): when one ran and did not pass, ``required_failed``
names it and ``final_score`` (the grade the LMS formats report) is 0. ``score`` stays the sum of
the hook scores, as RESULT_SCHEMA.md defines it, and hook and check scores stay as earned, so the
feedback still shows what worked. A skipped required hook (not selected, or no device for it)
gates nothing.

Messages, hints, warnings and the submission's name may carry a submission's words: each is
sanitized here (``grader.sanitize``), so the result, and every report rendered from it, holds
only inert text, and at most ``MAX_WARNINGS`` warnings.
"""

from __future__ import annotations

import math
import platform
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__, sanitize
from .course import Course
from .discovery import Discovery
from .pytest_plugin import CheckOutcome

SCHEMA = "grader-result/1"
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
MAX_WARNINGS = 50  # then one line says how many more there were


def _round(x: float) -> float:
    return float(round(x, 6))


def build_result(
    course: Course,
    outcomes: list[CheckOutcome],
    discovery: Discovery | None,
    *,
    submission: str,
    seed: int,
    devices: list[str],
    sandbox: dict,
    points: Callable[[str, str | None], float | None],
    visibility: Callable[[str, str | None], str | None],
    warnings: Sequence[str] = (),
    extra: dict | None = None,
    required: list[str] | tuple[str, ...] = (),
) -> dict:
    by_hook: dict[str, list[CheckOutcome]] = {}
    for o in outcomes:
        by_hook.setdefault(o.hook, []).append(o)
    hooks_out: dict[str, Any] = OrderedDict()
    for name, spec in course.hooks.items():
        hooks_out[name] = _hook_entry(name, spec.section, by_hook.get(name, []), discovery, points, visibility)
    score = sum(h.pop("_exact") for h in hooks_out.values())
    max_score = sum(h.pop("_exact_max") for h in hooks_out.values())
    required_failed = [n for n in required if n in hooks_out and hooks_out[n]["status"] not in ("passed", "skipped")]
    shown = [sanitize.text(w) for w in warnings]
    if len(shown) > MAX_WARNINGS:
        shown[MAX_WARNINGS - 1 :] = [f"… and {len(shown) - MAX_WARNINGS + 1} more warnings"]
    import torch

    result: dict[str, Any] = {
        "schema": SCHEMA,
        "submission": sanitize.name(submission, 1000),
        "score": _round(score),
        "final_score": 0.0 if required_failed else _round(score),
        "max_score": _round(max_score),
        "seed": int(seed),
        "devices": list(devices),
        "sandbox": dict(sandbox),
        "versions": {"grader": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "warnings": shown,
        "sections": {s.id: s.title for s in course.sections},
        "hooks": hooks_out,
        "required_failed": required_failed,
    }
    if extra:
        result.update(extra)
    if result.get("grading_errors"):
        result["grading_errors"] = [sanitize.text(e) for e in result["grading_errors"]]
    return result


def _hook_entry(name, section, checks, discovery, points, visibility) -> dict:
    hook_vis = visibility(name, None) or "visible"
    pre = discovery.status(name) if discovery is not None else None
    # Weights per check (not per cell).
    keys: OrderedDict[str, list[CheckOutcome]] = OrderedDict()
    for c in sorted(checks, key=lambda c: c.id):
        keys.setdefault(c.key, []).append(c)
    weights = {}
    for key, cells in keys.items():
        check_name = key.split("/", 1)[1]
        w = points(name, check_name)
        if w is None:
            w = cells[0].weight if cells[0].weight is not None else 1.0
        weights[key] = max(0.0, float(w))
    total = points(name, None)
    if total is not None and sum(weights.values()) > 0:
        scale = float(total) / sum(weights.values())
        weights = {k: w * scale for k, w in weights.items()}
    out_checks = []
    exact_score = exact_max = 0.0
    for key, cells in keys.items():
        graded = [c for c in cells if c.status != "skipped"]
        share = weights[key] / len(graded) if graded else 0.0
        for c in cells:
            mx = 0.0 if c.status == "skipped" else share
            sc = mx if c.status == "passed" else 0.0
            exact_score, exact_max = exact_score + sc, exact_max + mx
            entry: dict[str, Any] = {
                "id": c.id,
                "status": c.status,
                "score": _round(sc),
                "max_score": _round(mx),
                "device": c.cell,
                "message": sanitize.text(c.message),
                "visibility": visibility(name, key.split("/", 1)[1]) or hook_vis,
            }
            if c.hint:
                entry["hint"] = sanitize.text(c.hint)
            if c.not_attempted:
                entry["not_attempted"] = True
            if c.doc:
                entry["description"] = c.doc
            out_checks.append(entry)
    score, max_score = exact_score, exact_max
    ran = [c for c in out_checks if c["status"] != "skipped"]
    if pre is not None:
        status, message = pre[0], sanitize.text(pre[1])
    elif not out_checks:
        status, message = "skipped", "no checks for this hook"
    elif not ran:
        status = "skipped"
        message = next((c["message"] for c in out_checks if c["message"]), "skipped")
    elif all(c.get("not_attempted") for c in ran):
        status, message = "not_attempted", ran[0]["message"]
    elif all(s == "passed" for s in (c["status"] for c in ran)):
        status, message = "passed", ""
    elif all(c["status"] == "error" for c in ran):
        status, message = "error", ran[0]["message"]
    else:
        bad = [c for c in ran if c["status"] != "passed"]
        status = "failed"
        message = f"{len(bad)} of {len(ran)} checks did not pass"
    assert math.isfinite(score) and math.isfinite(max_score)
    entry = {
        "section": section,
        "status": status,
        "score": _round(score),
        "max_score": _round(max_score),
        "message": message,
        "visibility": hook_vis,
        "checks": out_checks,
        "_exact": score,  # popped by build_result: the total is summed before rounding
        "_exact_max": max_score,
    }
    # How the hook was found, when not as a function of its name (``Discovery.notes``).
    notes = discovery.notes(name) if discovery is not None else []
    if notes:
        entry["notes"] = [sanitize.text(n) for n in notes]
    return entry


def validate(result: dict) -> list[str]:
    """Problems with a result against RESULT_SCHEMA.md (empty when valid)."""
    problems = []
    if result.get("schema") != SCHEMA:
        problems.append("schema")
    for key in ("submission", "score", "max_score", "seed", "devices", "sandbox", "versions", "warnings", "hooks"):
        if key not in result:
            problems.append(f"missing {key}")
    total = 0.0
    for name, h in result.get("hooks", {}).items():
        if h.get("status") not in ("passed", "failed", "error", "not_attempted", "skipped"):
            problems.append(f"{name}: status {h.get('status')}")
        for k in ("score", "max_score"):
            v = h.get(k)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                problems.append(f"{name}: {k}")
        if h.get("score", 0) > h.get("max_score", 0) + 1e-9:
            problems.append(f"{name}: score above max_score")
        for c in h.get("checks", []):
            if c.get("status") not in ("passed", "failed", "error", "skipped"):
                problems.append(f"{c.get('id')}: status {c.get('status')}")
            if c.get("score", 0) > c.get("max_score", 0) + 1e-9:
                problems.append(f"{c.get('id')}: score above max_score")
            if c.get("status") == "passed" and c.get("message"):
                problems.append(f"{c.get('id')}: message on a passed check")
        total += h.get("score", 0)
    if abs(total - result.get("score", 0)) > 1e-6 * max(1, len(result.get("hooks", {}))):
        problems.append("score is not the sum of hook scores")
    final = result.get("final_score", result.get("score"))
    if final != (0.0 if result.get("required_failed") else result.get("score")):
        problems.append("final_score is not the score (or 0 when a required hook did not pass)")
    return problems


def failsafe_result(submission: str, reason: str) -> dict:
    """Written before grading starts, so a crash of the grader still leaves a valid report."""
    import platform as _p

    return {
        "schema": SCHEMA,
        "submission": sanitize.name(submission, 1000),
        "score": 0.0,
        "final_score": 0.0,
        "max_score": 0.0,
        "seed": 0,
        "devices": [],
        "sandbox": {"level": "none", "details": ""},
        "versions": {"grader": __version__, "torch": "", "python": _p.python_version()},
        "warnings": [sanitize.text(reason)],
        "grading_error": sanitize.text(reason) or "grading did not finish",
        "hooks": {},
        "required_failed": [],
    }
