"""Which checks exist, per hook, with their points and what they verify (``grader list``)."""

from __future__ import annotations

from .course import Course
from .pytest_plugin import CheckOutcome, GradingPlugin, RunContext, device_cells
from .runner import pytest_main


def collect_checks(course: Course) -> tuple[list[CheckOutcome], list[str]]:
    """Describe every check (hook, id, points, cells) and run none: the plugin's queue of runs is
    empty."""
    # No view: no check runs, and nothing else reads it.
    ctx = RunContext(course=course, view=None, seed=0, cuda_devices=[], tolerance=lambda *a: (0.0, 0.0))  # type: ignore[arg-type]
    plugin = GradingPlugin(ctx, next_run=lambda: None)
    pytest_main(plugin, list(map(str, course.check_files)))
    return list(plugin.meta.values()), plugin.internal_errors


def check_inventory(course: Course, pm) -> dict[str, list[dict]]:
    """hook -> [{"key", "points", "doc", "cells"}], points as a run would award them."""
    metas, _ = collect_checks(course)
    by_key: dict[str, dict] = {}
    for m in metas:
        entry = by_key.setdefault(m.key, {"hook": m.hook, "key": m.key, "weight": m.weight, "doc": m.doc, "cells": []})
        if m.cell is not None:
            entry["cells"].append(m.cell)
    out: dict[str, list[dict]] = {}
    for entry in by_key.values():
        out.setdefault(entry["hook"], []).append(entry)
    for hook, entries in out.items():
        weights: list[float] = []
        for e in entries:
            w = pm.hook.grader_points(hook=hook, check=e["key"].split("/", 1)[1])
            weights.append(float(w if w is not None else (e["weight"] if e["weight"] is not None else 1.0)))
        total = pm.hook.grader_points(hook=hook, check=None)
        if total is not None and sum(weights) != 0:
            weights = [w * float(total) / sum(weights) for w in weights]
        for e, w in zip(entries, weights):
            e["points"] = round(w, 4)
    return out


__all__ = ["collect_checks", "check_inventory", "device_cells"]
