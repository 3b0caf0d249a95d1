"""Test helpers for check and plugin authors: grade a submission directory in a few lines.

A pytest plugin (entry point ``pytest11``: loaded automatically where the grader is installed)::

    def test_my_check(grade):
        good = grade("tests/submissions/correct", only=["layer_norm"])
        assert good.all_passed("layer_norm")
        bad = grade("tests/submissions/no_eps", only=["layer_norm"])
        assert bad.failed("layer_norm") == {"layer_norm/outputs"}

``grade`` uses one grader (plugins loaded once, one worker template) for the whole test
session; extra plugins come from ``--grader-plugin`` (repeatable) or ``grader_plugins`` in the
pytest configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

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
        return {c["id"]: c["message"] for c in self.checks(hook) if c["status"] in ("failed", "error")}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader")
    group.addoption("--grader-plugin", action="append", default=[], help="grader plugin for the `grade` fixture")
    parser.addini("grader_plugins", "grader plugins for the `grade` fixture", type="linelist", default=[])


@pytest.fixture(scope="session")
def grader_instance(request: pytest.FixtureRequest):
    """One ``Grader`` for the session (plugins loaded once, one worker template)."""
    from .trusted.grading import Grader, Options
    from .trusted.submission import Timeouts

    plugins = list(request.config.getoption("--grader-plugin")) + list(request.config.getini("grader_plugins"))
    g = Grader(Options(plugins=plugins, timeouts=Timeouts(check=15, import_module=15, submission=300)))
    yield g
    g.close()


@pytest.fixture
def grade(grader_instance):
    """``grade(path, only=[...], seed=1234, keyword=None) -> Graded``."""

    def run(path: str | Path, only: list[str] | None = None, seed: int = 1234, keyword: str | None = None) -> Graded:
        return Graded(grader_instance.grade(Path(path), seed=seed, only=only, keyword=keyword))

    return run
