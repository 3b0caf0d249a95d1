"""Shared paths, and the rules of the ``slow`` marker. The `grade` fixture comes from
`grader.testing` (the plugin shipped for check authors), so the suite exercises the same helper
instructors use.

``slow`` (``make test-fast`` leaves these out): a test that takes a second or more on an idle
2-core machine, its own setup included. At the end of a run, the tests not marked ``slow`` that
took much longer than that are listed, so that the fast set stays fast; ``tests/test_suite.py``
checks that it still covers every module.
"""

import os
from pathlib import Path

import pytest

try:
    from _pytest.nodeid import NodeId  # pytest >= 9.2
except ImportError:  # pragma: no cover
    NodeId = None

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"

# Seconds (setup, call and teardown together) past which a test not marked slow is listed, on an
# idle machine; scaled by the load per core on a busy one.
UNMARKED_LIMIT = 5.0

# Every collected test's node id and whether it is marked slow, before -m or -k deselect any
# (and before --dist loadgroup appends a group to an id): for tests/test_suite.py.
ALL_TESTS = pytest.StashKey[dict[str, bool]]()
_durations: dict[str, float] = {}
_unmarked: set[str] = set()


@pytest.fixture
def submissions() -> Path:
    return SUBMISSIONS


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    # Before every other implementation: the whole collection.
    config.stash[ALL_TESTS] = {item.nodeid: item.get_closest_marker("slow") is not None for item in items}
    yield
    # After every other one, pytest-xdist's included.
    if getattr(config.option, "loadgroup", False):
        _group_node_ids(items)


def _group_node_ids(items: list[pytest.Item]) -> None:
    """``--dist loadgroup`` keeps the tests of one ``xdist_group`` on one worker by appending
    ``@group`` to their node ids, on the worker, in ``pytest_collection_modifyitems``.
    pytest-xdist 3.8 writes the attribute older pytest kept the id in, which pytest 9.2 no longer
    reads (pytest-xdist#1386, open), and the tests are spread as if unmarked. Until it writes the
    new one, this does; where xdist did it, or pytest keeps the id elsewhere, nothing happens."""
    if NodeId is None:
        return
    for item in items:
        marks = item.iter_markers("xdist_group")
        groups = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in marks}
        if groups and "@" not in item.nodeid and isinstance(getattr(item, "_id", None), NodeId):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(groups))}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under pytest-xdist the controller receives every worker's reports here.
    if report.skipped:
        _unmarked.discard(report.nodeid)
        return
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration
    if report.when == "setup" and "slow" not in report.keywords:
        _unmarked.add(report.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    busy = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    limit = UNMARKED_LIMIT * busy
    over = sorted((d, n) for n, d in _durations.items() if n in _unmarked and d > limit)
    if over:
        terminalreporter.write_sep("-", f"not marked slow, and over {limit:.0f} s (see tests/conftest.py)")
        for d, n in reversed(over):
            terminalreporter.write_line(f"{d:6.1f}s {n}")
