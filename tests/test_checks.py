"""Every check can fail and can pass: one-bug fixtures lose exactly the checks their bug breaks,
correct submissions in different styles get full marks, and no check lacks a failing fixture."""

import sys
from pathlib import Path

import pytest

from grader.plugins import get_plugin_manager
from grader.trusted.course import load_course
from grader.trusted.inventory import collect_checks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from conftest import ROOT, SUBMISSIONS

BUGS = sorted(p for p in (SUBMISSIONS / "bugs").iterdir() if (p / "bug.toml").is_file())
CORRECT = [ROOT / "reference"] + sorted(p for p in (SUBMISSIONS / "correct").iterdir() if p.is_dir())


def spec(path: Path) -> dict:
    return tomllib.loads((path / "bug.toml").read_text())


def all_fails(s: dict) -> set[str]:
    return set(s["fails"]) | set(s.get("cuda_fails", [])) | set(s.get("multi_gpu_fails", []))


def expected_fails(s: dict, gpus: int) -> set[str]:
    """``fails`` everywhere, ``cuda_fails`` too where a CUDA device is graded, ``multi_gpu_fails``
    where two are: a bug that shows only on a GPU must cost nothing on a machine without one."""
    out = set(s["fails"])
    if gpus >= 1:
        out |= set(s.get("cuda_fails", []))
    if gpus >= 2:
        out |= set(s.get("multi_gpu_fails", []))
    return out


@pytest.mark.parametrize("bug", BUGS, ids=[p.name for p in BUGS])
def test_one_bug_loses_exactly_its_checks(grade, bug):
    s = spec(bug)
    r = grade(bug, only=s["only"])
    gpus = sum(d.startswith("cuda") for d in r["devices"])
    expected = expected_fails(s, gpus)
    failed = set().union(*(r.failed(h) for h in s["only"]))
    assert failed == expected, f"{bug.name} ({s['bug']}): {r.messages()}"
    for hook in s["only"]:
        if not r.passed(hook) | r.failed(hook) and all_fails(s) - expected:
            pytest.skip(f"no check of {hook} can run here: the bug shows only with more CUDA devices")
        assert r.passed(hook) | r.failed(hook), f"no check of {hook} ran"
    if not expected:
        return  # the bug shows on CUDA only: here it passed everything, as it must
    messages = [c["message"] for h in s["only"] for c in r.checks(h) if c["status"] != "passed"]
    hints = [c.get("hint") or "" for h in s["only"] for c in r.checks(h) if c["status"] != "passed"]
    if "message" in s:
        assert any(s["message"] in m for m in messages), messages
    if "hint" in s:
        assert any(s["hint"] in h for h in hints), hints


@pytest.mark.parametrize("path", CORRECT, ids=[p.name for p in CORRECT])
def test_correct_submissions_get_full_marks(grade, path):
    r = grade(path)
    problems = {cid: m for cid, m in r.messages().items()}
    assert not problems
    assert r.score == r.max_score > 0
    assert all(h["status"] in ("passed", "skipped") for h in r["hooks"].values())


def test_every_check_has_a_failing_fixture():
    course = load_course(get_plugin_manager())
    metas, errors = collect_checks(course)
    assert not errors
    keys = {m.key for m in metas}
    covered = set().union(*(all_fails(spec(b)) for b in BUGS))
    assert not (covered - keys), f"bug.toml names unknown checks: {sorted(covered - keys)}"
    assert not (keys - covered), f"checks without a failing fixture: {sorted(keys - covered)}"


def test_every_hook_has_checks():
    course = load_course(get_plugin_manager())
    metas, _ = collect_checks(course)
    hooks = {m.hook for m in metas}
    assert set(course.hooks) - hooks == set()
