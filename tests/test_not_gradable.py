"""File I/O checks that need a second hook which is missing: where the grader's own file serves
as well, it is used (one missing hook costs points in one place); where only the submission's
own modules or file can be graded, the check fails saying which hook it needs. Never skipped:
the maximum does not depend on the submission."""

import textwrap

STATE_DICT_PAIR = """
import torch


def save_checkpoint(net, optimizer, epoch, path):
    torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)
"""

MODEL_FILE_ONLY = """
import torch


def save_model_file(net, path):
    torch.jit.save(torch.jit.script(net), path)


def load_model_file(path):
    return torch.jit.load(path)
"""

LOAD_PARAMS_ONLY = """
from safetensors.torch import load_model


def load_params(net, path):
    load_model(net, path)
"""


def write(tmp_path, code: str):
    (tmp_path / "solution.py").write_text(textwrap.dedent(code))
    return tmp_path


def test_model_file_without_the_modules_it_saves(grade, tmp_path):
    r = grade(write(tmp_path, MODEL_FILE_ONLY), only=["save_model_file", "load_model_file"])
    assert r.status("save_model_file") == r.status("load_model_file") == "failed"
    written = r.check("save_model_file/file_written")["message"]
    assert "not gradable without `mlp()`" in written and "not gradable without `fixed_hidden_mlp()`" in written
    assert r.check("load_model_file/round_trip[mlp]")["message"].startswith("not gradable without `mlp()`")
    assert r.score == 0 and r.max_score == 3


def test_checkpoint_without_its_loader(grade, tmp_path):
    r = grade(write(tmp_path, STATE_DICT_PAIR), only=["save_checkpoint", "load_checkpoint"])
    resume = r.check("save_checkpoint/resume")
    assert resume["status"] == "failed" and resume["max_score"] == 1
    assert resume["message"].startswith("not gradable without `load_checkpoint`")
    assert r.status("load_checkpoint") == "not_attempted"


def test_own_file_round_trip_without_save_params(grade, tmp_path):
    """Without `save_params`, the own-file check loads the grader's files: `load_params` is right."""
    r = grade(write(tmp_path, LOAD_PARAMS_ONLY), only=["load_params"])
    assert r.status("load_params") == "passed"
    assert r.check("load_params/own_file[cpu]")["max_score"] == 1
    assert any("there is no `save_params`" in w for w in r["warnings"]), r["warnings"]


STUB_SAVE_CHECKPOINT = """
import torch


def save_checkpoint(net, optimizer, epoch, path):
    raise NotImplementedError


def load_checkpoint(path, net, optimizer):
    checkpoint = torch.load(path, weights_only=True)
    net.load_state_dict(checkpoint["net"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    return checkpoint["epoch"]
"""


def test_a_stub_makes_its_partners_checks_fail_and_its_own_not_attempted(grade, tmp_path):
    """`save_checkpoint` a stub, `load_checkpoint` written: the stub is "not attempted"; the
    loader's checks cannot run and fail, naming the stub (not "not attempted": it was)."""
    r = grade(write(tmp_path, STUB_SAVE_CHECKPOINT), only=["save_checkpoint", "load_checkpoint"])
    assert r.status("save_checkpoint") == "not_attempted"
    assert r.status("load_checkpoint") == "failed"
    for c in r.checks("load_checkpoint"):
        assert c["message"].startswith("not gradable without `save_checkpoint` (a stub"), c
