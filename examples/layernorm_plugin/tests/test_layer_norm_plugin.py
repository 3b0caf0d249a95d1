"""The plugin's own tests, written with grader's pytest plugin (``grader.testing``).

``grade`` grades a submission directory with this plugin loaded (``grader_plugins`` in
``pyproject.toml``); the one-bug fixtures in ``submissions/bugs/`` each say in ``bug.toml``
which checks they must fail. Run from this directory: ``python -m pytest``.
"""

from pathlib import Path

import grader_layernorm
import pytest

from grader.testing import inventory, one_bug_fixtures, one_bug_problems

HERE = Path(__file__).resolve().parent.parent
CORRECT = [HERE / "submissions" / "correct", HERE / "src" / "grader_layernorm" / "reference"]
BUGS = one_bug_fixtures(HERE / "submissions" / "bugs")


@pytest.mark.parametrize("path", CORRECT, ids=[p.name for p in CORRECT])
def test_correct_submissions_get_full_marks(grade, path):
    r = grade(path, only=["layer_norm"])
    assert r.all_passed("layer_norm"), r.messages()
    assert r.hook("layer_norm")["score"] == r.hook("layer_norm")["max_score"] == 8


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_one_bug_loses_exactly_its_checks(grade, bug):
    assert one_bug_problems(grade(bug.path, only=bug.only), bug) == []


def test_every_check_has_a_failing_fixture_and_its_points():
    points = {c["key"]: c["points"] for c in inventory(grader_layernorm)["layer_norm"]}
    assert set(points) == set().union(*(b.fails for b in BUGS))
    assert points == {f"layer_norm/{name}": p for name, p in grader_layernorm.POINTS.items()}
