"""Test helpers for check and plugin authors: grade a submission directory in a few lines.

A pytest plugin (entry point ``pytest11``: loaded automatically where the grader is installed)::

    def test_my_check(grade):
        good = grade("tests/submissions/correct", only=["layer_norm"])
        assert good.all_passed("layer_norm")
        bad = grade("tests/submissions/no_eps", only=["layer_norm"])
        assert bad.failed("layer_norm") == {"layer_norm/outputs"}

``grade`` uses one grader (plugins loaded once, one worker template) for the whole test
session; extra plugins come from ``--grader-plugin`` (repeatable) or ``grader_plugins`` in the
pytest configuration. ``grade_with(*plugins)`` gives a ``grade`` function whose grader loads
other plugins (a module name, a ``.py`` file or a package directory), one grader per distinct
list for the session.

One-bug fixtures (``one_bug_fixtures(directory)``): directories holding a submission and a
``bug.toml`` that says which checks it must fail (``bug``, ``only``, ``fails``, optionally
``message`` and ``hint``: text one failure's message or hint must contain).
``one_bug_problems(graded, fixture)`` says how a graded fixture departs from its ``bug.toml``.
``inventory(*plugins)`` lists the checks a course has and their points, as ``grader list`` does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


class Graded:
    """A JSON result with helpers for assertions."""

    def __init__(self, result: dict):
        self.result = result

    def __getitem__(self, key: str) -> Any:
        return self.result[key]

    @property
    def score(self) -> float:
        return self.result["score"]

    @property
    def max_score(self) -> float:
        return self.result["max_score"]

    def hook(self, name: str) -> dict:
        return self.result["hooks"][name]

    def status(self, hook: str) -> str:
        return self.hook(hook)["status"]

    def checks(self, hook: str | None = None) -> Iterator[dict]:
        for name, h in self.result["hooks"].items():
            if hook is None or name == hook:
                yield from h["checks"]

    def check(self, check_id: str) -> dict:
        for c in self.checks():
            if c["id"] == check_id:
                return c
        raise KeyError(check_id)

    @staticmethod
    def key(check_id: str) -> str:
        """``mlp/outputs[cpu]`` → ``mlp/outputs``; ``param_shapes/shapes[rgnet]`` stays."""
        base, _, cell = check_id.partition("[")
        if not cell:
            return base
        parts = [p for p in cell.rstrip("]").split("-") if p != "cpu" and not p.startswith("cuda")]
        return base + (f"[{'-'.join(parts)}]" if parts else "")

    def failed(self, hook: str | None = None) -> set[str]:
        """Check keys (device cells folded) with a cell that ran and did not pass."""
        return {self.key(c["id"]) for c in self.checks(hook) if c["status"] in ("failed", "error")}

    def passed(self, hook: str | None = None) -> set[str]:
        keys = {self.key(c["id"]) for c in self.checks(hook) if c["status"] == "passed"}
        return keys - self.failed(hook)

    def all_passed(self, hook: str | None = None) -> bool:
        ran = [c for c in self.checks(hook) if c["status"] != "skipped"]
        return bool(ran) and all(c["status"] == "passed" for c in ran)

    def messages(self, hook: str | None = None) -> dict[str, str]:
        """Check id to message, for the checks that did not pass."""
        return {c["id"]: c["message"] for c in self.checks(hook) if c["status"] in ("failed", "error")}

    def hints(self, hook: str | None = None) -> dict[str, str]:
        """Check id to hint, for the checks that did not pass and gave one."""
        return {c["id"]: c["hint"] for c in self.checks(hook) if c["status"] in ("failed", "error") and c.get("hint")}


# -- one-bug fixtures ---------------------------------------------------------------------------


@dataclass
class OneBug:
    """A submission with one known bug and the checks it must fail (its ``bug.toml``)."""

    path: Path
    bug: str
    only: list[str]
    fails: set[str]
    message: str | None = None
    hint: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


def one_bug_fixtures(directory: str | Path) -> list[OneBug]:
    """The one-bug fixtures under ``directory`` (each subdirectory with a ``bug.toml``), sorted."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    out = []
    for path in sorted(p for p in Path(directory).iterdir() if (p / "bug.toml").is_file()):
        spec = tomllib.loads((path / "bug.toml").read_text())
        known = {"bug", "only", "fails", "message", "hint"}
        out.append(
            OneBug(
                path=path,
                bug=spec["bug"],
                only=list(spec["only"]),
                fails=set(spec["fails"]),
                message=spec.get("message"),
                hint=spec.get("hint"),
                extra={k: v for k, v in spec.items() if k not in known},
            )
        )
    return out


def one_bug_problems(graded: Graded, fixture: OneBug) -> list[str]:
    """What is wrong with a graded one-bug fixture: checks failed that should not have been
    (or the reverse), hooks none of whose checks ran, a missing message or hint text."""
    problems = []
    failed = set().union(*(graded.failed(h) for h in fixture.only))
    if failed != fixture.fails:
        problems.append(
            f"{fixture.name} ({fixture.bug}): failed {sorted(failed)}, expected {sorted(fixture.fails)}; "
            f"messages: {graded.messages()}"
        )
    for hook in fixture.only:
        if not (graded.passed(hook) | graded.failed(hook)):
            problems.append(f"{fixture.name}: no check of {hook} ran")
    bad = [c for h in fixture.only for c in graded.checks(h) if c["status"] != "passed"]
    if fixture.message and not any(fixture.message in c["message"] for c in bad):
        problems.append(f"{fixture.name}: no message contains {fixture.message!r}: {[c['message'] for c in bad]}")
    if fixture.hint and not any(fixture.hint in (c.get("hint") or "") for c in bad):
        problems.append(f"{fixture.name}: no hint contains {fixture.hint!r}: {[c.get('hint') for c in bad]}")
    return problems


def inventory(*plugins: Any) -> dict[str, list[dict]]:
    """The checks of the course these plugins make, with the installed ones (entry points, as
    ``grader list`` sees them): hook -> ``[{"key", "points", "doc", "cells", ...}]``, points as
    a run would award them. A plugin is a module, a module name, a ``.py`` file or a package
    directory."""
    from .plugins import get_plugin_manager
    from .trusted.course import load_course
    from .trusted.inventory import check_inventory

    pm = get_plugin_manager(list(plugins))
    return check_inventory(load_course(pm), pm)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader")
    group.addoption("--grader-plugin", action="append", default=[], help="grader plugin for the `grade` fixture")
    parser.addini("grader_plugins", "grader plugins for the `grade` fixture", type="linelist", default=[])


@pytest.fixture(scope="session")
def grader_instance(request: pytest.FixtureRequest):
    """One ``Grader`` for the session (plugins loaded once, one worker template)."""
    from .trusted.grading import Grader
    from .trusted.settings import Settings, Timeouts

    plugins = list(request.config.getoption("--grader-plugin")) + list(request.config.getini("grader_plugins"))
    g = Grader(Settings(plugins=plugins, timeouts=Timeouts(check=15, import_module=15, submission=300)))
    yield g
    g.close()


def _grade_function(grader) -> Callable[..., Graded]:
    def run(path: str | Path, only: list[str] | None = None, seed: int = 1234, keyword: str | None = None) -> Graded:
        return Graded(grader.grade(Path(path), seed=seed, only=only, keyword=keyword))

    # Its plugin manager (``.pm``) and course (``.course``), for assertions.
    run.grader = grader  # type: ignore[attr-defined]  # mypy types no attributes set on a function
    return run


@pytest.fixture
def grade(grader_instance):
    """``grade(path, only=[...], seed=1234, keyword=None) -> Graded``."""
    return _grade_function(grader_instance)


@pytest.fixture(scope="session")
def grade_with():
    """``grade_with(*plugins) -> grade``: like ``grade``, with a grader that also loads these
    plugins (module names, ``.py`` files, package directories). One grader per distinct list
    (and plugin environment variables) for the session."""
    from .trusted.grading import Grader
    from .trusted.settings import Settings, Timeouts

    graders: dict[tuple, Any] = {}

    def make(*plugins: str | Path) -> Callable[..., Graded]:
        env = tuple(os.environ.get(k) for k in ("GRADER_DISABLE_PLUGINS", "GRADER_LOAD_PLUGINS"))
        key = (tuple(str(p) for p in plugins), env)
        if key not in graders:
            settings = Settings(plugins=list(key[0]), timeouts=Timeouts(check=15, import_module=15, submission=300))
            graders[key] = Grader(settings)
        return _grade_function(graders[key])

    yield make
    for g in graders.values():
        g.close()
