"""File I/O checks that need a second hook are skipped with a reason when it is missing, never
passed and never failed: the submission's own modules or its own file are what they grade."""

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
    assert r.status("save_model_file") == r.status("load_model_file") == "skipped"
    assert r.check("save_model_file/file_written")["message"].startswith(
        "not gradable without mlp and fixed_hidden_mlp"
    )
    assert r.check("load_model_file/round_trip[mlp]")["message"].startswith("not gradable without `mlp`")
    assert r.score == r.max_score == 0


def test_checkpoint_without_its_loader(grade, tmp_path):
    r = grade(write(tmp_path, STATE_DICT_PAIR), only=["save_checkpoint", "load_checkpoint"])
    assert r.check("save_checkpoint/resume")["status"] == "skipped"
    assert "not gradable without load_checkpoint" in r.check("save_checkpoint/resume")["message"]
    assert r.status("load_checkpoint") == "not_attempted"


def test_own_file_round_trip_without_save_params(grade, tmp_path):
    r = grade(write(tmp_path, LOAD_PARAMS_ONLY), only=["load_params"])
    assert r.check("load_params/own_file[cpu]")["message"].startswith("not gradable without save_params")
    assert r.check("load_params/grader_file[cpu]")["status"] == "passed"
    assert r.check("load_params/ties_survive[cpu]")["status"] == "passed"
    assert r.status("load_params") == "passed"
