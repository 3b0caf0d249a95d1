"""Fairness across submissions and machines: one maximum for every submission graded with one
assignment on one machine, and no verdict on a CPU cell that depends on whether a GPU is there.
(The one-bug fixtures of ``test_checks.py`` show each message; these tests hold the invariants.)
"""

import shutil
from contextlib import contextmanager

import pytest
from conftest import ROOT, SUBMISSIONS

BUGS = SUBMISSIONS / "bugs"


def _without(src, dst, name: str):
    """A copy of the submission ``src`` in which the function ``name`` is renamed away."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    for path in dst.rglob("*.py"):
        text = path.read_text()
        if f"def {name}(" in text:
            path.write_text(text.replace(f"def {name}(", f"def _{name}_unfinished("))
    return dst


def test_the_maximum_is_the_same_for_every_submission(grade, tmp_path):
    """Empty, complete, partly wrong, one-bug, crashing at import, missing one half of a pair:
    the same maximum (a check that cannot run here is skipped for all of them alike; one that
    needs a hook the submission lacks fails, it is not skipped)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    submissions = {
        "empty": empty,
        "reference": ROOT / "reference",
        "example": ROOT / "examples" / "submission",
        "crashes at import": SUBMISSIONS / "boundary" / "exit_at_import",
        "mlp exits in its forward": BUGS / "load_model_file_mlp_exits",
        "no load_checkpoint": _without(ROOT / "reference", tmp_path / "no_load", "load_checkpoint"),
        "no save_model_file": _without(ROOT / "reference", tmp_path / "no_save", "save_model_file"),
    }
    maxima = {name: grade(path, seed=7).max_score for name, path in submissions.items()}
    assert len(set(maxima.values())) == 1, maxima
    # A not-attempted two-GPU exercise is skipped too, here as in a complete submission.
    assert (
        grade(empty, only=["two_gpu_matmul"]).max_score == grade(ROOT / "reference", only=["two_gpu_matmul"]).max_score
    )


@contextmanager
def pretending_cuda(grader, devices: list[str]):
    """The grader grades these CUDA devices (none: as on a laptop), whatever is there: without a
    GPU their cells run and fail."""
    before = grader.cuda
    grader.cuda = devices
    try:
        yield
    finally:
        grader.cuda = before


def _cpu_verdicts(r) -> dict[str, tuple[str, str]]:
    return {c["id"]: (c["status"], c["message"]) for c in r.checks() if c["device"] in (None, "cpu")}


@pytest.mark.parametrize(
    "path, hooks",
    [
        (ROOT / "reference", ["fixed_hidden_mlp", "chimera", "parallel", "save_params", "load_params", "try_gpu"]),
        (BUGS / "fixed_hidden_mlp_plain_rand_weight", ["fixed_hidden_mlp"]),
        (BUGS / "fixed_hidden_mlp_tensor_in_forward", ["fixed_hidden_mlp"]),
        (BUGS / "parallel_plain_list", ["parallel"]),
    ],
    ids=["reference", "plain_rand_weight", "tensor_in_forward", "parallel_plain_list"],
)
def test_no_cpu_verdict_depends_on_a_gpu(grade, path, hooks):
    """The same CPU (and device-free) cells, with the same verdicts and messages, whether the
    grader grades a CUDA device or not. On a GPU machine both are real; without one, "a GPU is
    present" is simulated only in part: the grader runs the CUDA cells, which cannot pass."""
    with pretending_cuda(grade.grader, []):
        without = grade(path, only=hooks, seed=11)
    with pretending_cuda(grade.grader, ["cuda:0"]):
        with_gpu = grade(path, only=hooks, seed=11)
    assert with_gpu["devices"] == ["cpu", "cuda:0"]
    assert any(c["device"] == "cuda:0" and c["status"] != "skipped" for c in with_gpu.checks()), "no CUDA cell ran"
    assert _cpu_verdicts(with_gpu) == _cpu_verdicts(without)


def test_a_plain_tensor_attribute_fails_a_device_free_check(grade):
    """The book's `FixedHiddenMLP` keeps `rand_weight` as a plain attribute: the structure check,
    which has no device cell, fails it (on a laptop as on a GPU machine); its outputs and
    gradients are right and pass."""
    r = grade(BUGS / "fixed_hidden_mlp_plain_rand_weight", only=["fixed_hidden_mlp"])
    structure = r.check("fixed_hidden_mlp/structure")
    assert structure["device"] is None and structure["status"] == "failed"
    assert "rand_weight" in structure["message"] and "register_buffer" in structure["hint"]
    assert r.passed("fixed_hidden_mlp") == {"fixed_hidden_mlp/outputs", "fixed_hidden_mlp/gradients"}
    assert not any("rand_weight" in w for w in r["warnings"])  # a failure, no longer advice


def test_wrong_layer_sizes_are_named_once(grade):
    """An eager module with a wrong layer size: the structure check names the shapes expected;
    outputs and gradients say they could not be compared and point there (nothing about lazy
    layers, which this module does not have)."""
    r = grade(BUGS / "shared_mlp_wrong_sizes", only=["shared_mlp"])
    messages = r.messages("shared_mlp")
    assert not any("lazy" in m for m in messages.values()), messages
    naming = [i for i, m in messages.items() if "expected (8, 4)" in m]
    assert naming == ["shared_mlp/structure"], messages
    assert all("`shared_mlp/structure` names them" in m for i, m in messages.items() if i != "shared_mlp/structure")
