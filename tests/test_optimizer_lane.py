"""The grading process never builds a torch.optim optimizer, and the checks marked ``optimizer``
run in a worker of their own, forked after the template's late imports.

Why: the first optimizer a process builds imports torch._dynamo (~1 s of CPU). The grading
process trains its expected values with ``kit.FunctionalSGD`` (and the reference writes SGD's
step out), which must be bitwise torch.optim.SGD; the template imports torch._dynamo only on
``WorkerTemplate.warm``, while the other checks run (benchmarks/README.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from grader.kit import FunctionalSGD, arch
from grader.reference import parameters as reference_parameters
from grader.testing import Graded
from grader.trusted.sandbox import Launcher, Limits, choose_level
from grader.trusted.submission import SubmissionClient
from grader.trusted.view import SECOND, SubmissionView
from grader.trusted.workers import WorkerTemplate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _net(seed: int, width: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, width), nn.Tanh(), nn.Linear(width, 2))


def _params(net: nn.Module, twice: bool) -> list[nn.Parameter]:
    ps = list(net.parameters())
    return ps + ps[:1] if twice else ps  # a parameter listed twice is stepped twice


@pytest.mark.filterwarnings("ignore:optimizer contains a parameter group with duplicate parameters")
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    width=st.integers(1, 6),
    lr=st.floats(1e-4, 1.0),
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    steps=st.integers(1, 4),
    twice=st.booleans(),
    zero_grad=st.booleans(),
)
def test_functional_sgd_is_torch_sgd_bitwise(seed, width, lr, momentum, steps, twice, zero_grad):
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(8, 3, generator=g), torch.randn(8, 2, generator=g)
    ours, theirs = _net(seed, width), _net(seed, width)
    opt_ours = FunctionalSGD(_params(ours, twice), lr=lr, momentum=momentum)
    opt_theirs = torch.optim.SGD(_params(theirs, twice), lr=lr, momentum=momentum)
    for net, opt in ((ours, opt_ours), (theirs, opt_theirs)):
        for _ in range(steps):
            if zero_grad:
                opt.zero_grad()
            nn.MSELoss()(net(X), y).backward()
            opt.step()
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.equal(a, b), name
        if momentum:
            assert torch.equal(opt_ours.state[a]["momentum_buffer"], opt_theirs.state[b]["momentum_buffer"]), name


def test_functional_sgd_runs_the_workers_training_loop():
    """The checkpoint check trains its expected values with the worker's own training loop
    (``arch.resume_sgd``, ``arch.train_mse``)."""
    ours, theirs = _net(1, 4), _net(1, 4)
    X, y = torch.randn(8, 3), torch.randn(8, 2)
    hyper = {"lr": 0.05, "momentum": 0.9}
    arch.train_mse(ours, arch.resume_sgd(ours, hyper, FunctionalSGD), X, y, 3)
    arch.train_mse(theirs, arch.resume_sgd(theirs, hyper), X, y, 3)
    assert isinstance(arch.resume_sgd(theirs, hyper), torch.optim.SGD)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))


def test_reference_training_is_torch_sgd_bitwise():
    def shared() -> nn.Module:
        torch.manual_seed(3)
        return reference_parameters.shared_mlp()

    X, y = torch.randn(16, 4), torch.randn(16, 1)
    ours, theirs = shared(), shared()
    losses = reference_parameters.train_shared_mlp(ours, X, y, steps=5, lr=0.2)
    opt = torch.optim.SGD(theirs.parameters(), lr=0.2)
    expected = []
    for _ in range(5):
        opt.zero_grad()
        loss = nn.MSELoss()(theirs(X), y)
        expected.append(loss.item())
        loss.backward()
        opt.step()
    assert losses == expected
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))
    assert ours[2] is ours[4]


@pytest.mark.slow
def test_the_grading_process_never_imports_torch_dynamo():
    """A whole run of the chapter, marked checks included, in a fresh process."""
    code = textwrap.dedent(
        """
        import sys
        from grader.trusted.grading import Grader
        from grader.trusted.settings import Settings
        g = Grader(Settings(seed=7))
        r = g.grade("reference", seed=7)
        g.close()
        print(r["score"] == r["max_score"] > 0, "torch._dynamo" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["True", "False"]


PROBE = """\
import os
import sys

WORKER = os.urandom(8).hex()  # each worker imports this module once (pids repeat across PID namespaces)


def probe():
    return [WORKER, "torch._dynamo" in sys.modules]


def trains():
    import torch

    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([p], lr=0.5, momentum=0.9)
    p.sum().backward()
    opt.step()
    return [WORKER, p.tolist()]
"""


@pytest.mark.slow
def test_marked_checks_get_a_worker_of_their_own_forked_after_the_late_imports(tmp_path):
    (tmp_path / "solution.py").write_text(PROBE)
    template = WorkerTemplate()
    client = SubmissionClient(tmp_path, {"probe": [], "trains": []}, Launcher(template, choose_level(), Limits()).spawn)
    try:
        view = SubmissionView(client)
        main_worker, main_dynamo = view.call("probe", cache=False).value
        assert main_dynamo is False  # the template's ready state: torch, not torch._dynamo
        template.warm()
        with view.lane(SECOND):
            lane_worker, lane_dynamo = view.call("probe", cache=False).value
            assert view.call("probe", cache=False).value[0] == lane_worker  # the lane keeps its worker
        assert lane_dynamo is True and lane_worker != main_worker
        # ``sub.second()`` is that same worker (closing the view leaves it running); a fresh
        # view is another process each time.
        second = view.second()
        assert second.call("probe").value == [lane_worker, True]
        second.close()
        assert view.second().call("probe").value[0] == lane_worker
        fresh = view.fresh()
        assert fresh.call("probe").value[0] not in (main_worker, lane_worker)
        fresh.close()
        assert view.call("probe", cache=False).value == [main_worker, False]  # the main worker is untouched
        # Unmarked code that builds an optimizer still works, confined: its worker imports
        # torch._dynamo itself.
        assert view.call("trains").value == [main_worker, [0.5, 0.5]]
        assert view.call("probe", cache=False).value == [main_worker, True]
        assert client.workers_started == 3
    finally:
        client.close()
        template.close()


def test_marked_checks_run_last_and_results_keep_every_check(grade):
    """The marked checks of train_shared_mlp and load_checkpoint ran (in their lane) and are
    reported with the others, by id."""
    r: Graded = grade(os.path.join(ROOT, "reference"), only=["list_sequential", "train_shared_mlp", "load_checkpoint"])
    ids = {h: [c["id"] for c in r.checks(h)] for h in ("list_sequential", "train_shared_mlp", "load_checkpoint")}
    assert ids == {
        "list_sequential": ["list_sequential/forward", "list_sequential/unregistered"],
        "train_shared_mlp": [
            "train_shared_mlp/final_parameters",
            "train_shared_mlp/losses",
            "train_shared_mlp/ties_kept",
        ],
        "load_checkpoint": ["load_checkpoint/epoch", "load_checkpoint/restores"],
    }
    assert all(c["status"] == "passed" for h in ids for c in r.checks(h))
    # The main worker, the second, and a fresh one where load_checkpoint reads the checkpoint
    # (nothing of the save ran there).
    assert r["stats"]["workers_started"] == 3


def test_reloads_share_the_second_worker_with_the_marked_checks(grade):
    """load_model_file's two round trips and the optimizer checks take one worker besides the
    main one (a submission costs two workers, not four); the reloads still never see what the
    save left in memory (``bugs/load_model_file_from_memory`` fails them)."""
    r: Graded = grade(os.path.join(ROOT, "reference"), only=["save_model_file", "load_model_file", "train_shared_mlp"])
    assert all(
        c["status"] == "passed" for h in ("save_model_file", "load_model_file", "train_shared_mlp") for c in r.checks(h)
    )
    assert [c["id"] for c in r.checks("load_model_file")] == [
        "load_model_file/round_trip[fixed_hidden_mlp]",
        "load_model_file/round_trip[mlp]",
    ]
    assert r["stats"]["workers_started"] == 2
