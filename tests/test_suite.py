"""The suite's own rules: ``make test-fast`` (the tests not marked ``slow``) still covers every
module of the suite, and the areas an edit most often breaks."""

from conftest import ALL_TESTS

# Tests the fast set must keep: a whole run of the reference, and one real grading each of an
# assignment file and of the reports.
KEPT = [
    "tests/test_checks.py::test_correct_submissions_get_full_marks[reference]",
    "tests/test_assignment.py::test_the_result_reflects_the_assignment",
    "tests/test_reports.py::test_json_matches_its_schema_and_invariants[plain-correct]",
]


def test_the_fast_set_keeps_a_test_of_every_module(request):
    """Of the modules this run collected (all of them in `make test`), before -m or -k."""
    tests = request.config.stash[ALL_TESTS]
    modules = {nodeid.split("::")[0] for nodeid in tests}
    fast = {nodeid for nodeid, slow in tests.items() if not slow}
    assert not [m for m in modules if not any(n.startswith(m + "::") for n in fast)], "modules with slow tests only"
    assert not [n for n in KEPT if n.split("::")[0] in modules and n not in fast]
