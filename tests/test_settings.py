"""The settings of a run: resolved once, from the command line over the assignment file, and
handed to a batch's grading processes as they are."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.trusted.assignment import AssignmentError
from grader.trusted.batch.collect import Submission
from grader.trusted.batch.coordinator import Coordinator
from grader.trusted.sandbox import Limits
from grader.trusted.settings import DEFAULT_RESULTS_DIR, Settings, Timeouts, UsageError

ASSIGNMENT = """\
name = "Chapter 5"
hooks = ["mlp", "nest_mlp"]
required = ["mlp"]
seed = 99
min_sandbox = "rlimits"
visibility = "after_due_date"
[points]
"mlp/outputs" = 4
[timeouts]
check = 7
import = 9
submission = 100
[gradescope]
tests = "hook"
"""


@pytest.fixture
def assignment(tmp_path) -> Path:
    path = tmp_path / "assignment.toml"
    path.write_text(ASSIGNMENT)
    return path


def test_the_assignment_gives_defaults_and_the_command_line_overrides_them(assignment):
    s = Settings.resolve(assignment_file=assignment)
    assert s.assignment is not None and s.assignment.path == assignment.resolve()
    assert (s.seed, s.min_sandbox) == (99, "rlimits")
    assert s.timeouts == Timeouts(check=7, import_module=9, submission=100)
    s = Settings.resolve(assignment_file=assignment, seed=0, min_sandbox="bwrap", timeout=2, total_timeout=50)
    assert (s.seed, s.min_sandbox) == (0, "bwrap")
    assert s.timeouts == Timeouts(check=2, import_module=9, submission=50)  # the import limit: the file's
    s = Settings.resolve(timeout=2)
    assert (s.seed, s.min_sandbox, s.assignment) == (None, None, None)
    assert s.timeouts == Timeouts(check=2)


def test_a_bad_assignment_file_is_a_usage_error(tmp_path):
    with pytest.raises(AssignmentError, match="assignment file not found") as e:
        Settings.resolve(assignment_file=tmp_path / "missing.toml")
    assert isinstance(e.value, UsageError)


def test_a_single_run_pairs_formats_with_outputs():
    assert Settings.resolve().reports == [("text", "-")]
    assert Settings.resolve(formats=["json", "text"], outputs=["r.json"]).reports == [("json", "r.json"), ("text", "-")]
    assert Settings.resolve(outputs=["r.txt"]).reports == [("text", "r.txt")]
    for formats in ([], ["json"]):
        with pytest.raises(UsageError, match="^more --output than --format options$"):
            Settings.resolve(formats=formats, outputs=["a", "b"])
    s = Settings.resolve()
    assert (s.results_dir, s.jobs) == (None, 0)


def test_a_batch_writes_its_reports_under_its_results_dir():
    s = Settings.resolve(batch=True)
    assert s.results_dir == DEFAULT_RESULTS_DIR and s.formats == [] and s.jobs >= 1
    s = Settings.resolve(batch=True, results_dir="out", jobs=3, formats=["text"])
    assert (s.results_dir, s.jobs, s.formats, s.outputs) == (Path("out"), 3, ["text"], [])
    with pytest.raises(UsageError, match="^--output names one file: in batch mode every report goes under"):
        Settings.resolve(batch=True, formats=["json"], outputs=["x.json"])


def test_settings_travel_as_one_json_line_and_come_back_equal(tmp_path, assignment):
    s = Settings.resolve(
        assignment_file=assignment,
        only=["mlp"],
        keyword="outputs and not cuda",
        plugins=["extra.py", "some.module"],
        sandbox="rlimits",
        timeout=3.5,
        cuda=False,
        formats=["text", "junit"],
        audience="instructor",
        fail_under=62.5,
        batch=True,
        results_dir=tmp_path / "out",
        jobs=2,
    )
    s.limits = Limits(memory=None, processes=8)
    s.deadline = 12.5
    text = s.to_json()
    assert "\n" not in text
    back = Settings.from_json(text)
    assert back == s  # the types too: a Path is no str, Timeouts no dict
    assert back.assignment is not None and back.assignment.points == {"mlp/outputs": 4.0}
    assert Settings.from_json(Settings().to_json()) == Settings()


def test_the_coordinator_hands_every_grading_process_one_resolved_seed(tmp_path):
    subs = [Submission("a", tmp_path)]
    for given in (None, 0, 12):
        c = Coordinator(subs, Settings(seed=given, results_dir=Path("out")), logs=tmp_path)
        c.selector.close()
        assert isinstance(c.settings.seed, int) and c.seed == c.settings.seed
        assert given is None or c.settings.seed == given
        assert c.settings.results_dir == Path("out").resolve()


def test_resolving_settings_imports_no_torch(assignment):
    """The command line resolves them before the worker template starts importing torch, and a
    batch's coordinator never imports it."""
    code = textwrap.dedent(f"""
        import sys
        import grader.trusted.batch
        from grader.trusted.settings import Settings
        s = Settings.resolve(assignment_file={str(assignment)!r}, batch=True)
        Settings.from_json(s.to_json())
        print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"
