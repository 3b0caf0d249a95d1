"""Tampering with the worker's probe code is detected, not just made harder: the seal
(``grader/worker/seal.py``) names every kind of change, and its report cannot be turned into an
answer; a worker leaves nothing of the probe code reachable by name; the trusted side's scan of
the source (``grader/trusted/scan.py``) flags reaching for the grader's internals; and the flags
reach the instructor's reports only."""

from __future__ import annotations

import builtins
import os
import socket
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

import grader.worker.ops_files  # noqa: F401  the probe modules a worker has loaded
import grader.worker.ops_gpu  # noqa: F401
import grader.worker.ops_params  # noqa: F401
from grader.reports import ReportOptions, markdown, text
from grader.trusted import scan
from grader.trusted.sandbox import Limits, choose_level
from grader.trusted.sandbox.launcher import Launcher
from grader.trusted.submission import SubmissionClient
from grader.trusted.view import SubmissionView
from grader.trusted.workers import WorkerTemplate
from grader.worker import arch, observe, seal, serve, wire

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sealed():
    records = seal.take()
    assert seal.broken(records) == []
    return records


def replaced_code():
    return None


TAMPERING = {
    "a probe function replaced": (lambda mp: mp.setattr(observe, "summarize", lambda *a, **k: {}), "observe.summarize"),
    "a probe function's code swapped": (
        lambda mp: mp.setattr(observe.list_facts, "__code__", replaced_code.__code__),
        "observe.list_facts",
    ),
    "a method replaced": (lambda mp: mp.setattr(serve.Session, "_run", lambda *a: {}), "Session._run"),
    "a default argument changed": (
        lambda mp: mp.setattr(observe.summarize, "__defaults__", (None, True)),
        "observe.summarize",
    ),
    "a closure cell changed": (
        lambda mp: mp.setattr(arch.seeded.__closure__[0], "cell_contents", replaced_code),
        "arch.seeded (closure 0)",
    ),
    "a builtin the probe code calls": (
        lambda mp: mp.setattr(builtins, "isinstance", lambda obj, cls: True),
        "builtins.isinstance",
    ),
    "a builtin shadowed in a probe namespace": (
        lambda mp: mp.setattr(observe, "id", lambda x: 0, raising=False),
        "observe",
    ),
    "a library attribute the probe code calls": (
        lambda mp: mp.setattr(torch, "no_grad", lambda: None),
        "torch.no_grad",
    ),
    "a tensor attribute shadowed": (
        lambda mp: mp.setattr(torch.Tensor, "detach", lambda self: self, raising=False),
        "torch.Tensor.detach",
    ),
    "a tensor attribute shadowed in a subclass": (
        lambda mp: mp.setattr(nn.Parameter, "detach", lambda self: self, raising=False),
        "torch.nn.parameter.Parameter.detach",
    ),
    "the operation table": (
        lambda mp: mp.setitem(serve.OPERATIONS, "net_apply", replaced_code),
        "serve.OPERATIONS['net_apply']",
    ),
    "the seal's own check": (lambda mp: mp.setattr(seal, "_same", lambda a, b: True), "seal._same"),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_every_kind_of_change_is_named(sealed, monkeypatch, how):
    change, label = TAMPERING[how]
    with monkeypatch.context() as mp:
        change(mp)
        assert label in seal.broken(sealed)
    assert seal.broken(sealed) == []


def test_a_tensor_class_given_other_bases_is_detected(monkeypatch):
    """Attribute lookup on the tensor classes is sealed as their MROs and their dicts' entries:
    new bases change what a lookup finds without touching any of those dicts."""

    class Base:
        def detach(self):
            return self

    class Other:
        def detach(self):
            return None

    class Tensorish(Base):
        pass

    monkeypatch.setattr(seal, "TENSOR_CLASSES", (Tensorish,))
    records = seal.take()
    assert seal.broken(records) == []
    Tensorish.__bases__ = (Other,)
    assert f"{Tensorish.__module__}.{Tensorish.__qualname__}.__mro__" in seal.broken(records)
    Tensorish.__bases__ = (Base,)
    Base.detach = lambda self: 0
    assert f"{Base.__module__}.{Base.__qualname__}.detach" in seal.broken(records)


def test_code_that_runs_in_the_middle_of_the_probe_code_is_detected(sealed):
    label = "a trace, profile or gc callback, or a torch function or dispatch mode"
    previous = sys.gettrace()
    sys.settrace(lambda *a: None)
    try:
        assert label in seal.broken(sealed)
    finally:
        sys.settrace(previous)
    with TorchFunctionMode():
        assert label in seal.broken(sealed)
    import gc

    gc.callbacks.append(lambda *a: None)
    try:
        assert label in seal.broken(sealed)
    finally:
        gc.callbacks.pop()
    assert seal.broken(sealed) == []


def test_ordinary_work_changes_nothing(sealed, monkeypatch):
    """What a submission does for its own reasons is not tampering."""
    net = nn.Sequential(nn.Linear(3, 4), nn.LazyLinear(2))
    net(torch.randn(5, 3)).sum().backward()
    observe.summarize(net)
    torch.manual_seed(0)
    monkeypatch.setattr(sys, "path", [*sys.path, "/nowhere"])
    monkeypatch.setattr(builtins, "print", lambda *a, **k: None)
    monkeypatch.setattr(nn.Module, "helper", lambda self: 1, raising=False)  # a convenience of its own
    # torch._dynamo, imported by the first optimizer in a worker forked before the template's
    # late imports, rebinds torch.manual_seed: the probe code never looks it up.
    monkeypatch.setattr(torch, "manual_seed", lambda seed: None)
    assert seal.broken(sealed) == []


def test_the_report_is_a_frame_and_the_end(tmp_path):
    """``tell`` writes one frame of the wire format, then ends the process, whatever ``wire`` has
    become."""
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child ends in tell
        parent.close()
        wire.send = lambda *a, **k: None  # a replaced send changes nothing
        seal.tell(child, {"ok": False, "kind": "tampered", "what": ["observe.summarize", 'a "quoted" name']})
        os._exit(0)
    child.close()
    body, blob = wire.recv(parent, deadline=None)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 70
    assert body == {"ok": False, "kind": "tampered", "what": ["observe.summarize", 'a "quoted" name']} and blob == b""


def test_nothing_of_the_probe_code_is_reachable_by_name(tmp_path):
    (tmp_path / "solution.py").write_text(
        textwrap.dedent(
            """
            import sys

            def names():
                def ours(v):
                    return "_grader_worker" in f"{getattr(v, '__module__', '')} {getattr(v, '__name__', '')}"

                reachable = [n for n in sys.modules if n.startswith(("_grader_worker", "grader."))]
                reachable += [k for k, v in vars(sys.modules["__main__"]).items() if ours(v)]
                reachable += [k for k, v in vars(sys.modules["grader"]).items() if ours(v)]
                return sorted(reachable)
            """
        )
    )
    template = WorkerTemplate()
    launcher = Launcher(template, choose_level(), Limits())
    client = SubmissionClient(tmp_path, {"names": []}, launcher.spawn)
    try:
        assert SubmissionView(client).call("names").value == []
    finally:
        client.close()
        launcher.close()
        template.close()


# -- the scan of the source ------------------------------------------------------------------------

SOURCES = {
    "import sys\nsys.modules['_grader_worker.observe'].summarize = None\n": {
        "uses `sys.modules`",
        "names the grader's own code",
    },
    "from sys import modules\n": {"uses `sys.modules`"},
    "import sys as s\nf = s._getframe(1)\nf.f_back\n": {"walks stack frames"},
    "import inspect\ninspect.stack()\n": {"walks stack frames"},
    "import gc\nfor o in gc.get_objects(): pass\n": {"walks the garbage collector's objects"},
    "from gc import get_referrers\n": {"walks the garbage collector's objects"},
    "def f(): pass\nf.__code__ = (lambda: 1).__code__\n": {"rewrites a function's code or closure"},
    "import builtins\nbuiltins.id = len\n": {"changes builtins"},
    "import sys\nsys.settrace(None)\n": {
        "installs a trace, profile or audit hook, or a torch function or dispatch mode"
    },
    "import ctypes\n": {"uses ctypes (raw memory access)"},
    "exec(bytes.fromhex('00').decode())\n": {"runs code built at run time, which this scan cannot read"},
    "import torch\nfrom torch import nn\nnet = nn.Linear(2, 2)\nnet.eval()\nexec('x = 1')\n": set(),
}


@pytest.mark.parametrize("source", list(SOURCES), ids=range(len(SOURCES)))
def test_the_scan_flags_what_a_source_reaches_for(tmp_path, source):
    (tmp_path / "solution.py").write_text(source)
    assert {f["what"] for f in scan.flags(tmp_path)} == SOURCES[source]


@pytest.mark.parametrize(
    "path",
    [
        "reference",
        "examples/submission",
        *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests/submissions/correct").iterdir()),
    ],
)
def test_correct_work_is_not_flagged(path):
    assert scan.flags(ROOT / path) == []


@pytest.mark.slow
def test_the_scan_is_bounded(tmp_path):
    (tmp_path / "broken.py").write_text("def (:\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.py").write_text("import ctypes\n")
    for i in range(scan.MAX_FILES + 5):
        (tmp_path / f"m{i:03}.py").write_text("import ctypes\n")
    found = scan.flags(tmp_path)
    assert len(found) == scan.MAX_FLAGS and all(f["file"].startswith("m") for f in found)
    big = tmp_path / "big"
    big.mkdir()
    for i in range(6):
        (big / f"a{i}.py").write_text("import ctypes\n" + "x = 1\n" * (scan.MAX_SOURCE // 7))
    assert [f["file"] for f in scan.flags(big)] == ["a0.py", "a1.py", "a2.py", "a3.py"]  # MAX_TOTAL


# -- the instructor's reports -----------------------------------------------------------------------


def flagged_result() -> dict:
    return {
        "submission": "s",
        "score": 0.0,
        "max_score": 1.0,
        "seed": 1,
        "devices": ["cpu"],
        "sandbox": {"level": "bwrap", "details": ""},
        "versions": {"grader": "0"},
        "warnings": [],
        "hooks": {},
        "integrity": [
            {
                "source": "source",
                "file": "bad\x1b[2J\nname.py",
                "line": 3,
                "what": "walks stack frames",
                "code": ".f_back",
            },
            {
                "source": "worker",
                "what": "changed the grader's own code in the worker",
                "during": "`mlp`",
                "changed": ["observe.summarize"],
            },
        ],
    }


@pytest.mark.parametrize("render", [text.render, markdown.render])
def test_integrity_flags_are_for_the_instructor_only(render):
    result = flagged_result()
    assert "Integrity" not in render(result, ReportOptions())
    shown = render(result, ReportOptions(audience="instructor"))
    assert "walks stack frames" in shown and "observe.summarize" in shown
    assert "\x1b" not in shown and "bad\\x1b[2J\\nname.py" in shown
