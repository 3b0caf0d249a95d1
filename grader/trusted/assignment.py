"""The assignment file: which hooks are graded, their points and visibility, required hooks, time
limits, the seed, extra plugins. A TOML file given with ``--assignment FILE`` (or the
``[tool.grader]`` table of a ``pyproject.toml``); ``examples/assignment.toml`` documents every key.

It is never looked for on its own (not in the current directory, never in the submission): on
GitHub Classroom both are the student's repository, so the file must be named by the instructor's
command line.

Points and visibility reach scoring through the ``grader_points`` / ``grader_visibility`` hooks,
answered first (``tryfirst``) by :class:`AssignmentPlugin`, and only where the file says
something, so a check plugin's own answer still counts for what the file leaves open.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import hookimpl
from .settings import Timeouts, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
GRADESCOPE_TESTS = ("check", "hook")
TOP_KEYS = {
    "name": "a title for reports",
    "sections": "sections graded (default: all loaded sections)",
    "hooks": "hooks graded besides those of `sections`",
    "exclude": "hooks left out of the selection",
    "required": "hooks that must pass, or the submission scores 0",
    "visibility": 'default visibility, or a table: default, section, hook or "hook/check" -> visibility',
    "seed": 'an integer for reproducible inputs, or "random" (default)',
    "plugins": "extra plugins: module names, .py files or package directories (paths relative to the assignment file)",
    "min_sandbox": "refuse to grade below this confinement level",
    "points": 'table: hook or "hook/check" -> points',
    "timeouts": "table: check, import, submission (seconds)",
    "gradescope": 'table: tests = "check" | "hook"',
}
TIMEOUT_KEYS = {"check": "check", "import": "import_module", "submission": "submission"}


class AssignmentError(UsageError):
    """The assignment file is missing, unreadable or wrong (exit code 2); says where and why."""


@dataclass
class Assignment:
    path: Path
    name: str = ""
    sections: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    visibility: str | None = None
    visibility_of: dict[str, str] = field(default_factory=dict)  # section, hook or hook/check
    points: dict[str, float] = field(default_factory=dict)  # hook or hook/check
    seed: int | None = None
    plugins: list[str] = field(default_factory=list)
    min_sandbox: str | None = None
    timeouts: dict[str, float] = field(default_factory=dict)
    gradescope_tests: str = "check"

    # -- what the grader takes from it --------------------------------------------------------

    def make_timeouts(self, base: Timeouts | None = None) -> Timeouts:
        out = Timeouts(**vars(base)) if base is not None else Timeouts()
        for key, attr in TIMEOUT_KEYS.items():
            if key in self.timeouts:
                setattr(out, attr, self.timeouts[key])
        return out

    def selection(self, course) -> list[str]:
        """Graded hooks in course order: those of ``sections`` plus ``hooks``, less ``exclude``
        (all hooks when neither ``sections`` nor ``hooks`` is given)."""
        if not self.sections and not self.hooks:
            chosen = set(course.hooks)
        else:
            chosen = {h for h, spec in course.hooks.items() if spec.section in self.sections} | set(self.hooks)
        chosen -= set(self.exclude)
        return [h for h in course.hooks if h in chosen]

    def validate_against(self, course, check_keys: set[str] | None = None) -> None:
        """Every name in the file must exist in the loaded course (a typo would silently change
        points or leak a hidden check), with a "did you mean" for the near misses."""
        sections = [s.id for s in course.sections]
        hooks = list(course.hooks)
        problems = []
        for s in self.sections:
            if s not in sections:
                problems.append(f"sections: unknown section {s!r}{_suggest(s, sections)}")
        for key in ("hooks", "exclude", "required"):
            for h in getattr(self, key):
                if h not in course.hooks:
                    problems.append(f"{key}: unknown hook {h!r}{_suggest(h, hooks)}")
        selected = set(self.selection(course))
        for h in self.required:
            if h in course.hooks and h not in selected:
                problems.append(f"required: hook {h!r} is not in the assignment's selection")
        clash = set(sections) & set(hooks)
        for table, names in (("points", self.points), ("visibility", self.visibility_of)):
            for name in names:
                hook, _, check = name.partition("/")
                allowed = hooks + (sections if table == "visibility" and not check else [])
                if hook not in allowed:
                    what = "hook or section" if table == "visibility" else "hook"
                    problems.append(f"[{table}]: unknown {what} {hook!r}{_suggest(hook, allowed)}")
                elif not check and table == "visibility" and hook in clash:
                    problems.append(f'[{table}]: {hook!r} names both a section and a hook; use "{hook}/CHECK" keys')
                elif check and check_keys is not None:
                    known = sorted(
                        {k.split("/", 1)[1] for k in check_keys if k.startswith(hook + "/")}
                        | {k.split("/", 1)[1].split("[", 1)[0] for k in check_keys if k.startswith(hook + "/")}
                    )
                    if check not in known:
                        problems.append(
                            f"[{table}]: hook {hook!r} has no check {check!r}{_suggest(check, known)}"
                            + (f" (its checks: {', '.join(known)})" if known else " (it has no checks)")
                        )
        if problems:
            raise AssignmentError(f"{self.path}: " + "; ".join(problems))

    def describe(self, course) -> dict:
        """What the JSON result records about the assignment (``result["assignment"]``)."""
        return {
            "name": self.name,
            "file": str(self.path),
            "hooks": self.selection(course),
            "required": list(self.required),
            "gradescope": {"tests": self.gradescope_tests},
        }

    def plugin(self, course) -> AssignmentPlugin:
        return AssignmentPlugin(self, {h: spec.section for h, spec in course.hooks.items()})


class AssignmentPlugin:
    """Answers ``grader_points`` and ``grader_visibility`` first, where the file has an answer."""

    def __init__(self, assignment: Assignment, section_of: dict[str, str]):
        self.a = assignment
        self.section_of = section_of

    def _lookup(self, table: dict, hook: str, check: str | None) -> Any:
        if check is None:
            return table.get(hook)
        # "hook/name[params]" first, then "hook/name" for every parametrization of the check.
        exact = table.get(f"{hook}/{check}")
        return exact if exact is not None else table.get(f"{hook}/{check.split('[', 1)[0]}")

    @hookimpl(tryfirst=True)
    def grader_points(self, hook: str, check: str | None) -> float | None:
        return self._lookup(self.a.points, hook, check)

    @hookimpl(tryfirst=True)
    def grader_visibility(self, hook: str, check: str | None) -> str | None:
        if check is not None:
            return self._lookup(self.a.visibility_of, hook, check)
        return (
            self.a.visibility_of.get(hook)
            or self.a.visibility_of.get(self.section_of.get(hook, ""))
            or self.a.visibility
        )


# -- loading ------------------------------------------------------------------------------------


def load_assignment(path: str | Path) -> Assignment:
    """Read and check an assignment file (a ``pyproject.toml`` is read from ``[tool.grader]``)."""
    path = Path(path)
    if not path.is_file():
        raise AssignmentError(f"{path}: assignment file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise AssignmentError(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise AssignmentError(f"{path}: not valid TOML: {e}") from None
    if path.name == "pyproject.toml" or ("tool" in data and "grader" in data.get("tool", {})):
        table = data.get("tool", {}).get("grader")
        if not isinstance(table, dict):
            raise AssignmentError(f"{path}: no [tool.grader] table")
        return parse_assignment(table, path, where="[tool.grader]")
    return parse_assignment(data, path)


def load_assigned_course(
    path: str | Path, check_names: bool = True, extra: Iterable[str] = ()
) -> tuple[Assignment, Any, Any]:
    """The assignment file at ``path``, the plugin manager it makes (entry points, its
    ``plugins``, then ``extra``) and the course they load, with every name of the file validated
    against that course: ``(assignment, pm, course)``. ``check_names`` also validates the check
    names of ``[points]`` and ``[visibility]``, which collects the checks (pytest, torch).
    Raises ``AssignmentError`` and ``grader.plugins.PluginError``."""
    from ..plugins import get_plugin_manager
    from .course import load_course

    assignment = load_assignment(path)
    pm = get_plugin_manager(list(extra), assignment=assignment.plugins)
    course = load_course(pm)
    keys = None
    if check_names:
        from .inventory import collect_checks

        metas, _ = collect_checks(course)
        keys = {m.key for m in metas}
    assignment.validate_against(course, keys)
    return assignment, pm, course


def parse_assignment(data: dict, path: Path, where: str = "") -> Assignment:
    prefix = f"{path}: {where + ' ' if where else ''}"
    problems: list[str] = []
    known = list(TOP_KEYS)
    for key in data:
        if key not in known:
            problems.append(f"unknown key {key!r}{_suggest(key, known)}")
    a = Assignment(path=path.resolve())

    def strings(key: str) -> list[str]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"{key} must be a list of strings")
            return []
        return list(value)

    name = data.get("name", "")
    if not isinstance(name, str):
        problems.append("name must be a string")
    else:
        a.name = name
    a.sections, a.hooks, a.exclude, a.required = (strings(k) for k in ("sections", "hooks", "exclude", "required"))
    for p in strings("plugins"):
        plugin, problem = _plugin(p, path.parent)
        a.plugins.append(plugin)
        if problem:
            problems.append(problem)
    vis = data.get("visibility")
    if isinstance(vis, dict):
        for k, v in vis.items():
            if v not in VISIBILITIES:
                problems.append(f"[visibility] {k}: {v!r} is not one of {', '.join(VISIBILITIES)}")
            else:
                a.visibility_of[k] = v
        a.visibility = a.visibility_of.pop("default", None)
    elif vis is not None:
        if vis not in VISIBILITIES:
            problems.append(f"visibility: {vis!r} is not one of {', '.join(VISIBILITIES)}")
        else:
            a.visibility = vis
    points = data.get("points", {})
    if not isinstance(points, dict):
        problems.append('points must be a table: hook or "hook/check" = number')
    else:
        for k, v in points.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                problems.append(f"[points] {k}: {v!r} is not a finite number >= 0")
            else:
                a.points[k] = float(v)
    seed = data.get("seed", "random")
    if seed == "random":
        a.seed = None
    elif isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**63:
        a.seed = seed
    else:
        problems.append(f'seed: {seed!r} is neither a non-negative integer nor "random"')
    ms = data.get("min_sandbox")
    if ms is not None and not isinstance(ms, str):
        problems.append("min_sandbox must be a string")
    a.min_sandbox = ms
    timeouts = data.get("timeouts", {})
    if not isinstance(timeouts, dict):
        problems.append("timeouts must be a table")
    else:
        for k, v in timeouts.items():
            if k not in TIMEOUT_KEYS:
                problems.append(f"[timeouts] unknown key {k!r}{_suggest(k, list(TIMEOUT_KEYS))}")
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < math.inf):
                problems.append(f"[timeouts] {k}: {v!r} is not a positive number of seconds")
            else:
                a.timeouts[k] = float(v)
    gs = data.get("gradescope", {})
    if not isinstance(gs, dict):
        problems.append("gradescope must be a table")
    else:
        for k, v in gs.items():
            if k != "tests":
                problems.append(f"[gradescope] unknown key {k!r}{_suggest(k, ['tests'])}")
            elif v not in GRADESCOPE_TESTS:
                problems.append(f"[gradescope] tests: {v!r} is not one of {', '.join(GRADESCOPE_TESTS)}")
            else:
                a.gradescope_tests = v
    if problems:
        raise AssignmentError(prefix + "; ".join(problems))
    return a


def _plugin(spec: str, base: Path) -> tuple[str, str]:
    """One entry of ``plugins``: a ``.py`` file or a package directory relative to the
    assignment file's folder (so the file works from any working directory), else a module
    name. Returns what to load (a resolved path, or the module name) and the problem, if any."""
    candidate = base / spec
    if candidate.is_file() or candidate.is_dir():
        if candidate.is_dir() and not (candidate / "__init__.py").is_file():
            return str(candidate.resolve()), f"plugins: {spec} is a directory but not a package (it has no __init__.py)"
        return str(candidate.resolve()), ""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return str(
            candidate.resolve()
        ), f"plugins: file or package directory not found: {spec} (looked for {candidate})"
    return spec, ""  # a module name: imported from where Python finds it (an installed package)


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


__all__ = [
    "Assignment",
    "AssignmentError",
    "AssignmentPlugin",
    "load_assigned_course",
    "load_assignment",
    "parse_assignment",
    "VISIBILITIES",
]
