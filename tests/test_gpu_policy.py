"""The device policy: one float32 precision policy (no TF32) in every process, workers that see
the grader's GPUs and can initialize CUDA, and device cells that never pass without a device.

On a machine without CUDA the CUDA cells must be reported "skipped: no CUDA device"; with CUDA
the same tests check that they ran and what they found.
"""

import gc
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import ROOT

from grader.kit import cuda_devices
from grader.trusted.compare import CUDA_TOLERANCES, device_tolerance
from grader.trusted.sandbox import Launcher, Limits, choose_level
from grader.trusted.submission import SubmissionClient
from grader.trusted.view import SubmissionView
from grader.trusted.workers import WorkerTemplate
from grader.worker import precision

BUGS = os.path.join(os.path.dirname(__file__), "submissions", "bugs")
HAS_CUDA = torch.cuda.is_available()


@pytest.mark.slow
def test_policy_set_then_both_apis_read_back():
    """After the policy, reading the legacy flags and the new fp32_precision API both work
    (mixing them the other way round makes a legacy read raise in torch 2.13)."""
    code = textwrap.dedent(
        """
        import torch
        from grader.worker import precision
        precision.apply()
        print(torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
        if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
            print(torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
        print(torch.cuda.is_initialized())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0] == "False False highest"
    if len(lines) > 3:
        assert lines[1].split()[0] == "ieee"
    assert lines[-2] == "False"  # setting the policy does not initialize CUDA


@pytest.mark.slow
def test_worker_template_sets_the_policy_and_leaves_cuda_uninitialized():
    z = WorkerTemplate()
    try:
        info = z.ready()
    finally:
        z.close()
    assert info["precision"] == precision.POLICY
    assert info["cuda_initialized"] is False
    # Its imports ran without the GC and were frozen (grader/worker/startup.py): torch and
    # sympy alone make ~300k objects.
    assert info["gc_frozen"] > 100_000


def test_grader_sets_the_policy_in_the_trusted_process(grader_instance):
    assert torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 is False
    # The reference computes with a worker's intra-op threads (float sums round the same way).
    assert torch.get_num_threads() == Limits().threads
    assert gc.isenabled() and gc.get_freeze_count() > 100_000


def test_cuda_tolerances_apply_on_cuda_only():
    assert device_tolerance(torch.float32, "cuda:1") == CUDA_TOLERANCES[torch.float32]
    assert device_tolerance(torch.float32, "cpu") == (1.3e-6, 1e-5)
    assert device_tolerance(torch.float64, "cuda:0") == (1e-7, 1e-7)


def test_no_address_space_limit_for_cuda_workers():
    """CUDA reserves tens of GiB of address space when it starts: under RLIMIT_AS it fails, so a
    CUDA worker's memory limit is on data instead; the other limits stay."""
    plain, cuda = Limits().rlimits(None), Limits().rlimits(None, cuda=True)
    assert "as_extra" in plain and "data_extra" not in plain
    assert "as_extra" not in cuda and cuda["data_extra"] == Limits().memory
    assert {k: v for k, v in cuda.items() if k != "data_extra"} == {k: v for k, v in plain.items() if k != "as_extra"}


def test_gpu_selection_reaches_the_worker_and_nothing_else_does(tmp_path, monkeypatch):
    (tmp_path / "solution.py").write_text("import os\n\ndef env_probe(key):\n    return os.environ.get(key)\n")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("GRADER_TEST_SECRET", "s3cret")
    template = WorkerTemplate()  # reads the environment now
    launcher = Launcher(template, choose_level(), Limits())
    client = SubmissionClient(tmp_path, {"env_probe": ["key"]}, launcher.spawn)
    try:
        view = SubmissionView(client)
        assert view.call("env_probe", key="CUDA_VISIBLE_DEVICES").value == ""
        assert view.call("env_probe", key="GRADER_TEST_SECRET").value is None
        assert view.call("env_probe", key="PYTORCH_NVML_BASED_CUDA_CHECK").value is None
    finally:
        client.close()
        launcher.close()
        template.close()


def test_cuda_devices_helper_reads_the_run(tmp_path):
    class Ctx:
        cuda_devices = ["cuda:0", "cuda:1"]

    class Plugin:
        ctx = Ctx()

    class PM:
        def get_plugins(self):
            return [object(), Plugin()]

    class Request:
        class config:
            pluginmanager = PM()

    assert cuda_devices(Request()) == ["cuda:0", "cuda:1"]
    Request.config.pluginmanager = type("Empty", (), {"get_plugins": lambda self: []})()
    assert cuda_devices(Request()) == []


GPU_HOOKS = [
    "try_gpu",
    "try_all_gpus",
    "load_params_to",
    "time_matmul",
    "frobenius_log",
    "two_gpu_matmul",
    "save_params",
    "load_params",
]


def test_gpu_cells_never_pass_without_a_gpu(grade):
    r = grade(ROOT / "reference", only=GPU_HOOKS)
    cuda = [d for d in r["devices"] if d.startswith("cuda")]
    for check in r.checks():
        if check["status"] == "skipped" and check["message"] == "not selected in this run":
            continue
        cell = check.get("device") or ""
        if cell.startswith("cuda") and not cuda:
            assert (check["status"], check["message"]) == ("skipped", "no CUDA device"), check
        if check["id"] == "two_gpu_matmul/timings" and len(cuda) < 2:
            assert (check["status"], check["message"]) == ("skipped", "not gradable here: needs two CUDA devices")
        if check["id"].startswith("frobenius_log/timing_ratio[cuda:"):
            assert check["status"] == "skipped" and check["message"].startswith("informational, not graded"), check
    assert r.score == r.max_score > 0
    assert r.status("two_gpu_matmul") == ("skipped" if len(cuda) < 2 else "passed")


def test_a_constant_made_on_the_cpu_in_forward_fails_on_cuda_only(grade):
    """`torch.ones(20)` inside forward: what the module computes on a GPU, so only a GPU shows it.
    Every CPU cell and every device-free check passes; each CUDA cell is skipped without a GPU
    and, with one, fails naming the tensor and the device it was made on."""
    r = grade(os.path.join(BUGS, "fixed_hidden_mlp_tensor_in_forward"), only=["fixed_hidden_mlp"])
    for c in r.checks("fixed_hidden_mlp"):
        if not (c.get("device") or "").startswith("cuda"):
            assert c["status"] == "passed", c
        elif not HAS_CUDA:
            assert (c["status"], c["message"]) == ("skipped", "no CUDA device"), c
        else:
            assert c["status"] == "failed" and "torch.ones(20)" in c["message"] and "cpu" in c["message"], c


def test_a_plain_attribute_costs_the_same_with_or_without_a_gpu(grade):
    """The book's `rand_weight` kept as a plain attribute fails the device-free structure check on
    every machine; on a GPU the worker moves it along, so the CUDA cells judge only what the
    module computes there, and pass."""
    r = grade(os.path.join(BUGS, "fixed_hidden_mlp_plain_rand_weight"), only=["fixed_hidden_mlp"])
    assert r.failed("fixed_hidden_mlp") == {"fixed_hidden_mlp/structure"}, r.messages()
    for c in r.checks("fixed_hidden_mlp"):
        if (c.get("device") or "").startswith("cuda"):
            assert c["status"] == ("passed" if HAS_CUDA else "skipped"), c
