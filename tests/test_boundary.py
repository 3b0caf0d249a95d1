"""The worker boundary: a submission that kills or hangs its worker fails only its own checks;
the worker is replaced and everything else is graded."""

import shutil
import time

import pytest

from grader.testing import Graded
from grader.trusted.grading import Grader
from grader.trusted.settings import Settings, Timeouts

# Module-scoped graders: under pytest-xdist (make test) the module runs on one worker, so that
# they start once.
pytestmark = pytest.mark.xdist_group("test_boundary")


@pytest.fixture(scope="module")
def quick():
    """A grader with short limits, so hangs cost seconds."""
    g = Grader(Settings(timeouts=Timeouts(check=3, import_module=3, submission=60)))
    yield lambda path, only: Graded(g.grade(path, seed=7, only=only))
    g.close()


def test_exit_inside_forward_fails_only_that_hook(quick, submissions):
    r = quick(submissions / "boundary" / "exit_in_forward", ["mlp", "nest_mlp"])
    assert r.status("nest_mlp") == "passed"
    assert r.status("mlp") == "failed"
    assert r.hook("mlp")["score"] == 0
    for message in r.messages("mlp").values():
        assert "worker ended" in message
    # What it printed is reported as output, never believed.
    assert r.failed("mlp") == {"mlp/outputs", "mlp/gradients", "mlp/structure"}


@pytest.mark.slow
def test_infinite_loop_times_out_and_the_rest_is_graded(quick, submissions):
    start = time.monotonic()
    r = quick(submissions / "boundary" / "infinite_loop", ["mlp", "nest_mlp"])
    elapsed = time.monotonic() - start
    assert r.status("nest_mlp") == "passed"
    assert r.status("mlp") == "failed"
    assert all("timed out after 3 s" in m for m in r.messages("mlp").values())
    # One observation hung (cached for the other checks of that hook): one time limit, not three.
    assert elapsed < 3 * 3
    assert r["stats"]["workers_started"] >= 2


@pytest.mark.parametrize(
    "case,why",
    [
        ("exit_at_import", "ended the worker while importing"),
        pytest.param("hang_at_import", "did not finish importing within 3 s", marks=pytest.mark.slow),
    ],
)
def test_a_module_that_breaks_the_import_is_blamed_and_skipped(quick, submissions, case, why):
    r = quick(submissions / "boundary" / case, ["mlp", "nest_mlp"])
    assert r.status("nest_mlp") == "passed"
    h = r.hook("mlp")
    assert h["status"] == "error"
    assert why in h["message"] and "a_" in h["message"]


def test_a_notebook_whose_cells_never_finish_is_stopped_like_a_hanging_import(quick, submissions, tmp_path):
    import nbformat
    from nbformat import v4

    shutil.copy(submissions / "boundary" / "hang_at_import" / "b_good.py", tmp_path / "b_good.py")
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_code_cell("from torch import nn\n\ndef mlp():\n    return nn.Linear(20, 10)"),
        v4.new_markdown_cell("a demo that trains forever"),
        v4.new_code_cell("while True:\n    pass"),
    ]
    (tmp_path / "a_work.ipynb").write_text(nbformat.writes(nb))
    r = quick(tmp_path, ["mlp", "nest_mlp"])
    assert r.status("nest_mlp") == "passed"
    h = r.hook("mlp")
    assert h["status"] == "error"
    assert h["message"] == (
        "`a_work.ipynb` was stopped: it did not finish running its cells within 3 s (cell 3 was running)"
    )
